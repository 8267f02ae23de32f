/**
 * The tone desk: the harness the call tests share (sip-calls, srtp-calls, opus-calls,
 * media-dtls-ice, opus-dtls-ice, media-webrtc-gateway). A SipAgent with the real media factory
 * plays a looping tone and records each call into `sink-{call}.wav`; a far baresip plays another
 * tone and records what it hears; after a call each side's recording is measured
 * (`toneError`: how far its dominant frequency is from the tone the other side played).
 * What differs between the tests (Kamailio, URL, RTP ports, codecs, ICE, encryption, the far
 * end's modules) is passed in, so it stays at each test file's top.
 */
import { execFileSync } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "vitest";
import type { DeskInput, SipAction } from "../../src/core/types.js";
import { createLogger, type Logger, silentLogger } from "../../src/log/logger.js";
import { createMediaFactory, type MediaFactoryOptions } from "../../src/media/factory.js";
import type { SipOptions } from "../../src/sip/options.js";
import { SipAgent } from "../../src/sip/sip-agent.js";
import { Inputs, testSipOptions } from "../sip/harness.js";
import { dominantFrequency, makeTone, readWav, wavComplete } from "./audio.js";
import { type Baresip, type BaresipOptions, startBaresip } from "./baresip.js";
import type { Kamailio } from "./kamailio.js";
import { baresipPort } from "./ports.js";
import { waitUntil } from "./proc.js";

/** The tone the desk plays, Hz. */
export const DESK_HZ = 1000;
/** The tone the far baresip plays, Hz. */
export const FAR_HZ = 600;

/** Silent unless SIP_DEBUG is set (then debug lines to stderr). */
export const sipDebugLog: Logger = process.env.SIP_DEBUG
  ? createLogger({ level: "debug", destination: process.stderr })
  : silentLogger;

/** The desk's tone: DESK_HZ, 3 s, 8 kHz mono (the desk loops it). */
export function makeDeskTone(dir: string): Promise<string> {
  return makeTone(join(dir, "desk.wav"), { freq: DESK_HZ, seconds: 3 });
}

/**
 * The far end's tone: FAR_HZ for 30 s at 8 kHz mono, or for Opus 60 s at 48 kHz stereo (baresip's
 * aufile plays a file only at the codec's rate and channels, opus/48000/2).
 */
export async function makeFarTone(dir: string, format: "8k" | "opus" = "8k"): Promise<string> {
  if (format === "8k") return makeTone(join(dir, "far.wav"), { freq: FAR_HZ, seconds: 30 });
  const path = join(dir, "far.wav");
  execFileSync("sox", [
    ...["-n", "-r", "48000", "-c", "2", "-b", "16", path],
    ...["synth", "60", "sine", String(FAR_HZ), "vol", "0.5"],
  ]);
  return path;
}

export interface ToneDeskOptions {
  /** The SIP server URL (ws://, wss://, tls://, tcp://). */
  readonly url: string;
  /** What differs from testSipOptions' defaults (aor, caFile...). */
  readonly sip?: Partial<SipOptions>;
  /** The WAV the desk loops as its source (makeDeskTone). */
  readonly tone: string;
  /** Where each call's `sink-{call}.wav` is written. */
  readonly sinkDir: string;
  readonly rtp: MediaFactoryOptions["rtp"];
  readonly signallingSecure?: boolean;
  readonly log: Logger;
}

export interface ToneDesk {
  readonly agent: SipAgent;
  readonly inputs: Inputs;
  readonly sinkDir: string;
  /** Executes one SIP action, as the desk's rules would. */
  sip(a: SipAction): void | Promise<void>;
}

/** Starts the desk and waits until it is registered (stopped again if it is not). */
export async function startToneDesk(o: ToneDeskOptions): Promise<ToneDesk> {
  const agent = new SipAgent({
    options: testSipOptions(o.url, o.sip),
    media: createMediaFactory({
      audio: {
        source: { type: "file", path: o.tone, loop: true },
        sink: { type: "file", path: join(o.sinkDir, "sink-{call}.wav") },
      },
      rtp: o.rtp,
      ...(o.signallingSecure !== undefined ? { signallingSecure: o.signallingSecure } : {}),
      log: o.log,
    }),
    log: o.log,
  });
  const inputs = new Inputs();
  await agent.start(inputs.emit);
  try {
    await inputs.waitForSip((i) => i.sip === "registered");
  } catch (error) {
    await agent.stop();
    throw error;
  }
  return { agent, inputs, sinkDir: o.sinkDir, sip: (a) => agent.execute({ type: "sip", ...a }) };
}

