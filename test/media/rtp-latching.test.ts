/**
 * RTP latching that cannot be hijacked (issue 11 item 4, the "RTP Bleed" class): before the far
 * end's first packet, any datagram used to latch the stream and receive the call's audio. Real
 * sessions and real UDP peers on loopback; every stranger here shares the far end's IP (the
 * most permissive case for NAT learning).
 */
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { encodeMulaw } from "../../src/media/g711.js";
import { encodeReceiverReport } from "../../src/media/rtcp.js";
import { encodeRtp } from "../../src/media/rtp-packet.js";
import { goertzel, makeTone, readWav, rms } from "./tone.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let dir = "";

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cuffia-latch-"));
  makeTone(join(dir, "440.wav"), 440, 8000, 2);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A pair from a wide range in the ephemeral band (the allocator skips ports in use; see media-timeout.test.ts). */
function session(name: string) {
  return createMediaFactory({
    audio: {
      source: { type: "file", path: join(dir, "440.wav"), loop: true },
      sink: { type: "file", path: join(dir, `${name}-{call}.wav`) },
    },
    rtp: { address: "127.0.0.1", portMin: 40000, portMax: 59999, codecs: ["PCMU"] },
    log: silentLogger,
    rtcpIntervalMs: 60_000,
  }).create({ callId: name });
}

const sdp = (port: number) =>
  `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n`;

interface Peer {
  readonly sock: Socket;
  readonly port: number;
  /** How many of our packets reached this peer. */
  got(): number;
  /** 20 ms packets of a `freq` Hz tone (payload type `pt`) to `to` every 20 ms until stopped. */
  talk(to: number, opts: { freq?: number; ssrc: number; pt?: number }): () => void;
}

/** A UDP peer on a port the system picks. */
async function peer(): Promise<Peer> {
  const sock = createSocket("udp4");
  await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", () => resolve()));
  let got = 0;
  sock.on("message", () => got++);
  return {
    sock,
    port: sock.address().port,
    got: () => got,
    talk(to, { freq = 1000, ssrc, pt = 0 }) {
      let n = 0;
      const pcm = new Int16Array(160);
      const timer = setInterval(() => {
        for (let i = 0; i < 160; i++)
          pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * freq * (n * 160 + i)) / 8000));
        sock.send(
          encodeRtp({
            payloadType: pt,
            marker: n === 0,
            sequence: n,
            timestamp: n * 160,
            ssrc,
            payload: encodeMulaw(pcm),
          }),
          to,
          "127.0.0.1",
        );
        n++;
      }, 20);
      return () => clearInterval(timer);
    },
  };
}

/** How strongly `freq` shows in a stretch of the recording, against the other tone. */
function toneRatio(file: string, fromS: number, toS: number, freq: number, other: number): number {
  const rec = readWav(join(dir, file)).samples;
  const part = rec.subarray(Math.round(fromS * 8000), Math.round(toS * 8000));
  return goertzel(part, 8000, freq) / Math.max(1, goertzel(part, 8000, other));
}

