/**
 * The layers of a call's media composed by hand, as rtp-session.ts composes them, with a
 * protection layer of the test's own between the UDP transport and the stream: the seam SRTP
 * plugs into (issue 14). The stand-in has SRTP's shape (a keyed tag appended to every packet,
 * checked on receipt) without its cryptography. A real far end on loopback (a plain socket)
 * checks what leaves the stream and sends good, tampered and stranger's packets back.
 */
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { AudioBridge } from "../../src/media/audio-bridge.js";
import { encodeMulaw } from "../../src/media/g711.js";
import { Negotiation } from "../../src/media/negotiation.js";
import { PortAllocator } from "../../src/media/port-allocator.js";
import { noProtection, type Protection } from "../../src/media/protection.js";
import { encodeRtp, parseRtp } from "../../src/media/rtp-packet.js";
import { FRAME_MS, RtpStream } from "../../src/media/rtp-stream.js";
import { realTimers } from "../../src/media/send-clock.js";
import { TelephoneEvents } from "../../src/media/telephone-events.js";
import { UdpTransport } from "../../src/media/udp-transport.js";
import { makeTone } from "./tone.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let dir = "";

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cuffia-layers-"));
  makeTone(join(dir, "440.wav"), 440, 8000, 2);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TAG = 4;

/** FNV-1a over the packet with a key: the stand-in for SRTP's HMAC. */
function tagOf(key: number, b: Uint8Array, end: number): number {
  let h = (0x811c9dc5 ^ key) >>> 0;
  for (let i = 0; i < end; i++) h = Math.imul(h ^ (b[i] ?? 0), 0x01000193) >>> 0;
  return h;
}

function tagged(key: number): Protection & { rejected: number } {
  const protect = (p: Buffer): Buffer => {
    const out = Buffer.allocUnsafe(p.length + TAG);
    p.copy(out);
    out.writeUInt32BE(tagOf(key, p, p.length), p.length);
    return out;
  };
  const unprotect = function (this: { rejected: number }, p: Buffer): Buffer | null {
    const end = p.length - TAG;
    if (end < 0 || p.readUInt32BE(end) !== tagOf(key, p, end)) {
      this.rejected++;
      return null;
    }
    return p.subarray(0, end);
  };
  const self = {
    kind: "none" as const,
    rejected: 0,
    dropped: { auth: 0, replay: 0 },
    protectRtp: protect,
    protectRtcp: protect,
    unprotectRtp: (p: Buffer) => unprotect.call(self, p),
    unprotectRtcp: (p: Buffer) => unprotect.call(self, p),
  };
  return self;
}

/** One call's media stack, wired as RtpMediaSession wires it, with the given protection. */
async function stack(protection: Protection) {
  const ports = new PortAllocator("127.0.0.1", 40000, 59999);
  const pair = await ports.allocate();
  await ports.close();
  const log = silentLogger;
  const negotiation = new Negotiation({ address: "127.0.0.1", port: pair.port, codecs: ["PCMU"] });
  const transport = new UdpTransport({ ports: pair, log, now: () => realTimers.now() });
  const bridge = new AudioBridge({
    callId: "layers",
    audio: { source: { type: "file", path: join(dir, "440.wav"), loop: true }, sink: { type: "none" } },
    log,
    frameMs: FRAME_MS,
  });
  const dtmf = new TelephoneEvents({ log, frameMs: FRAME_MS });
  const stream = new RtpStream({
    transport,
    protection,
    bridge,
    dtmf,
    log,
    timers: realTimers,
    rtcpIntervalMs: 300,
    limits: { mediaMs: 0, holdMs: 0, unreachableMs: 5000 },
  });
  transport.start(stream);
  let closing: Promise<void> | null = null;
  return {
    port: pair.port,
    stream,
    /** Offer, and apply the far end's answer, down the layers. */
    connect(far: Far) {
      negotiation.createOffer(false);
      const n = negotiation.acceptAnswer(
        `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${far.port} RTP/AVP 0\r\na=rtcp:${far.rtcpPort}\r\n`,
      );
      transport.setRemote({ address: n.remoteAddress, port: n.remotePort }, n.remoteRtcpPort);
      stream.apply(n);
    },
    /** As RtpMediaSession.close(): stop, RTCP BYE, devices, sockets. Idempotent. */
    close(): Promise<void> {
      closing ??= (async () => {
        stream.stop();
        transport.stop();
        dtmf.abort();
        stream.sendRtcp(true);
        await new Promise((r) => setImmediate(r));
        await bridge.close();
        await transport.close();
      })();
      return closing;
    },
  };
}

