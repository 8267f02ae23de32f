/**
 * The floor under the daemon's CPU per call-minute on this machine: a Node process that does what
 * any 20 ms packet loop must (one timer, one 172-byte UDP send and one receive per 20 ms, with
 * the daemon's node flags) and nothing else, fed by a second Node process on loopback. Measured
 * in the same run as the calls, so the encrypted-call table can say how much of the daemon's CPU
 * is Node waking up 100 times a second, and how much is the media code on top.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pause, spawnLogged, stopProcess } from "../lab/proc.js";
import { contextSwitches, cpuMs, shebangFlags } from "./sip-answer.js";

const LOOP = `
import dgram from "node:dgram";
const sock = dgram.createSocket("udp4");
let peer = 0, seq = 0;
sock.on("message", (_m, r) => { peer = r.port; });
sock.bind(Number(process.argv[2]), "127.0.0.1", () => {
  const start = performance.now();
  let n = 0;
  const tick = () => {
    n++;
    const p = Buffer.allocUnsafe(172);
    p[0] = 0x80;
    p.writeUInt16BE(seq++ & 0xffff, 2);
    if (peer) sock.send(p, peer, "127.0.0.1");
    setTimeout(tick, start + (n + 1) * 20 - performance.now());
  };
  setTimeout(tick, 20);
});
`;

const PEER = `
import dgram from "node:dgram";
const sock = dgram.createSocket("udp4");
const to = Number(process.argv[2]);
sock.bind(0, "127.0.0.1", () => {
  const start = performance.now();
  let n = 0;
  const tick = () => {
    n++;
    sock.send(Buffer.alloc(172, 0x80), to, "127.0.0.1");
    setTimeout(tick, start + (n + 1) * 20 - performance.now());
  };
  tick();
});
`;

export interface NodeFloor {
  readonly cpuMsPerMinute: number;
  readonly switchesPerSecond: number;
}

/** The floor loop's CPU per minute and context switches per second over `seconds`. */
export async function measureNodeFloor(dir: string, port: number, seconds: number): Promise<NodeFloor> {
  const loopFile = join(dir, "floor-loop.mjs");
  const peerFile = join(dir, "floor-peer.mjs");
  await writeFile(loopFile, LOOP);
  await writeFile(peerFile, PEER);
  const loop = spawnLogged(
    process.execPath,
    [...shebangFlags(), loopFile, String(port)],
    join(dir, "floor.log"),
  );
  const peer = spawnLogged(process.execPath, [peerFile, String(port)], join(dir, "floor-peer.log"));
  try {
    await pause(2000);
    const a = { ms: await cpuMs(loop.pid), cs: await contextSwitches(loop.pid), t: performance.now() };
    await pause(seconds * 1000);
    const b = { ms: await cpuMs(loop.pid), cs: await contextSwitches(loop.pid), t: performance.now() };
    return {
      cpuMsPerMinute: (b.ms - a.ms) / ((b.t - a.t) / 60_000),
      switchesPerSecond: (b.cs - a.cs) / ((b.t - a.t) / 1000),
    };
  } finally {
    await stopProcess(peer);
    await stopProcess(loop);
  }
}
