/**
 * The media inactivity watchdog (issue 11: a call must not outlive its media). Real sessions and
 * real UDP peers on loopback; short timeouts so each case takes a few seconds.
 */
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Logger, memoryLogger, silentLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { encodeMulaw } from "../../src/media/g711.js";
import { encodeReceiverReport } from "../../src/media/rtcp.js";
import { encodeRtp } from "../../src/media/rtp-packet.js";
import type { RtpMediaSession } from "../../src/media/rtp-session.js";
import { makeTone } from "./tone.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let dir = "";

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cuffia-timeout-"));
  makeTone(join(dir, "440.wav"), 440, 8000, 2);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Limits {
  readonly mediaTimeoutMs?: number;
  readonly holdMediaTimeoutMs?: number;
}

/**
 * A session on a pair from a wide range in the ephemeral band: the allocator skips ports in use,
 * and the system never hands out a port we hold, so parallel test runs do not collide.
 */
function session(name: string, limits: Limits, log: Logger = silentLogger) {
  return createMediaFactory({
    audio: { source: { type: "file", path: join(dir, "440.wav"), loop: true }, sink: { type: "none" } },
    rtp: { address: "127.0.0.1", portMin: 40000, portMax: 59999, codecs: ["PCMU"], ...limits },
    log,
    rtcpIntervalMs: 60_000,
  }).create({ callId: name });
}

const sdp = (p: Peer, version: number, direction = "sendrecv") =>
  `v=0\r\no=- 1 ${version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${p.port} RTP/AVP 0\r\na=rtcp:${p.rtcpPort}\r\na=${direction}\r\n`;

/** Records when (and with what) the session's media timeout fired. */
function watch(s: RtpMediaSession) {
  const fired: Array<{ at: number; detail: string }> = [];
  s.onMediaTimeout((detail) => fired.push({ at: performance.now(), detail }));
  return fired;
}

interface Peer {
  readonly rtp: Socket;
  readonly rtcp: Socket;
  readonly port: number;
  readonly rtcpPort: number;
  /** 20 ms PCMU packets to `to` until stopped. */
  talk(to: number): () => void;
  /** RFC 3389 comfort noise (PT 13, not negotiated) to `to` every 200 ms until stopped. */
  comfortNoise(to: number): () => void;
  /** An RTCP receiver report to `to` (our RTCP port) every `everyMs` until stopped. */
  report(to: number, everyMs: number): () => void;
  close(): void;
}

/** A far end on two ports the system picks (its SDP names the RTCP one with a=rtcp). */
async function peer(): Promise<Peer> {
  const bind = async () => {
    const s = createSocket("udp4");
    await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", () => resolve()));
    return s;
  };
  const rtp = await bind();
  const rtcp = await bind();
  let closed = false;
  return {
    rtp,
    rtcp,
    port: rtp.address().port,
    rtcpPort: rtcp.address().port,
    talk(to) {
      let n = 0;
      const payload = encodeMulaw(new Int16Array(160));
      const t = setInterval(() => {
        rtp.send(
          encodeRtp({ payloadType: 0, marker: n === 0, sequence: n, timestamp: n * 160, ssrc: 7, payload }),
          to,
          "127.0.0.1",
        );
        n++;
      }, 20);
      return () => clearInterval(t);
    },
    comfortNoise(to) {
      let n = 1000;
      const t = setInterval(() => {
        rtp.send(
          encodeRtp({
            payloadType: 13,
            marker: false,
            sequence: n,
            timestamp: n * 160,
            ssrc: 7,
            payload: Buffer.from([40]),
          }),
          to,
          "127.0.0.1",
        );
        n++;
      }, 200);
      return () => clearInterval(t);
    },
    report(to, everyMs) {
      const t = setInterval(() => rtcp.send(encodeReceiverReport(7, []), to, "127.0.0.1"), everyMs);
      return () => clearInterval(t);
    },
    close() {
      if (closed) return;
      closed = true;
      rtp.close();
      rtcp.close();
    },
  };
}

