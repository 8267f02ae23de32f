/**
 * Opus (RFC 7587) against baresip's `opus` module through a real Kamailio: baresip calls the desk
 * and the desk calls baresip, Opus negotiated on the wire (opus/48000/2, and the
 * telephone-event/8000 baresip 1.0 has beside it), audio both ways by measurement (each side
 * hears the other's tone; the desk's recording is at 48 kHz), DTMF both ways. The desk's tone is
 * an 8 kHz WAV resampled to 48 kHz before Opus: it must arrive at the same frequency.
 * (telephone-event/48000 between two desks: test/media/session-loopback.test.ts.)
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
import { startCapture } from "../lab/wire.js";
import { Inputs, testSipOptions } from "../sip/harness.js";

const DESK_HZ = 1000;
const FAR_HZ = 600;

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
  kam = await startKamailio({ base: await findFreeBase(28260) });
  dir = await mkdtemp(join(tmpdir(), "cuffia-opus-calls-"));
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
      // The default order: wideband first.
      rtp: { address: "127.0.0.1", portMin: 24600, portMax: 24699, codecs: ["opus", "g722", "pcma", "pcmu"] },
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
    audioCodecs: ["opus", "pcmu", "pcma"],
  });
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

/** Both directions measured after the call: baresip heard DESK_HZ, the desk's sink FAR_HZ at 48 kHz. */
async function checkAudio(callId: string): Promise<void> {
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

/** DTMF both ways on the call: baresip's digits reach the desk, the desk's reach baresip. */
async function checkDtmf(callId: string): Promise<void> {
  const before = digits().length;
  await far.sendDtmf("5");
  await waitUntil("the desk got baresip's digit", async () => digits().length > before, 5000);
  expect(digits()[before]).toMatchObject({ digit: "5", callId });
  far.skip();
  await sip({ action: "dtmf", callId, digits: "7" });
  const ev = await far.waitFor("CALL_DTMF_START", 10_000);
  expect(JSON.stringify(ev)).toMatch(/"7"/);
}

function negotiatedCodec(): unknown {
  return logged("media negotiated").at(-1)?.codec;
}

describe("Opus with baresip", () => {
  it("baresip calls the desk: Opus answered on baresip's PT, audio and DTMF both ways", async () => {
    const capture = await startCapture(dir, "udp portrange 24600-24699");
    const mark = inputs.mark;
    await far.dial(`sip:1017@${kam.domain}`);
    const offer = await inputs.waitFor("call_offered", () => true, 10_000, mark);
    await sip({ action: "answer", callId: offer.callId });
    await inputs.waitFor("call_answered", (i) => i.callId === offer.callId);
    await far.waitFor("CALL_ESTABLISHED");
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
    const inRange = (p: number) => p >= 24600 && p <= 24699;
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
