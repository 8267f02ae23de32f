/**
 * Opus (RFC 7587) against baresip's `opus` module through a real Kamailio: baresip calls the desk
 * and the desk calls baresip, Opus negotiated on the wire (opus/48000/2, and the
 * telephone-event/8000 baresip 1.0 has beside it), audio both ways by measurement (each side
 * hears the other's tone; the desk's recording is at 48 kHz), DTMF both ways. The desk's tone is
 * an 8 kHz WAV resampled to 48 kHz before Opus: it must arrive at the same frequency.
 * (telephone-event/48000 between two desks: test/media/session-loopback.test.ts.)
 */
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SipAction } from "../../src/core/types.js";
import { memoryLogger } from "../../src/log/logger.js";
import type { SipAgent } from "../../src/sip/sip-agent.js";
import type { Baresip } from "../lab/baresip.js";
import { findFreeBase, type Kamailio, startKamailio } from "../lab/kamailio.js";
import { commonestFirstByteShare, rtpDatagrams } from "../lab/opus-toc.js";
import {
  expectDtmfBothWays,
  expectOpusAudio,
  farCallsDesk,
  makeDeskTone,
  makeFarTone,
  startToneDesk,
  startToneFar,
} from "../lab/tone-desk.js";
import { startCapture } from "../lab/wire.js";
import type { Inputs } from "../sip/harness.js";

const KAMAILIO_BASE_FROM = 28260;
const RTP = {
  address: "127.0.0.1",
  portMin: 24600,
  portMax: 24699,
  // The default order: wideband first.
  codecs: ["opus", "g722", "pcma", "pcmu"],
};

let kam: Kamailio;
let dir: string;
let agent: SipAgent;
let inputs: Inputs;
let far: Baresip;
const desk = memoryLogger("debug");

const sip = (a: SipAction) => agent.execute({ type: "sip", ...a });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logged = (msg: string) => desk.lines.filter((l) => l.msg === msg);
/** The digits the SIP side reported from RFC 4733 events. */
const digits = () => logged("DTMF received").filter((l) => l.via === "rtp");

beforeAll(async () => {
  kam = await startKamailio({ base: await findFreeBase(KAMAILIO_BASE_FROM) });
  dir = await mkdtemp(join(tmpdir(), "cuffia-opus-calls-"));
  const farTone = await makeFarTone(dir, "opus");
  ({ agent, inputs } = await startToneDesk({
    url: `ws://127.0.0.1:${kam.wsPort}`,
    tone: await makeDeskTone(dir),
    sinkDir: dir,
    rtp: RTP,
    log: desk.log,
  }));
  far = await startToneFar(kam, farTone, { audioCodecs: ["opus", "pcmu", "pcma"] });
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await far?.stop();
  await kam?.stop();
});

/** The SDP bodies baresip received in its SIP trace (our offers and answers). */
async function sdpsReceived(): Promise<string[]> {
  const trace = await readFile(far.logFile, "utf8");
  return trace.split(/\nv=0\r?\n/).slice(1);
}

/** Both directions measured after the call: baresip heard the desk's tone, the desk's sink the far one at 48 kHz. */
const checkAudio = (callId: string) => expectOpusAudio(far, dir, callId);

/** DTMF both ways on the call: baresip's digits reach the desk, the desk's reach baresip. */
const checkDtmf = (callId: string) =>
  expectDtmfBothWays({ far, desk: { sip }, received: digits, callId, farDigit: "5", deskDigit: "7" });

function negotiatedCodec(): unknown {
  return logged("media negotiated").at(-1)?.codec;
}

describe("Opus with baresip", () => {
  it("baresip calls the desk: Opus answered on baresip's PT, audio and DTMF both ways", async () => {
    const capture = await startCapture(dir, `udp portrange ${RTP.portMin}-${RTP.portMax}`);
    const { offer } = await farCallsDesk({ far, kam, inputs, sip });
    expect(negotiatedCodec()).toBe("OPUS");
    const answer = (await sdpsReceived()).at(-1) ?? "";
    expect(answer).toMatch(/^a=rtpmap:\d+ opus\/48000\/2\r?$/m);
    // baresip 1.0 offers telephone-event/8000 only, even beside Opus: accepted (sdp.ts says why).
    expect(answer).toMatch(/^a=rtpmap:101 telephone-event\/8000\r?$/m);
    expect(answer).not.toMatch(/PCMU|PCMA|G722/);
    await sleep(2500);
    await checkDtmf(offer.callId);
    await far.hangup();
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === offer.callId);
    expect(ended.stats?.packetsReceived).toBeGreaterThan(100);
    expect(ended.stats?.packetsLost).toBe(0);
    await far.waitFor("CALL_CLOSED");
    // Clear Opus on the wire, both ways: its TOC byte starts nearly every payload (the control
    // for opus-dtls-ice.test.ts, where SRTP must spread it).
    const rtp = rtpDatagrams(await capture.stop());
    const inRange = (p: number) => p >= RTP.portMin && p <= RTP.portMax;
    for (const leg of [rtp.filter((d) => inRange(d.srcPort)), rtp.filter((d) => inRange(d.dstPort))]) {
      expect(leg.length).toBeGreaterThan(100);
      expect(commonestFirstByteShare(leg)).toBeGreaterThan(0.5);
    }
    await checkAudio(offer.callId);
  });

  it("the desk calls baresip: Opus offered first on PT 111 and chosen, audio and DTMF both ways", async () => {
    const mark = inputs.mark;
    far.skip();
    await sip({ action: "dial", target: "2001" });
    const d = await inputs.waitFor("call_dialling", () => true, 10_000, mark);
    await far.waitFor("CALL_INCOMING");
    const offer = (await sdpsReceived()).at(-1) ?? "";
    expect(offer).toMatch(/^m=audio \d+ RTP\/AVP 111 9 8 0 110 101\r?$/m);
    expect(offer).toMatch(/^a=rtpmap:111 opus\/48000\/2\r?$/m);
    await far.accept();
    await inputs.waitFor("call_answered", (i) => i.callId === d.callId);
    expect(negotiatedCodec()).toBe("OPUS");
    await sleep(2500);
    await checkDtmf(d.callId);
    await sip({ action: "hangup", callId: d.callId });
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === d.callId);
    expect(ended.stats?.packetsReceived).toBeGreaterThan(100);
    await far.waitFor("CALL_CLOSED");
    await checkAudio(d.callId);
  });
});