describe.concurrent("RTP latching (no hijack)", () => {
  it("a 1-byte datagram from another port before latching: nothing latched, our audio still goes to the SDP address", async () => {
    const a = await session("byte");
    const far = await peer(); // the SDP's address: listens, has not spoken yet
    const stranger = await peer();
    try {
      a.answer(sdp(far.port), { hold: false });
      stranger.sock.send(Buffer.from([0x80]), a.localPort, "127.0.0.1");
      await sleep(600);
      const d = a.details();
      expect(d.packetsRejected).toBe(1);
      expect(d.packetsReceived).toBe(0);
      expect(d.garbage).toBe(0); // a stranger's garbage is a rejection, not the far end's garbage
      expect(stranger.got()).toBe(0);
      expect(far.got()).toBeGreaterThan(20);
    } finally {
      await a.close();
      far.sock.close();
      stranger.sock.close();
    }
  });

  it("a stranger sending valid-looking RTP with a payload type not negotiated: rejected, never latched", async () => {
    const a = await session("wrongpt");
    const far = await peer();
    const stranger = await peer();
    try {
      a.answer(sdp(far.port), { hold: false });
      const stop = stranger.talk(a.localPort, { ssrc: 66, pt: 8 }); // PCMA: not in the answer
      await sleep(800);
      stop();
      await sleep(50);
      const d = a.details();
      expect(d.packetsRejected).toBeGreaterThan(25);
      expect(d.packetsReceived).toBe(0);
      expect(stranger.got()).toBe(0);
      expect(far.got()).toBeGreaterThan(25);
    } finally {
      await a.close();
      far.sock.close();
      stranger.sock.close();
    }
  });

  it("a stranger with the right payload type while the SDP's source talks: rejected, gets no audio, is not heard", async () => {
    const a = await session("race");
    const far = await peer();
    const stranger = await peer();
    try {
      a.answer(sdp(far.port), { hold: false });
      // The stranger starts first, a few packets ahead of the far end.
      const stopStranger = stranger.talk(a.localPort, { freq: 440 * 3, ssrc: 66 });
      await sleep(30);
      const stopFar = far.talk(a.localPort, { freq: 1000, ssrc: 5 });
      // The stranger also tries RTCP, from its RTP port.
      stranger.sock.send(encodeReceiverReport(66, []), a.localPort + 1, "127.0.0.1");
      await sleep(1000);
      stopStranger();
      stopFar();
      await sleep(50);
      const d = a.details();
      expect(d.packetsRejected).toBeGreaterThanOrEqual(1);
      expect(d.rtcpReceived).toBe(0);
      expect(stranger.got()).toBe(0);
      expect(far.got()).toBeGreaterThan(30);
      expect(d.packetsReceived).toBeGreaterThan(30);
      expect(d.packetsLost).toBe(0); // the stranger's SSRC never reset the far end's statistics
      await a.close();
      // What was played out: the far end's 1000 Hz, not the stranger's 1320 Hz.
      expect(toneRatio("race-race.wav", 0.2, 0.9, 1000, 1320)).toBeGreaterThan(20);
    } finally {
      await a.close();
      far.sock.close();
      stranger.sock.close();
    }
  });

  it("NAT: the SDP's address is unreachable, the real peer on another port is latched after a few valid packets", async () => {
    const a = await session("nat");
    const real = await peer(); // sends from another port, as a NAT would map it
    const gone = await peer();
    const unreachable = gone.port; // the SDP's port: nothing listens there
    gone.sock.close();
    try {
      a.answer(sdp(unreachable), { hold: false });
      const stop = real.talk(a.localPort, { ssrc: 9 });
      await sleep(800);
      stop();
      await sleep(50);
      const d = a.details();
      expect(d.packetsRejected).toBe(2); // the two packets before adoption
      expect(d.packetsReceived).toBeGreaterThan(30);
      expect(real.got()).toBeGreaterThan(25); // our audio follows the latched source
      await a.close();
      expect(rms(readWav(join(dir, "nat-nat.wav")).samples.subarray(4000, 6000))).toBeGreaterThan(2000);
    } finally {
      await a.close();
      real.sock.close();
    }
  });

  it("re-latches to a new source once the old one has been silent for a second, not before", async () => {
    const a = await session("relatch");
    const old = await peer();
    const moved = await peer(); // e.g. the far end's NAT binding moved to another port
    try {
      a.answer(sdp(old.port), { hold: false });
      const stopOld = old.talk(a.localPort, { freq: 1000, ssrc: 5 });
      await sleep(600);
      // The new source starts while the old one still talks: ignored.
      const stopMoved = moved.talk(a.localPort, { freq: 440 * 3, ssrc: 6 });
      await sleep(600);
      expect(moved.got()).toBe(0);
      stopOld();
      const oldGotAtStop = old.got();
      // Within about 1.5 s (1 s of silence, the next check, 3 packets) the new source has the stream.
      for (let i = 0; i < 40 && moved.got() === 0; i++) await sleep(100);
      expect(moved.got()).toBeGreaterThan(0);
      const switched = old.got();
      await sleep(600);
      stopMoved();
      expect(moved.got()).toBeGreaterThan(20);
      expect(old.got()).toBe(switched); // nothing more to the old source
      expect(switched - oldGotAtStop).toBeLessThan(100); // it got audio for 1-2 s of silence at most
      await a.close();
    } finally {
      await a.close();
      old.sock.close();
      moved.sock.close();
    }
  });
});