/** The far end: baresip user 2001 on `kam`, playing `audioFile`, recording, SIP-tracing; `extra` on top. */
export async function startToneFar(
  kam: Kamailio,
  audioFile: string,
  extra: Partial<Omit<BaresipOptions, "kamailio" | "user" | "port" | "audioFile">> = {},
): Promise<Baresip> {
  return startBaresip({
    kamailio: kam,
    user: "2001",
    port: await baresipPort(),
    audioFile,
    record: true,
    sipTrace: true,
    ...extra,
  });
}

/**
 * The far baresip calls the desk (1017 on `kam`) and the desk answers; resolves once baresip has
 * the call established too, with the desk's call_offered and call_answered inputs.
 */
export async function farCallsDesk(d: {
  readonly far: Baresip;
  readonly kam: Kamailio;
  readonly inputs: Inputs;
  sip(a: SipAction): void | Promise<void>;
}): Promise<{
  offer: Extract<DeskInput, { type: "call_offered" }>;
  answered: Extract<DeskInput, { type: "call_answered" }>;
}> {
  const mark = d.inputs.mark;
  await d.far.dial(`sip:1017@${d.kam.domain}`);
  const offer = await d.inputs.waitFor("call_offered", () => true, 10_000, mark);
  await d.sip({ action: "answer", callId: offer.callId });
  const answered = await d.inputs.waitFor("call_answered", (i) => i.callId === offer.callId);
  await d.far.waitFor("CALL_ESTABLISHED");
  return { offer, answered };
}

/** The far end's latest recording of what it received (baresip's `-dec.wav`), if any. */
export async function latestDecoded(far: Baresip): Promise<string | undefined> {
  return (await far.recordings())
    .filter((r) => r.endsWith("-dec.wav"))
    .sort()
    .at(-1);
}

/** How far the recording's dominant frequency (its first 0.5 s skipped) is from `hz`, Hz. */
export async function toneError(path: string, hz: number): Promise<number> {
  return Math.abs((await dominantFrequency(path, { skipSeconds: 0.5 })) - hz);
}

/**
 * An Opus call's audio, both ways, measured after the call: the far end heard DESK_HZ, and the
 * desk's sink for `callId` (in `sinkDir`) is at 48 kHz and heard FAR_HZ. Waits (bounded) for
 * each recording to be closed first.
 */
export async function expectOpusAudio(far: Baresip, sinkDir: string, callId: string): Promise<void> {
  const dec = await latestDecoded(far);
  expect(dec).toBeDefined();
  await waitUntil("baresip's recording closed", () => wavComplete(dec as string), 5000);
  expect(await toneError(dec as string, DESK_HZ)).toBeLessThan(20);
  const sink = (await readdir(sinkDir)).find((f) => f === `sink-${callId}.wav`);
  expect(sink).toBeDefined();
  const path = join(sinkDir, sink as string);
  await waitUntil("the desk's recording closed", () => wavComplete(path), 5000);
  expect((await readWav(path)).rate).toBe(48000);
  expect(await toneError(path, FAR_HZ)).toBeLessThan(20);
}

/**
 * RFC 4733 DTMF both ways on the call: the far end's `farDigit` reaches the desk (`received`: the
 * digits the desk reported so far), and the desk's `deskDigit` reaches the far end.
 */
export async function expectDtmfBothWays(o: {
  readonly far: Baresip;
  readonly desk: Pick<ToneDesk, "sip">;
  readonly received: () => readonly Record<string, unknown>[];
  readonly callId: string;
  readonly farDigit: string;
  readonly deskDigit: string;
}): Promise<void> {
  const before = o.received().length;
  await o.far.sendDtmf(o.farDigit);
  await waitUntil("the desk got baresip's digit", async () => o.received().length > before, 5000);
  expect(o.received()[before]).toMatchObject({ digit: o.farDigit, callId: o.callId });
  o.far.skip();
  await o.desk.sip({ action: "dtmf", callId: o.callId, digits: o.deskDigit });
  const ev = await o.far.waitFor("CALL_DTMF_START", 10_000);
  expect(JSON.stringify(ev)).toMatch(new RegExp(`"${o.deskDigit}"`));
}