describe.concurrent("media inactivity watchdog", () => {
  it("a far end that stops sending: fires once, about the timeout after its last packet", async () => {
    const a = await session("stop", { mediaTimeoutMs: 1000 });
    const fired = watch(a);
    const p = await peer();
    try {
      // The clock starts with the media, not with the session.
      await sleep(1300);
      a.answer(sdp(p, 1), { hold: false });
      const stop = p.talk(a.localPort);
      await sleep(1500); // talking: longer than the timeout, nothing fires
      expect(fired).toEqual([]);
      expect(a.details().packetsReceived).toBeGreaterThan(50);
      stop();
      const stoppedAt = performance.now();
      await sleep(2800);
      expect(fired).toHaveLength(1); // once, not again every check
      const f = fired[0];
      expect(f?.detail).toBe("no RTP or RTCP for 1 s");
      const after = (f?.at ?? 0) - stoppedAt;
      expect(after).toBeGreaterThan(900);
      expect(after).toBeLessThan(2000);
    } finally {
      await a.close();
      p.close();
    }
  }, 15_000);

  it("a far end that suppresses silence (comfort noise only, no RTCP) is not taken for gone", async () => {
    const a = await session("cn", { mediaTimeoutMs: 1000 });
    const fired = watch(a);
    const p = await peer();
    try {
      a.answer(sdp(p, 1), { hold: false });
      const stopTalking = p.talk(a.localPort);
      await sleep(500);
      stopTalking();
      const stopNoise = p.comfortNoise(a.localPort);
      await sleep(2500); // 2.5 × the timeout with nothing but PT 13
      expect(fired).toEqual([]);
      expect(a.details().unknownPayload).toBeGreaterThan(5);
      stopNoise();
      await sleep(2000); // and now really nothing
      expect(fired).toHaveLength(1);
    } finally {
      await a.close();
      p.close();
    }
  }, 15_000);

  it("a re-INVITE moving the stream restarts the clock", async () => {
    const a = await session("move", { mediaTimeoutMs: 1000 });
    const fired = watch(a);
    const p1 = await peer();
    const p2 = await peer();
    try {
      a.answer(sdp(p1, 1), { hold: false });
      const started = performance.now();
      await sleep(700);
      a.answer(sdp(p2, 2), { hold: false });
      const moved = performance.now();
      await sleep(650); // 1.35 s after the start, 0.65 s after the move
      expect(fired).toEqual([]);
      await sleep(1400);
      expect(fired).toHaveLength(1);
      expect((fired[0]?.at ?? 0) - moved).toBeGreaterThan(900);
      expect((fired[0]?.at ?? 0) - started).toBeGreaterThan(1600);
    } finally {
      await a.close();
      p1.close();
      p2.close();
    }
  }, 15_000);

  describe.each([
    ["we hold (sendonly)", true, "sendrecv"],
    ["the far end holds us (its sendonly)", false, "sendonly"],
    ["the far end holds us (inactive)", false, "inactive"],
  ])("on hold: %s", (_name, weHold, theirDirection) => {
    it("RTCP alone keeps the call; silence ends it after the hold timeout, not the media timeout", async () => {
      const a = await session("hold", { mediaTimeoutMs: 1000, holdMediaTimeoutMs: 2000 });
      const fired = watch(a);
      const p = await peer();
      try {
        a.answer(sdp(p, 1, theirDirection), { hold: weHold });
        const stopReports = p.report(a.localPort + 1, 300); // RTCP only, no RTP
        await sleep(2800); // longer than both limits
        expect(fired).toEqual([]);
        expect(a.details().rtcpReceived).toBeGreaterThan(5);
        expect(a.details().packetsReceived).toBe(0);
        stopReports();
        const silentFrom = performance.now();
        await sleep(3000);
        expect(fired).toHaveLength(1);
        expect(fired[0]?.detail).toBe("no RTP or RTCP for 2 s on hold");
        const after = (fired[0]?.at ?? 0) - silentFrom;
        expect(after).toBeGreaterThan(1800); // the hold limit, not the 1 s media limit
        expect(after).toBeLessThan(3000);
      } finally {
        await a.close();
        p.close();
      }
    }, 15_000);
  });

  it("resuming from hold gives the far end the whole media timeout again", async () => {
    const a = await session("resume", { mediaTimeoutMs: 1000, holdMediaTimeoutMs: 10_000 });
    const fired = watch(a);
    const p = await peer();
    try {
      a.answer(sdp(p, 1, "sendonly"), { hold: false });
      await sleep(1600); // held and silent, within the hold limit
      a.answer(sdp(p, 2, "sendrecv"), { hold: false }); // resumed
      await sleep(600);
      expect(fired).toEqual([]);
      await sleep(1200);
      expect(fired.map((f) => f.detail)).toEqual(["no RTP or RTCP for 1 s"]);
    } finally {
      await a.close();
      p.close();
    }
  }, 15_000);

  it("0 turns the timeout off", async () => {
    const a = await session("off", { mediaTimeoutMs: 0 });
    const fired = watch(a);
    const p = await peer();
    try {
      a.answer(sdp(p, 1), { hold: false });
      await sleep(1500);
      expect(fired).toEqual([]);
    } finally {
      await a.close();
      p.close();
    }
  });

  it("ICMP port unreachable: a far end whose port closed ends the media in seconds, logged once then counted", async () => {
    const { log, lines } = memoryLogger("debug");
    const a = await session("icmp", {}, log); // default limits: 30 s, ICMP after 5 s
    const fired = watch(a);
    const p = await peer();
    try {
      a.answer(sdp(p, 1), { hold: false });
      const stop = p.talk(a.localPort);
      await sleep(400); // latched, and the socket connected to the far end
      stop();
      p.close(); // its port closes: every packet we send now draws an ICMP port unreachable
      const closedAt = performance.now();
      for (let i = 0; i < 80 && fired.length === 0; i++) await sleep(100);
      expect(fired.map((f) => f.detail)).toEqual(["ICMP unreachable"]);
      const after = (fired[0]?.at ?? 0) - closedAt;
      expect(after).toBeGreaterThan(4500);
      expect(after).toBeLessThan(7000);
      // About 250 errors in 5 s: one line at the start, one with the count.
      const unreachable = lines.filter((l) => String(l["msg"]).startsWith("RTP far end unreachable"));
      expect(unreachable.length).toBeLessThanOrEqual(3);
      const repeats = unreachable.reduce((n, l) => n + (Number(l["repeats"]) || 0), 0);
      expect(repeats).toBeGreaterThan(150);
      expect(lines.filter((l) => l["msg"] === "far end media gone")).toHaveLength(1);
    } finally {
      await a.close();
      p.close();
    }
  }, 15_000);

  it("a listener that ends the call at once (as the SIP side does) closes the media cleanly", async () => {
    const { log, lines } = memoryLogger("debug");
    const a = await session("bye", { mediaTimeoutMs: 1000 }, log);
    const p = await peer();
    const rtcpTypes: number[] = [];
    p.rtcp.on("message", (m) => {
      for (let at = 0; at + 4 <= m.length; at += (m.readUInt16BE(at + 2) + 1) * 4)
        rtcpTypes.push(m[at + 1] ?? 0);
    });
    try {
      let closing: Promise<unknown> | null = null;
      a.onMediaTimeout(() => {
        closing = a.close();
      });
      a.answer(sdp(p, 1), { hold: false });
      for (let i = 0; i < 30 && closing === null; i++) await sleep(100);
      expect(closing).not.toBeNull();
      await closing;
      await sleep(100);
      expect(rtcpTypes).toContain(203); // our RTCP BYE reached the far end
      expect(lines.filter((l) => l["level"] === "error")).toEqual([]);
    } finally {
      await a.close();
      p.close();
    }
  });

  it("closing the session stops the watchdog", async () => {
    const a = await session("close", { mediaTimeoutMs: 1000 });
    const fired = watch(a);
    const p = await peer();
    try {
      a.answer(sdp(p, 1), { hold: false });
      await sleep(400);
      await a.close();
      await sleep(1600);
      expect(fired).toEqual([]);
    } finally {
      p.close();
    }
  });
});
