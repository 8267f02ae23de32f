/**
 * SDES-SRTP against baresip's `srtp` module through a real Kamailio, the desk on tls:// (or tcp://
 * where the test says): issue 14 item 6's SDES rows. Audio is checked both ways by measurement
 * (the dominant frequency of what each end recorded), and the wire by a tshark capture of the
 * desk's RTP ports: encrypted payloads are uniformly random bytes, clear G.711 is not (wire.ts).
 */
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallEncryption } from "../../src/core/types.js";
import type { EncryptionPolicy } from "../../src/media/security-policy.js";
import { dominantFrequency, wavComplete, wavSeconds } from "../lab/audio.js";
import type { Baresip } from "../lab/baresip.js";
import { type Kamailio, startKamailio } from "../lab/kamailio.js";
import { waitUntil } from "../lab/proc.js";
import {
  DESK_HZ,
  FAR_HZ,
  latestDecoded,
  makeDeskTone,
  makeFarTone,
  sipDebugLog,
  startToneDesk,
  startToneFar,
  type ToneDesk,
} from "../lab/tone-desk.js";
import { FrontRelay } from "../lab/udp-relay.js";
import { judgeRtp, startWireCapture } from "../lab/wire.js";

/** The desk's RTP ports in this file (the capture filter). */
const PORT_MIN = 24300; // its own range: the capture filters by it (23000–23999 is shared)
const PORT_MAX = 24399;

let kam: Kamailio;
let dir: string;
let deskTone: string;
let farTone: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  kam = await startKamailio();
  dir = await mkdtemp(join(tmpdir(), "cuffia-srtp-calls-"));
  deskTone = await makeDeskTone(dir);
  farTone = await makeFarTone(dir);
}, 60_000);

afterAll(async () => {
  await kam?.stop();
});

type Desk = ToneDesk;

async function withDesk(
  encryption: EncryptionPolicy,
  transport: "tls" | "tcp",
  fn: (d: Desk) => Promise<void>,
  media: { address: string; announce?: string; portMin: number; portMax: number } = {
    address: "127.0.0.1",
    portMin: PORT_MIN,
    portMax: PORT_MAX,
  },
): Promise<void> {
  const sinkDir = await mkdtemp(join(dir, `desk-${encryption}-${transport}-`));
  const url = transport === "tls" ? `tls://127.0.0.1:${kam.tlsPort}` : `tcp://127.0.0.1:${kam.tcpPort}`;
  const desk = await startToneDesk({
    url,
    sip: { aor: `sip:1017@${kam.domain}`, caFile: kam.caFile },
    tone: deskTone,
    sinkDir,
    rtp: { ...media, codecs: ["PCMU", "PCMA"], encryption },
    signallingSecure: transport === "tls",
    log: sipDebugLog,
  });
  try {
    await fn(desk);
  } finally {
    await desk.agent.stop();
  }
}

async function far(mediaenc?: "srtp" | "srtp-mand", autoAnswer = false): Promise<Baresip> {
  return startToneFar(kam, farTone, { autoAnswer, ...(mediaenc ? { mediaenc } : {}) });
}

/** The far end calls the desk, the desk answers; resolves with how the desk says it is protected. */
async function inbound(
  d: Desk,
  b: Baresip,
): Promise<{ callId: string; encryption: CallEncryption | undefined }> {
  const mark = d.inputs.mark;
  await b.dial(`sip:1017@${kam.domain}`);
  const offer = await d.inputs.waitFor("call_offered", () => true, 10_000, mark);
  await d.agent.execute({ type: "sip", action: "answer", callId: offer.callId });
  const answered = await d.inputs.waitFor("call_answered", (i) => i.callId === offer.callId);
  await b.waitFor("CALL_ESTABLISHED");
  return { callId: offer.callId, encryption: answered.encryption };
}

/** Both ends heard each other's tone; the wire in each direction judged. */
async function judge(d: Desk, b: Baresip, capture: Awaited<ReturnType<typeof startWireCapture>>) {
  await capture.stop();
  const datagrams = await capture.datagrams();
  const inRange = (p: number) => p >= PORT_MIN && p <= PORT_MAX;
  const toDesk = judgeRtp(datagrams.filter((g) => inRange(g.dstPort) && !inRange(g.srcPort)));
  const fromDesk = judgeRtp(datagrams.filter((g) => inRange(g.srcPort) && !inRange(g.dstPort)));
  const dec = (await latestDecoded(b)) as string;
  await waitUntil("baresip's recording complete", () => wavComplete(dec), 10_000);
  const sinks = (await readdir(d.sinkDir)).filter((f) => f.startsWith("sink-"));
  expect(sinks).toHaveLength(1);
  return {
    toDesk,
    fromDesk,
    farHeard: await dominantFrequency(dec, { skipSeconds: 0.5 }),
    deskHeard: await dominantFrequency(join(d.sinkDir, sinks[0] as string), { skipSeconds: 0.5 }),
  };
}

async function capture(name: string) {
  return startWireCapture(join(dir, `${name}.pcap`), `udp and portrange ${PORT_MIN}-${PORT_MAX}`);
}

