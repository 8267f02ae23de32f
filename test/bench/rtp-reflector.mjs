/**
 * The mouth-to-ear benchmark's instrument (test/bench/mouth-to-ear.ts, "reflected" calls): an RTP
 * peer with no buffering of its own, in a process of its own so that the desk's work in the
 * benchmark's process cannot delay its clock.
 *
 *  - It sends every RTP packet it receives straight back to where it came from (its own SSRC,
 *    the sender's sequence number, timestamp and payload): the desk hears its own microphone,
 *    and the round trip aux0 → aux3 of the bench's recording is the desk's send + receive.
 *  - It timestamps each packet on arrival (CLOCK_MONOTONIC, process.hrtime) with the first
 *    sample of its PCMU payload above the burst threshold (or -1).
 *  - It runs the bench's recorder itself (`parec` of the 4-channel bus, raw to its stdout) and
 *    timestamps every chunk of it on arrival with the same clock: the recording's sample index
 *    is tied to that clock by the lower envelope of (arrival − samples so far / rate), since
 *    no sample reaches it before PulseAudio has rendered it (see mouth-to-ear.ts).
 *
 * argv[2]: JSON { port, parec: string[] (args), record: file, out: file, threshold }.
 * Prints `ready` once bound and recording; on `stop` (a line on stdin) it stops parec by pid,
 * writes { packets: [tNs, rtpTs, k][], chunks: [tNs, bytes][], reflected } to `out` and exits.
 */
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { createWriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";

const cfg = JSON.parse(process.argv[2] ?? "{}");
const threshold = cfg.threshold ?? 4000;
const SSRC = 0x5ef1ec70;

/** ITU-T G.711 μ-law → linear. */
function ulaw(b) {
  const u = ~b & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}
const ULAW = Int16Array.from({ length: 256 }, (_, i) => ulaw(i));

const now = () => Number(process.hrtime.bigint());
const packets = [];
const chunks = [];
let reflected = 0;

const sock = createSocket("udp4");
sock.on("message", (msg, rinfo) => {
  const t = now();
  if (msg.length < 12 || msg[0] >> 6 !== 2) return;
  const out = Buffer.from(msg);
  out.writeUInt32BE(SSRC, 8);
  sock.send(out, rinfo.port, rinfo.address);
  reflected++;
  const cc = msg[0] & 0x0f;
  const start = 12 + 4 * cc;
  const pt = msg[1] & 0x7f;
  let k = -1;
  if (pt === 0) {
    for (let i = start; i < msg.length; i++) {
      if (Math.abs(ULAW[msg[i]]) > threshold) {
        k = i - start;
        break;
      }
    }
  }
  packets.push([t, msg.readUInt32BE(4), k, pt]);
});

await new Promise((resolve, reject) => {
  sock.once("error", reject);
  sock.bind(cfg.port, "127.0.0.1", () => resolve(undefined));
});

const file = createWriteStream(cfg.record);
const rec = spawn("parec", cfg.parec, { stdio: ["ignore", "pipe", "inherit"] });
let bytes = 0;
rec.stdout.on("data", (d) => {
  const t = now();
  bytes += d.length;
  chunks.push([t, bytes]);
  file.write(d);
});
process.stdout.write("ready\n");

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  if (rec.exitCode === null && rec.pid !== undefined) {
    const exited = new Promise((r) => rec.once("exit", r));
    process.kill(rec.pid, "SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    if (rec.exitCode === null) process.kill(rec.pid, "SIGKILL");
  }
  await new Promise((r) => file.end(r));
  sock.close();
  await writeFile(cfg.out, JSON.stringify({ packets, chunks, reflected }));
  process.stdout.write("done\n");
  process.exit(0);
}
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => {
  if (d.includes("stop")) void stop();
});
process.stdin.on("end", () => void stop());
