/**
 * Opus inside DTLS-SRTP + ICE + rtcp-mux (what a WebRTC-style PBX sends), with baresip's `opus`,
 * `dtls_srtp` and `ice` modules: baresip calls the desk and the desk calls baresip, through a
 * real Kamailio. Opus negotiated, audio both ways by measurement, DTMF both ways, and none of it
 * clear on the wire. Compressed Opus looks random to an entropy judge, so the wire check here is
 * the one SRTP makes visible for Opus: a clear Opus stream starts every payload with one of a few
 * TOC bytes (RFC 6716 §3.1: the same mode, bandwidth and frame size packet after packet); under
 * SRTP the first payload byte is keystream, spread over all 256 values.
 * baresip 1.0's ICE offers every non-loopback address it sees, so it runs in a network namespace
 * the test creates, joined to this one by a veth pair (netns.ts createVethLink): its only address
 * is its end of the pair, Kamailio listens on this end, and the desk gathers on this end only
 * (rtp.ice.host_addresses). The capture (every interface) checks that the desk's media ports
 * talked to those two addresses only, none of the machine's own. No server is contacted.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memoryLogger } from "../../src/log/logger.js";
import { startVethLab, type VethLab } from "../lab/dtls-desk.js";
import { findFreeBase } from "../lab/kamailio.js";
import { commonestFirstByteShare, rtpDatagrams } from "../lab/opus-toc.js";
import { expectDtmfBothWays, expectOpusAudio, farCallsDesk } from "../lab/tone-desk.js";
import type { Datagram } from "../lab/wire.js";

const KAMAILIO_BASE_FROM = 28360;
const PORT_MIN = 24800;
const PORT_MAX = 24899;

let lab: VethLab;
const desk = memoryLogger("debug");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logged = (msg: string) => desk.lines.filter((l) => l.msg === msg);
const digits = () => logged("DTMF received").filter((l) => l.via === "rtp");

beforeAll(async () => {
  lab = await startVethLab({
    prefix: "cuffia-opus-dtls-",
    kamailioBase: await findFreeBase(KAMAILIO_BASE_FROM),
    portMin: PORT_MIN,
    portMax: PORT_MAX,
    codecs: ["opus", "g722", "pcma", "pcmu"],
    log: desk.log,
    farTone: "opus",
    farCodecs: ["opus", "pcmu"],
  });
}, 120_000);

afterAll(async () => {
  await lab?.stop();
});

/** Encrypted: DTLS seen, and in each direction the first payload byte is spread (not a TOC). */
function judgeWire(datagrams: readonly Datagram[]): void {
  // ICE used the link's two addresses and nothing else (none of the machine's own); DTLS ran
  lab.expectLinkOnly(datagrams);
  const inRange = (p: number) => p >= PORT_MIN && p <= PORT_MAX;
  const rtp = rtpDatagrams(datagrams);
  for (const leg of [rtp.filter((d) => inRange(d.srcPort)), rtp.filter((d) => inRange(d.dstPort))]) {
    expect(leg.length).toBeGreaterThan(100);
    // Clear Opus at a steady rate: one or two TOC bytes make nearly every packet
    // (opus-calls.test.ts checks that on a clear call).
    expect(commonestFirstByteShare(leg)).toBeLessThan(0.1);
  }
}

const judgeAudio = (callId: string) => expectOpusAudio(lab.far, lab.dir, callId);

const checkDtmf = (callId: string) =>
  expectDtmfBothWays({ far: lab.far, desk: lab, received: digits, callId, farDigit: "8", deskDigit: "2" });

describe("Opus in DTLS-SRTP + ICE with baresip", () => {
  it("baresip calls the desk: Opus over UDP/TLS/RTP/SAVPF, audio and DTMF both ways, nothing clear", async () => {
    const { far, inputs } = lab;
    const capture = await lab.captureMedia();
    const { offer } = await farCallsDesk(lab);
    await sleep(3000);
    expect(logged("media negotiated").at(-1)?.codec).toBe("OPUS");
    await checkDtmf(offer.callId);
    await far.hangup();
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === offer.callId);
    expect(ended.stats?.packetsReceived).toBeGreaterThan(100);
    const trace = await readFile(far.logFile, "utf8");
    expect(trace).toMatch(/m=audio \d+ UDP\/TLS\/RTP\/SAVPF? \d+/);
    judgeWire(await capture.stop());
    await judgeAudio(offer.callId);
  }, 60_000);

  it("the desk calls baresip: Opus first in a UDP/TLS/RTP/SAVPF offer, audio and DTMF both ways", async () => {
    const { far, inputs, sip } = lab;
    const capture = await lab.captureMedia();
    far.skip();
    const mark = inputs.mark;
    await sip({ action: "dial", target: "2001" });
    const d = await inputs.waitFor("call_dialling", () => true, 10_000, mark);
    await far.waitFor("CALL_INCOMING");
    await far.accept();
    await inputs.waitFor("call_answered", (i) => i.callId === d.callId, 10_000);
    await sleep(3000);
    expect(logged("media negotiated").at(-1)?.codec).toBe("OPUS");
    await checkDtmf(d.callId);
    await sip({ action: "hangup", callId: d.callId });
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === d.callId);
    expect(ended.stats?.packetsReceived).toBeGreaterThan(100);
    const trace = await readFile(far.logFile, "utf8");
    const invite = trace.slice(trace.lastIndexOf("INVITE sip:2001"));
    expect(invite).toMatch(/m=audio \d+ UDP\/TLS\/RTP\/SAVPF 111 /);
    expect(invite).toMatch(/a=rtpmap:111 opus\/48000\/2/);
    judgeWire(await capture.stop());
    await judgeAudio(d.callId);
  }, 60_000);
});
