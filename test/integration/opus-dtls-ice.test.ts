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
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SipAction } from "../../src/core/types.js";
import { memoryLogger } from "../../src/log/logger.js";
import type { SipAgent } from "../../src/sip/sip-agent.js";
import type { Baresip } from "../lab/baresip.js";
import { findFreeBase, type Kamailio, startKamailio } from "../lab/kamailio.js";
import { addressesSeen, createVethLink, machineAddresses, type VethLink } from "../lab/netns.js";
import { commonestFirstByteShare, rtpDatagrams } from "../lab/opus-toc.js";
import {
  expectDtmfBothWays,
  expectOpusAudio,
  makeDeskTone,
  makeFarTone,
  startToneDesk,
  startToneFar,
} from "../lab/tone-desk.js";
import { type Datagram, startCapture } from "../lab/wire.js";
import type { Inputs } from "../sip/harness.js";

const KAMAILIO_BASE_FROM = 28360;
const PORT_MIN = 24800;
const PORT_MAX = 24899;

let link: VethLink;
let kam: Kamailio;
let dir: string;
let agent: SipAgent;
let inputs: Inputs;
let far: Baresip;
const desk = memoryLogger("debug");

const sip = (a: SipAction) => agent.execute({ type: "sip", ...a });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logged = (msg: string) => desk.lines.filter((l) => l.msg === msg);
const digits = () => logged("DTMF received").filter((l) => l.via === "rtp");

beforeAll(async () => {
  link = await createVethLink();
  kam = await startKamailio({ base: await findFreeBase(KAMAILIO_BASE_FROM), listen: link.rootAddress });
  dir = await mkdtemp(join(tmpdir(), "cuffia-opus-dtls-"));
  const farTone = await makeFarTone(dir, "opus");
  ({ agent, inputs } = await startToneDesk({
    url: `ws://${kam.domain}:${kam.wsPort}`,
    sip: { aor: `sip:1017@${kam.domain}` },
    tone: await makeDeskTone(dir),
    sinkDir: dir,
    rtp: {
      address: link.rootAddress,
      portMin: PORT_MIN,
      portMax: PORT_MAX,
      codecs: ["opus", "g722", "pcma", "pcmu"],
      ice: { hostAddresses: [link.rootAddress] },
      offerDtls: true,
    },
    log: desk.log,
  }));
  far = await startToneFar(kam, farTone, {
    audioCodecs: ["opus", "pcmu"],
    mediaenc: "dtls_srtp",
    medianat: "ice",
    rtcpMux: true,
    netns: { ns: link.ns, address: link.address, nat: link },
  });
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await far?.stop();
  await kam?.stop();
  await link?.teardown();
});

/**
 * The desk's media ports on every interface, to or from the link's addresses: the desk's sockets
 * are bound to its end, so a datagram it sent anywhere else (eth0's address) is caught too, and
 * other runs on the same ports (other worktrees) are not.
 */
const captureMedia = () =>
  startCapture(
    dir,
    `udp portrange ${PORT_MIN}-${PORT_MAX} and (host ${link.rootAddress} or host ${link.address})`,
    "any",
  );

/** Encrypted: DTLS seen, and in each direction the first payload byte is spread (not a TOC). */
function judgeWire(datagrams: readonly Datagram[]): void {
  // ICE used the link's two addresses and nothing else: none of the machine's own
  expect(addressesSeen(datagrams)).toEqual([link.rootAddress, link.address].sort());
  const own = machineAddresses();
  expect(datagrams.filter((d) => own.includes(d.dstAddress) || own.includes(d.srcAddress))).toHaveLength(0);
  expect(datagrams.some((d) => d.payload[0] === 22)).toBe(true); // DTLS handshake records
  const inRange = (p: number) => p >= PORT_MIN && p <= PORT_MAX;
  const rtp = rtpDatagrams(datagrams);
  for (const leg of [rtp.filter((d) => inRange(d.srcPort)), rtp.filter((d) => inRange(d.dstPort))]) {
    expect(leg.length).toBeGreaterThan(100);
    // Clear Opus at a steady rate: one or two TOC bytes make nearly every packet
    // (opus-calls.test.ts checks that on a clear call).
    expect(commonestFirstByteShare(leg)).toBeLessThan(0.1);
  }
}

const judgeAudio = (callId: string) => expectOpusAudio(far, dir, callId);

const checkDtmf = (callId: string) =>
  expectDtmfBothWays({ far, desk: { sip }, received: digits, callId, farDigit: "8", deskDigit: "2" });

describe("Opus in DTLS-SRTP + ICE with baresip", () => {
  it("baresip calls the desk: Opus over UDP/TLS/RTP/SAVPF, audio and DTMF both ways, nothing clear", async () => {
    const capture = await captureMedia();
    const mark = inputs.mark;
    await far.dial(`sip:1017@${kam.domain}`);
    const offer = await inputs.waitFor("call_offered", () => true, 10_000, mark);
    await sip({ action: "answer", callId: offer.callId });
    await inputs.waitFor("call_answered", (i) => i.callId === offer.callId);
    await far.waitFor("CALL_ESTABLISHED");
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
    const capture = await captureMedia();
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
