/**
 * The RTP socket is connect()ed to the far end once its source is latched (cheaper sends).
 * What must still hold: symmetric RTP learning before latching, strangers kept out, a
 * re-INVITE moving the far end to a new port, and a far end that closes its port.
 */
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Logger } from "../../src/log/logger.js";
import { memoryLogger, silentLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { encodeMulaw } from "../../src/media/g711.js";
import { encodeRtp } from "../../src/media/rtp-packet.js";
import { goertzel, makeTone, readWav, rms } from "./tone.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let dir = "";

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cuffia-connect-"));
  makeTone(join(dir, "440.wav"), 440, 8000, 2);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function session(name: string, portMin: number, log: Logger = silentLogger) {
  return createMediaFactory({
    audio: {
      source: { type: "file", path: join(dir, "440.wav"), loop: true },
      sink: { type: "file", path: join(dir, `${name}-{call}.wav`) },
    },
    rtp: { address: "127.0.0.1", portMin, portMax: portMin + 10, codecs: ["PCMU"] },
    log,
    rtcpIntervalMs: 60_000,
  }).create({ callId: name });
}

const sdp = (port: number, version: number, address = "127.0.0.1") =>
  `v=0\r\no=- 1 ${version} IN IP4 ${address}\r\ns=-\r\nc=IN IP4 ${address}\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\n`;

interface Peer {
  readonly sock: Socket;
  readonly port: number;
  /** Sequence numbers of our packets that reached this peer. */
  readonly got: number[];
  /** Sends a 20 ms PCMU frame of a `freq` Hz tone every 20 ms to `to` until stopped. */
  talk(to: number, freq: number, ssrc: number): () => void;
}

async function peer(port: number, address = "127.0.0.1"): Promise<Peer> {
  const sock = createSocket("udp4");
  await new Promise<void>((r) => sock.bind(port, address, () => r()));
  const got: number[] = [];
  sock.on("message", (m) => got.push(m.readUInt16BE(2)));
  return {
    sock,
    port,
    got,
    talk(to, freq, ssrc) {
      let n = 0;
      const pcm = new Int16Array(160);
      const timer = setInterval(() => {
        for (let i = 0; i < 160; i++)
          pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * freq * (n * 160 + i)) / 8000));
        const pkt = encodeRtp({
          payloadType: 0,
          marker: n === 0,
          sequence: n,
          timestamp: n * 160,
          ssrc,
          payload: encodeMulaw(pcm),
        });
        n++;
        sock.send(pkt, to, "127.0.0.1");
      }, 20);
      return () => clearInterval(timer);
    },
  };
}

describe("RTP socket connected to the latched far end", () => {
  it("a re-INVITE to a new remote port after connect still carries audio both ways", async () => {
    const { log, lines } = memoryLogger("debug");
    const a = await session("move", 31400, log);
    const p1 = await peer(31420);
    const p2 = await peer(31422);
    try {
      a.answer(sdp(p1.port, 1), { hold: false });
      const stop1 = p1.talk(a.localPort, 1000, 1);
      await sleep(500);
      expect(a.details().packetsReceived).toBeGreaterThan(15);
      expect(p1.got.length).toBeGreaterThan(15);
      stop1();
      p1.sock.close(); // the old port goes away: a connected socket hears ICMP port unreachable
      await sleep(200);

      // re-INVITE: the far end now receives and sends on another port.
      a.answer(sdp(p2.port, 2), { hold: false });
      const gotAtMove = p2.got.length;
      const receivedAtMove = a.details().packetsReceived;
      const stop2 = p2.talk(a.localPort, 1000, 2);
      await sleep(800);
      stop2();
      const d = a.details();
      await a.close();

      // Our packets reach the new port, in sequence; the far end's reach us and are played.
      expect(p2.got.length - gotAtMove).toBeGreaterThan(30);
      const moved = p2.got.slice(gotAtMove);
      for (let i = 1; i < moved.length; i++) expect(((moved[i] ?? 0) - (moved[i - 1] ?? 0)) & 0xffff).toBe(1);
      expect(d.packetsReceived - receivedAtMove).toBeGreaterThan(30);
      expect(d.packetsRejected).toBe(0);
      const rec = readWav(join(dir, "move-move.wav")).samples;
      const tail = rec.subarray(rec.length - 8000 * 0.5, rec.length - 8000 * 0.1); // from p2
      expect(rms(tail)).toBeGreaterThan(2000);
      expect(goertzel(tail, 8000, 1000)).toBeGreaterThan(20 * goertzel(tail, 8000, 440));
      // The closed old port was noticed quietly, not warned about on every packet.
      expect(lines.filter((l) => l["level"] === "warn" || l["level"] === "error")).toEqual([]);
      expect(lines.some((l) => l["msg"] === "media negotiated")).toBe(true); // the log was captured
    } finally {
      p2.sock.close();
    }
  });

  it("a stranger: rejected and counted before latching, never heard after the connect", async () => {
    const a = await session("stranger", 31440);
    const far = await peer(31460);
    // Another address (loopback covers 127/8), so it is no NAT-like candidate for learning.
    const stranger = await peer(0, "127.0.0.2");
    try {
      a.answer(sdp(far.port, 1), { hold: false });
      await sleep(100);
      const noise = new Uint8Array(160).fill(0x10);
      const strangerBurst = (ssrc: number) => {
        for (let i = 0; i < 10; i++) {
          stranger.sock.send(
            encodeRtp({
              payloadType: 0,
              marker: false,
              sequence: i,
              timestamp: i * 160,
              ssrc,
              payload: noise,
            }),
            a.localPort,
            "127.0.0.1",
          );
        }
      };
      strangerBurst(77); // before the far end spoke: the filter sees and rejects them
      await sleep(100);
      expect(a.details().packetsRejected).toBe(10);
      expect(a.details().packetsReceived).toBe(0);

      const stop = far.talk(a.localPort, 1000, 5);
      await sleep(400);
      strangerBurst(78); // after latching (and the connect): dropped by the kernel
      await sleep(400);
      stop();
      await sleep(60);
      const d = a.details();
      await a.close();
      const farSent = 40; // at least; about 40 in 800 ms
      expect(d.packetsRejected).toBe(10);
      expect(d.packetsReceived).toBeGreaterThan(farSent - 10);
      expect(d.packetsLost).toBe(0); // the stranger's SSRC never reset the far end's statistics
      // Nothing of the stranger's (a constant, loud 0x10) in what was played out.
      const rec = readWav(join(dir, "stranger-stranger.wav")).samples;
      const talk = rec.subarray(Math.round(0.35 * 8000), Math.round(0.85 * 8000));
      expect(goertzel(talk, 8000, 1000)).toBeGreaterThan(20 * goertzel(talk, 8000, 440));
      const mean = talk.reduce((s, v) => s + v, 0) / talk.length;
      expect(Math.abs(mean)).toBeLessThan(200); // a tone, no constant offset mixed in
      expect(rms(talk)).toBeGreaterThan(2000);
      expect(far.got.length).toBeGreaterThan(30);
    } finally {
      far.sock.close();
      stranger.sock.close();
    }
  });
});