interface Far {
  readonly rtp: Socket;
  readonly rtcp: Socket;
  readonly port: number;
  readonly rtcpPort: number;
  readonly got: Buffer[];
  readonly gotRtcp: Buffer[];
  close(): void;
}

async function socket(): Promise<Socket> {
  const s = createSocket("udp4");
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", () => resolve()));
  return s;
}

async function far(): Promise<Far> {
  const rtp = await socket();
  const rtcp = await socket();
  const got: Buffer[] = [];
  const gotRtcp: Buffer[] = [];
  rtp.on("message", (m) => got.push(m));
  rtcp.on("message", (m) => gotRtcp.push(m));
  return {
    rtp,
    rtcp,
    port: rtp.address().port,
    rtcpPort: rtcp.address().port,
    got,
    gotRtcp,
    close() {
      rtp.close();
      rtcp.close();
    },
  };
}

const tone = encodeMulaw(Int16Array.from({ length: 160 }, (_, i) => Math.round(8000 * Math.sin(i / 3))));
const packet = (sequence: number, ssrc: number) =>
  encodeRtp({
    payloadType: 0,
    marker: sequence === 0,
    sequence,
    timestamp: sequence * 160,
    ssrc,
    payload: tone,
  });

describe("media layers: a protection layer between the transport and the stream", () => {
  it("protects every packet sent, admits only packets that pass it, and a stranger's clear RTP never latches", async () => {
    const key = 0x5eed;
    const ours = tagged(key);
    const s = await stack(ours);
    const f = await far();
    const stranger = await socket();
    const strangerGot: Buffer[] = [];
    stranger.on("message", (m) => strangerGot.push(m));
    const theirs = tagged(key);
    try {
      s.connect(f);
      // Before the far end speaks, a stranger on the same address sends valid clear RTP, more
      // than enough consecutive packets for plain symmetric RTP to adopt it (NAT learning).
      for (let i = 0; i < 10; i++) stranger.send(packet(i, 66), s.port, "127.0.0.1");
      await sleep(300);
      // The far end: 40 protected packets, every fifth one tampered with after protection.
      for (let i = 0; i < 40; i++) {
        const p = theirs.protectRtp(packet(1000 + i, 7));
        if (i % 5 === 4) p[20] = (p[20] ?? 0) ^ 0x01;
        f.rtp.send(p, s.port, "127.0.0.1");
        await sleep(FRAME_MS);
      }
      await sleep(500);
      const d = s.stream.details();
      expect(d.packetsReceived).toBe(32);
      expect(d.garbage).toBe(8); // tampered, from the far end's own address
      expect(d.packetsRejected).toBe(10); // the stranger's: not the call's, never latched
      expect(ours.rejected).toBe(18);
      expect(strangerGot).toEqual([]);

      // What left the stream: protected RTP (the far end's key checks it), numbered in order.
      await s.close();
      await sleep(100);
      expect(s.stream.details().packetsSent).toBe(f.got.length);
      const sent = f.got.map((b) => theirs.unprotectRtp(b));
      expect(sent.length).toBeGreaterThan(40);
      expect(theirs.rejected).toBe(0);
      const parsed = sent.map((b) => (b ? parseRtp(b) : null));
      expect(parsed.every((p) => p?.payloadType === 0 && p.payload.length === 160)).toBe(true);
      const seqs = parsed.map((p) => p?.sequence ?? -1);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(((seqs[i - 1] ?? 0) + 1) & 0xffff);
      // RTCP goes through the layer too.
      expect(f.gotRtcp.length).toBeGreaterThan(0);
      expect(f.gotRtcp.every((b) => theirs.unprotectRtcp(b) !== null)).toBe(true);
    } finally {
      await s.close();
      f.close();
      stranger.close();
    }
  }, 15_000);

  it("control: without protection the same stranger is learnt as the far end (plain symmetric RTP)", async () => {
    const s = await stack(noProtection);
    const f = await far();
    const stranger = await socket();
    const strangerGot: Buffer[] = [];
    stranger.on("message", (m) => strangerGot.push(m));
    try {
      s.connect(f);
      for (let i = 0; i < 10; i++) stranger.send(packet(i, 66), s.port, "127.0.0.1");
      await sleep(300);
      expect(s.stream.details().packetsReceived).toBe(8); // adopted at its third packet
      expect(strangerGot.length).toBeGreaterThan(0);
    } finally {
      await s.close();
      f.close();
      stranger.close();
    }
  });
});