describe("SDES-SRTP with baresip", () => {
  it("baresip `mediaenc srtp-mand` calls the desk over tls://: SRTP both ways, audio both ways, nothing clear on the wire", async () => {
    await withDesk("preferred", "tls", async (d) => {
      const b = await far("srtp-mand");
      try {
        const cap = await capture("mand-in");
        const call = await inbound(d, b);
        expect(call.encryption).toBe("sdes");
        await sleep(3000);
        await b.hangup();
        const ended = await d.inputs.waitFor("call_ended", (i) => i.callId === call.callId);
        expect(ended.stats?.packetsReceived).toBeGreaterThan(100);
        // libre sends an RTCP APP "PINGPONG" in clear before its first SRTCP (and its RTCP BYE in
        // clear after the call): refused like any packet that fails authentication.
        expect(ended.stats?.srtpAuthDropped).toBeLessThanOrEqual(2);
        const j = await judge(d, b, cap);
        expect(Math.abs(j.farHeard - DESK_HZ)).toBeLessThan(20);
        expect(Math.abs(j.deskHeard - FAR_HZ)).toBeLessThan(20);
        expect(j.toDesk.encrypted).toBe(true);
        expect(j.fromDesk.encrypted).toBe(true);
        // The INVITE was RTP/SAVP with a=crypto (baresip's mandatory mode), the answer too.
        const trace = await readFile(b.logFile, "utf8");
        expect(trace).toMatch(/m=audio \d+ RTP\/SAVP /);
        expect(trace).toMatch(/a=crypto:\d+ \S+ inline:/);
      } finally {
        await b.stop();
      }
    });
  }, 60_000);

  for (const [policy, mediaenc] of [
    ["required", "srtp-mand"],
    ["preferred", "srtp"],
  ] as const) {
    it(`the desk (${policy}, tls://) calls baresip \`${mediaenc}\` with SDES`, async () => {
      await withDesk(policy, "tls", async (d) => {
        const b = await far(mediaenc, true);
        try {
          const cap = await capture(`out-${policy}`);
          const mark = d.inputs.mark;
          await d.agent.execute({ type: "sip", action: "dial", target: `sip:2001@${kam.domain}` });
          const answered = await d.inputs.waitFor("call_answered", () => true, 15_000, mark);
          expect(answered.encryption).toBe("sdes");
          await sleep(3000);
          await d.agent.execute({ type: "sip", action: "hangup", callId: answered.callId });
          await d.inputs.waitFor("call_ended", (i) => i.callId === answered.callId);
          await b.waitFor("CALL_CLOSED");
          const j = await judge(d, b, cap);
          expect(Math.abs(j.farHeard - DESK_HZ)).toBeLessThan(20);
          expect(Math.abs(j.deskHeard - FAR_HZ)).toBeLessThan(20);
          expect(j.toDesk.encrypted).toBe(true);
          expect(j.fromDesk.encrypted).toBe(true);
        } finally {
          await b.stop();
        }
      });
    }, 60_000);
  }

  for (const [policy, expected] of [
    ["preferred", "sdes"],
    ["off", "none"],
  ] as const) {
    it(`baresip \`srtp\` (best effort) calls a desk set to ${policy}: ${expected === "sdes" ? "encrypted" : "clear, and reported clear"}`, async () => {
      await withDesk(policy, "tls", async (d) => {
        const b = await far("srtp");
        try {
          const cap = await capture(`best-effort-${policy}`);
          const call = await inbound(d, b);
          expect(call.encryption).toBe(expected);
          await sleep(3000);
          await b.hangup();
          await d.inputs.waitFor("call_ended", (i) => i.callId === call.callId);
          const j = await judge(d, b, cap);
          expect(Math.abs(j.farHeard - DESK_HZ)).toBeLessThan(20);
          expect(Math.abs(j.deskHeard - FAR_HZ)).toBeLessThan(20);
          expect(j.toDesk.encrypted).toBe(expected === "sdes");
          expect(j.fromDesk.encrypted).toBe(expected === "sdes");
        } finally {
          await b.stop();
        }
      });
    }, 60_000);
  }

  it("tampered SRTP packets (a relay flipping bits) are dropped and counted, and the call goes on", async () => {
    // The desk binds 127.0.0.2 and announces 127.0.0.1, where the relay takes its ports.
    const relay = await FrontRelay.open("127.0.0.2");
    try {
      await withDesk(
        "preferred",
        "tls",
        async (d) => {
          const b = await far("srtp-mand");
          try {
            const call = await inbound(d, b);
            expect(call.encryption).toBe("sdes");
            await sleep(1000);
            let flipped = 0;
            let n = 0;
            relay.tamper = (p) => {
              if (n++ % 10 !== 0 || p.length < 40) return;
              p[20] = (p[20] as number) ^ 0x10; // one payload bit
              flipped++;
            };
            await sleep(1500);
            relay.tamper = null;
            await sleep(1500);
            expect(d.inputs.all.some((i) => i.type === "call_ended")).toBe(false);
            await b.hangup();
            const ended = await d.inputs.waitFor("call_ended", (i) => i.callId === call.callId);
            expect(flipped).toBeGreaterThan(5);
            // Every flipped packet refused (plus libre's clear RTCP, see the first test).
            expect(ended.stats?.srtpAuthDropped).toBeGreaterThanOrEqual(flipped);
            expect(ended.stats?.srtpAuthDropped).toBeLessThanOrEqual(flipped + 2);
            expect(ended.reason).toBe("remote_hangup");
            // Audio went on through the relay, and the desk heard the far end's tone.
            const sinks = (await readdir(d.sinkDir)).filter((f) => f.startsWith("sink-"));
            const deskHeard = await dominantFrequency(join(d.sinkDir, sinks[0] as string), {
              skipSeconds: 0.5,
            });
            expect(Math.abs(deskHeard - FAR_HZ)).toBeLessThan(20);
            expect(relay.fromEndpoint.length).toBeGreaterThan(100);
          } finally {
            await b.stop();
          }
        },
        { address: "127.0.0.2", announce: "127.0.0.1", portMin: relay.port, portMax: relay.port + 1 },
      );
    } finally {
      relay.close();
    }
  }, 60_000);

  it("re-INVITEs inside an SDES call (our hold and resume, then the far end's) keep the media flowing and encrypted", async () => {
    await withDesk("preferred", "tls", async (d) => {
      const b = await far("srtp-mand");
      try {
        const call = await inbound(d, b);
        expect(call.encryption).toBe("sdes");
        const mark = d.inputs.mark;
        const hold = (on: boolean) =>
          d.agent.execute({ type: "sip", action: "hold", callId: call.callId, on });
        await hold(true);
        await d.inputs.waitFor("call_held", (i) => i.by === "local" && i.held, 10_000, mark);
        await hold(false);
        await d.inputs.waitFor("call_held", (i) => i.by === "local" && !i.held, 10_000, mark);
        await b.command("hold");
        await d.inputs.waitFor("call_held", (i) => i.by === "remote" && i.held, 10_000, mark);
        await b.command("resume");
        await d.inputs.waitFor("call_held", (i) => i.by === "remote" && !i.held, 10_000, mark);
        await sleep(2500);
        await b.hangup();
        const ended = await d.inputs.waitFor("call_ended", (i) => i.callId === call.callId);
        // Nothing refused beyond libre's clear RTCP: every re-INVITE kept (or rekeyed) both sides.
        expect(ended.stats?.srtpAuthDropped).toBeLessThanOrEqual(4);
        expect(ended.stats?.srtpReplayDropped).toBe(0);
        // Our re-INVITEs offered RTP/SAVP with our same key (RFC 4568 §7.1.4).
        const trace = await readFile(b.logFile, "utf8");
        const ours = trace
          .split(/(?=INVITE sip:)/)
          .filter((m) => m.startsWith("INVITE sip:2001") && /a=crypto:/.test(m))
          .map((m) => /a=crypto:\S+ \S+ inline:(\S+)/.exec(m)?.[1]);
        expect(ours.length).toBeGreaterThanOrEqual(2);
        expect(new Set(ours).size).toBe(1);
        // After the last resume the desk hears the far end again.
        const sinks = (await readdir(d.sinkDir)).filter((f) => f.startsWith("sink-"));
        const sink = join(d.sinkDir, sinks[0] as string);
        const skip = Math.max(0, (await wavSeconds(sink)) - 2);
        expect(Math.abs((await dominantFrequency(sink, { skipSeconds: skip })) - FAR_HZ)).toBeLessThan(20);
      } finally {
        await b.stop();
      }
    });
  }, 60_000);

  it("a desk set to required refuses a clear offer with 488 and a Warning, before ringing", async () => {
    await withDesk("required", "tls", async (d) => {
      const b = await far();
      try {
        const mark = d.inputs.mark;
        await b.dial(`sip:1017@${kam.domain}`);
        await b.waitFor("CALL_CLOSED");
        const trace = await readFile(b.logFile, "utf8");
        const refusal = trace.split(/\n(?=SIP\/2\.0 \d{3} )/).find((m) => m.startsWith("SIP/2.0 488"));
        expect(refusal).toBeDefined();
        expect(refusal).toMatch(/\nWarning: 302 \S+ "media encryption required[^"]*"/);
        expect(d.inputs.all.slice(mark).some((i) => i.type === "call_offered")).toBe(false);
      } finally {
        await b.stop();
      }
    });
  }, 60_000);

  it("SDES is never offered over tcp://; required there refuses to place the call with a clear error", async () => {
    await withDesk("required", "tcp", async (d) => {
      const mark = d.inputs.mark;
      await d.agent.execute({ type: "sip", action: "dial", target: `sip:2001@${kam.domain}` });
      const ended = await d.inputs.waitFor("call_ended", () => true, 10_000, mark);
      expect(ended.reason).toBe("failed");
      expect(ended.detail).toMatch(/SIP transport is not encrypted/);
    });
  }, 30_000);
});
