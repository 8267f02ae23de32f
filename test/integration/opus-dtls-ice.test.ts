/**
 * Opus inside DTLS-SRTP + ICE + rtcp-mux (what a WebRTC-style PBX sends), with baresip's `opus`,
 * `dtls_srtp` and `ice` modules: baresip calls the desk and the desk calls baresip, through a
 * real Kamailio. Opus negotiated, audio both ways by measurement, DTMF both ways, and none of it
 * clear on the wire. Compressed Opus looks random to an entropy judge, so the wire check here is
 * the one SRTP makes visible for Opus: a clear Opus stream starts every payload with one of a few
 * TOC bytes (RFC 6716 §3.1: the same mode, bandwidth and frame size packet after packet); under
 * SRTP the first payload byte is keystream, spread over all 256 values.
 * ICE gathers 127.0.0.1 only (rtp.ice.host_addresses) and contacts no server.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SipAction } from "../../src/core/types.js";
import { memoryLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { SipAgent } from "../../src/sip/sip-agent.js";
import { dominantFrequency, makeTone, readWav, wavComplete } from "../lab/audio.js";
import { type Baresip, startBaresip } from "../lab/baresip.js";
import { findFreeBase, type Kamailio, startKamailio } from "../lab/kamailio.js";
import { commonestFirstByteShare, rtpDatagrams } from "../lab/opus-toc.js";
import { baresipPort } from "../lab/ports.js";
import { waitUntil } from "../lab/proc.js";
import { type Datagram, startCapture } from "../lab/wire.js";
import { Inputs, testSipOptions } from "../sip/harness.js";

const DESK_HZ = 1000;
const FAR_HZ = 600;
const PORT_MIN = 24800;
const PORT_MAX = 24899;

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
  kam = await startKamailio({ base: await findFreeBase(28360) });
  dir = await mkdtemp(join(tmpdir(), "cuffia-opus-dtls-"));
  const deskTone = await makeTone(join(dir, "desk.wav"), { freq: DESK_HZ, seconds: 3 });
  // baresip's aufile plays a file only at the codec's rate and channels (opus/48000/2).
  const farTone = join(dir, "far.wav");
  execFileSync("sox", [
    "-n",
    "-r",
    "48000",
    "-c",
    "2",
    "-b",
    "16",
    farTone,
    "synth",
    "60",
    "sine",
    String(FAR_HZ),
    "vol",
    "0.5",
  ]);
  agent = new SipAgent({
    options: testSipOptions(`ws://127.0.0.1:${kam.wsPort}`),
    media: createMediaFactory({
      audio: {
        source: { type: "file", path: deskTone, loop: true },
        sink: { type: "file", path: join(dir, "sink-{call}.wav") },
      },
      rtp: {
        address: "127.0.0.1",
        portMin: PORT_MIN,
        portMax: PORT_MAX,
        codecs: ["opus", "g722", "pcma", "pcmu"],
        ice: { hostAddresses: ["127.0.0.1"] },
        offerDtls: true,
      },
      log: desk.log,
    }),
    log: desk.log,
  });
  inputs = new Inputs();
  await agent.start(inputs.emit);
  await inputs.waitForSip((i) => i.sip === "registered");
  far = await startBaresip({
    kamailio: kam,
    user: "2001",
    port: await baresipPort(),
    audioFile: farTone,
    record: true,
    sipTrace: true,
    audioCodecs: ["opus", "pcmu"],
    mediaenc: "dtls_srtp",
    medianat: "ice",
    rtcpMux: true,
  });
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await far?.stop();
  await kam?.stop();
});

/** Encrypted: DTLS seen, and in each direction the first payload byte is spread (not a TOC). */
function judgeWire(datagrams: readonly Datagram[]): void {
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

async function judgeAudio(callId: string): Promise<void> {
  const dec = (await far.recordings())
    .filter((r) => r.endsWith("-dec.wav"))
    .sort()
    .at(-1);
  expect(dec).toBeDefined();
  await waitUntil("baresip's recording closed", () => wavComplete(dec as string), 5000);
  expect(Math.abs((await dominantFrequency(dec as string, { skipSeconds: 0.5 })) - DESK_HZ)).toBeLessThan(20);
  const sink = (await readdir(dir)).find((f) => f === `sink-${callId}.wav`);
  expect(sink).toBeDefined();
  const path = join(dir, sink as string);
  await waitUntil("the desk's recording closed", () => wavComplete(path), 5000);
  expect((await readWav(path)).rate).toBe(48000);
  expect(Math.abs((await dominantFrequency(path, { skipSeconds: 0.5 })) - FAR_HZ)).toBeLessThan(20);
}

async function checkDtmf(callId: string): Promise<void> {
  const before = digits().length;
  await far.sendDtmf("8");
  await waitUntil("the desk got baresip's digit", async () => digits().length > before, 5000);
  expect(digits()[before]).toMatchObject({ digit: "8", callId });
  far.skip();
  await sip({ action: "dtmf", callId, digits: "2" });
  const ev = await far.waitFor("CALL_DTMF_START", 10_000);
  expect(JSON.stringify(ev)).toMatch(/"2"/);
}

describe("Opus in DTLS-SRTP + ICE with baresip", () => {
  it("baresip calls the desk: Opus over UDP/TLS/RTP/SAVPF, audio and DTMF both ways, nothing clear", async () => {
    const capture = await startCapture(dir, `udp portrange ${PORT_MIN}-${PORT_MAX}`);
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
    const capture = await startCapture(dir, `udp portrange ${PORT_MIN}-${PORT_MAX}`);
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
