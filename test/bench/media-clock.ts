/**
 * RTP timing benchmark: one RtpMediaSession (PCMU, file source, no sink) talking to a far end
 * in a separate Node process, which timestamps every packet on arrival (so our own event loop
 * does not colour the measurement) and sends 20 ms packets back (so the session also decodes
 * and runs its jitter buffer). Prints the outbound send-gap mean/sd/p99 and the session
 * process's CPU time per call-minute.
 *
 * Run: `npx vitest run test/bench/media-clock.bench.test.ts` (or import main()). MEDIA_BENCH_SECONDS
 * shortens the run.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";

export interface ClockFigures {
  readonly seconds: number;
  readonly packets: number;
  readonly gapMeanMs: number;
  readonly gapSdMs: number;
  readonly gapP99Ms: number;
  readonly gapMaxMs: number;
  readonly cpuMsPerCallMinute: number;
  readonly cpuPercentOfCore: number;
}

// The far end: records arrival times (hrtime, ms) of RTP packets and answers with PCMU.
const FAR_END = `
const dgram = require("node:dgram");
const [port, target] = process.argv.slice(1).map(Number);
const s = dgram.createSocket("udp4");
const times = [];
s.on("message", (m) => { if ((m[1] & 0x7f) === 0) times.push(Number(process.hrtime.bigint()) / 1e6); });
let seq = 0, ts = 0;
s.bind(port, "127.0.0.1", () => {
  process.send("ready");
  const payload = Buffer.alloc(160, 0xff);
  setInterval(() => {
    const b = Buffer.alloc(172);
    b[0] = 0x80; b[1] = 0; b.writeUInt16BE(seq++ & 0xffff, 2); b.writeUInt32BE(ts >>> 0, 4); b.writeUInt32BE(7, 8);
    payload.copy(b, 12); ts += 160;
    s.send(b, target, "127.0.0.1");
  }, 20);
});
process.on("message", (m) => { if (m === "done") { process.send(JSON.stringify(times)); s.close(); process.exit(0); } });
`;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

export async function measureClock(seconds: number): Promise<ClockFigures> {
  const dir = mkdtempSync(join(tmpdir(), "cuffia-bench-"));
  let child: ChildProcess | null = null;
  try {
    execFileSync("sox", [
      "-n",
      "-r",
      "8000",
      "-c",
      "1",
      "-b",
      "16",
      join(dir, "t.wav"),
      "synth",
      "5",
      "sine",
      "440",
    ]);
    const factory = createMediaFactory({
      audio: { source: { type: "file", path: join(dir, "t.wav"), loop: true }, sink: { type: "none" } },
      rtp: { address: "127.0.0.1", portMin: 32000, portMax: 32100, codecs: ["PCMU"] },
      log: silentLogger,
    });
    const session = await factory.create({ callId: "bench" });
    const farPort = 32200;
    const proc = spawn(process.execPath, ["-e", FAR_END, String(farPort), String(session.localPort)], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    child = proc;
    await new Promise<void>((resolve) => proc.once("message", () => resolve()));
    session.answer(
      `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${farPort} RTP/AVP 0\r\n`,
      { hold: false },
    );
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const cpu = process.cpuUsage(cpu0);
    const elapsed = performance.now() - t0;
    await session.close();
    const times = await new Promise<number[]>((resolve) => {
      proc.once("message", (m) => resolve(JSON.parse(String(m)) as number[]));
      proc.send("done");
    });
    // Skip the first second (JIT warm-up, audio file opening).
    const warm = times.slice(50);
    const gaps: number[] = [];
    for (let i = 1; i < warm.length; i++) gaps.push((warm[i] ?? 0) - (warm[i - 1] ?? 0));
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    const sd = Math.sqrt(gaps.reduce((a, b) => a + (b - mean) ** 2, 0) / gaps.length);
    const sorted = [...gaps].sort((a, b) => a - b);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    return {
      seconds: elapsed / 1000,
      packets: times.length,
      gapMeanMs: mean,
      gapSdMs: sd,
      gapP99Ms: percentile(sorted, 0.99),
      gapMaxMs: sorted[sorted.length - 1] ?? Number.NaN,
      cpuMsPerCallMinute: (cpuMs / elapsed) * 60_000,
      cpuPercentOfCore: (cpuMs / elapsed) * 100,
    };
  } finally {
    if (child && child.exitCode === null) child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function main(write: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const seconds = Number(process.env.MEDIA_BENCH_SECONDS ?? 30);
  const f = await measureClock(seconds);
  const n = (v: number, d = 2) => v.toFixed(d);
  write(
    [
      `media clock: one PCMU session, ${n(f.seconds, 1)} s, ${f.packets} packets received by the far end`,
      `  outbound send gap: mean ${n(f.gapMeanMs, 3)} ms, sd ${n(f.gapSdMs, 3)} ms, p99 ${n(f.gapP99Ms)} ms, max ${n(f.gapMaxMs)} ms`,
      `  CPU: ${n(f.cpuMsPerCallMinute, 0)} ms per call-minute (${n(f.cpuPercentOfCore)} % of one core)`,
      "",
    ].join("\n"),
  );
}
