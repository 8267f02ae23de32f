/**
 * Opus (RFC 6716) for one call, on opusscript: libopus 1.4 compiled to WebAssembly, so nothing is
 * built or downloaded at install time on any architecture (README § Calls and audio says why).
 *
 * Loaded lazily: a desk that never negotiates Opus never loads the module nor its wasm memory
 * (about 6 MB of RSS). `preloadOpus()` starts the load (a dynamic import, then one throw-away
 * instance so the wasm is compiled) as soon as a call may use Opus (our offer carries it, or a
 * far end's offer we will answer chose it), off the answer's path; a codec wanted before that
 * finished loads it synchronously (a few ms, once per process).
 *
 * What opusscript exposes, and so what this does: encode and decode whole packets, encoder and
 * decoder CTLs that take one integer (bitrate, complexity, in-band FEC, expected loss, bandwidth,
 * VBR). Its decode always passes decode_fec = 0, so the in-band FEC of the next packet cannot be
 * asked for: a lost packet is concealed by libopus's own PLC instead (`conceal`), which the
 * decoder runs when given a one-byte packet (opus-packet.ts). Our encoder adds in-band FEC when
 * the far end says it can use it (useinbandfec=1), and our SDP does not claim we can.
 *
 * The encoder and decoder live in wasm memory, not the JS heap: `close()` frees them (`delete()`),
 * and must be called when the call ends.
 */
import { createRequire } from "node:module";
import { setFlagsFromString } from "node:v8";
import type OpusScript from "opusscript";
import { concealmentTocs, opusPacketSamples } from "./opus-packet.js";
import { maxBandwidthFor, OPUS_DEFAULT_PARAMS, type OpusSendParams } from "./opus-sdp.js";

type OpusScriptClass = typeof OpusScript;

/** libopus CTL numbers (opus_defines.h); opusscript passes them through. */
const CTL = {
  SET_BITRATE: 4002,
  SET_MAX_BANDWIDTH: 4004,
  SET_VBR: 4006,
  SET_COMPLEXITY: 4010,
  SET_INBAND_FEC: 4012,
  SET_PACKET_LOSS_PERC: 4014,
  SET_SIGNAL: 4024,
} as const;
const OPUS_APPLICATION_VOIP = 2048;
const OPUS_SIGNAL_VOICE = 3001;
/**
 * Encoder complexity 0-10. 5 costs about 60 % of 10's encoding time for speech that listeners
 * do not tell apart at 32 kbit/s (README § Performance has the figures per frame).
 */
export const OPUS_COMPLEXITY = 5;
/** Expected loss the encoder codes FEC for, when FEC is on (libopus codes none at 0 %). */
const FEC_LOSS_PERCENT = 10;
/** opusscript decodes into a buffer of 60 ms at 48 kHz: longer packets cannot be decoded. */
export const OPUS_MAX_DECODED = 2880;

let loaded: OpusScriptClass | null = null;
let loading: Promise<OpusScriptClass> | null = null;

/**
 * Compiles libopus's wasm (on the first instance, not on import) and runs a few frames through
 * it. V8 compiles wasm lazily, function by function on first call: the first frame of a call
 * then stalled the event loop for 40-240 ms on the shared benchmark machine (and the packet
 * clock skipped ticks). Compiled eagerly instead, the whole module takes 20-40 ms of CPU here,
 * once, in the load: while the desk rings for an inbound call (preloadOpus), as the answer
 * arrives for an outbound one. The flag is V8's, read when a module is compiled, and put back
 * at once: no other wasm is concerned.
 */
function warm(cls: OpusScriptClass): OpusScriptClass {
  setFlagsFromString("--no-wasm-lazy-compilation");
  let probe: OpusScript;
  try {
    probe = new cls(48_000, 1, OPUS_APPLICATION_VOIP);
  } finally {
    setFlagsFromString("--wasm-lazy-compilation");
  }
  try {
    runFrames(probe, 3);
  } finally {
    probe.delete();
  }
  loaded = cls;
  return cls;
}

/** Voice-like frames through an encoder and decoder (the paths a call takes). */
function runFrames(opus: OpusScript, count: number): void {
  const pcm = new Int16Array(960);
  for (let f = 0; f < count; f++) {
    for (let i = 0; i < pcm.length; i++) {
      const t = f * 960 + i;
      pcm[i] = Math.round(4000 * Math.sin(t / 40) * (1 + Math.sin(t / 9000)) + 800 * Math.sin(t / 7));
    }
    opus.decode(opus.encode(Buffer.from(pcm.buffer), pcm.length));
  }
}

/** Frames of the preload's warm-up, in steps of WARM_STEP between turns of the event loop. */
const WARM_FRAMES = 150;
const WARM_STEP = 10;

/**
 * Starts loading libopus (once); resolves when a codec can be created at no cost. Besides the
 * compile, it runs a few seconds' worth of frames through a throw-away codec, a few at a time
 * between turns of the event loop: V8 then optimizes the hot wasm functions (on a background
 * thread, 0.4-0.6 s of CPU on the benchmark machine) while the desk rings, not during the
 * first seconds of the first Opus call, where it competed with the packet clock.
 */
export function preloadOpus(): Promise<void> {
  if (loaded) return loading?.then(() => undefined) ?? Promise.resolve();
  loading ??= import("opusscript").then(async (m) => {
    const cls = (loaded ?? warm(m.default)) as OpusScriptClass;
    const probe = new cls(48_000, 1, OPUS_APPLICATION_VOIP);
    try {
      probe.encoderCTL(CTL.SET_COMPLEXITY, OPUS_COMPLEXITY);
      for (let done = 0; done < WARM_FRAMES; done += WARM_STEP) {
        runFrames(probe, WARM_STEP);
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      probe.delete();
    }
    return cls;
  });
  return loading.then(() => undefined);
}

/** Whether libopus is loaded in this process (for tests and the RSS bench). */
export function isOpusLoaded(): boolean {
  return loaded !== null;
}

function opusClass(): OpusScriptClass {
  if (loaded) return loaded;
  // Needed before the preload finished: the same CommonJS module, synchronously.
  return warm(createRequire(import.meta.url)("opusscript") as OpusScriptClass);
}

export type OpusDecodeResult = Int16Array | "malformed";

/**
 * One call's encoder and decoder, 48 kHz mono, 20 ms frames out; any frame size in.
 */
export class OpusCodec {
  /** One opusscript instance holds an encoder and a decoder, each with its own state. */
  private readonly opus: OpusScript;
  private closed = false;
  /** TOC byte of the last packet decoded (the concealment copies its layout). */
  private lastToc = -1;
  /** Packets refused by libopus itself after passing our framing checks. */
  rejectedByDecoder = 0;

  constructor(params: OpusSendParams = OPUS_DEFAULT_PARAMS) {
    this.opus = new (opusClass())(48_000, 1, OPUS_APPLICATION_VOIP);
    this.configure(params);
  }

  /** Applies the far end's wishes (opus-sdp.ts) to our encoder. */
  configure(p: OpusSendParams): void {
    const e = this.opus;
    e.encoderCTL(CTL.SET_SIGNAL, OPUS_SIGNAL_VOICE);
    e.encoderCTL(CTL.SET_COMPLEXITY, OPUS_COMPLEXITY);
    e.encoderCTL(CTL.SET_BITRATE, p.bitrate);
    e.encoderCTL(CTL.SET_MAX_BANDWIDTH, maxBandwidthFor(p.maxPlaybackRate));
    e.encoderCTL(CTL.SET_VBR, p.cbr ? 0 : 1);
    e.encoderCTL(CTL.SET_INBAND_FEC, p.inbandFec ? 1 : 0);
    e.encoderCTL(CTL.SET_PACKET_LOSS_PERC, p.inbandFec ? FEC_LOSS_PERCENT : 0);
  }

  /** One frame (2.5-60 ms at 48 kHz; we send 20 ms) into one packet. */
  encode(pcm: Int16Array): Uint8Array {
    if (this.closed) throw new Error("Opus codec is closed");
    return this.opus.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), pcm.length);
  }

  /**
   * One packet into `out` (at least OPUS_MAX_DECODED samples long); the decoded samples, a view
   * of `out`. A packet whose framing is invalid, longer than 60 ms, or refused by libopus is
   * "malformed" (the caller counts it): nothing is thrown for what the far end sends.
   */
  decode(payload: Uint8Array, out: Int16Array): OpusDecodeResult {
    if (this.closed) throw new Error("Opus codec is closed");
    const n = opusPacketSamples(payload);
    if (n === null || n > OPUS_MAX_DECODED || n > out.length) return "malformed";
    let pcm: Buffer;
    try {
      pcm = this.opus.decode(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
    } catch {
      this.rejectedByDecoder++;
      return "malformed";
    }
    this.lastToc = payload[0] ?? -1;
    return copySamples(pcm, out);
  }

  /**
   * libopus's concealment of `samples` lost samples (a multiple of 120) into `out`, so the
   * decoder's state carries across the gap; silence before the first packet.
   */
  conceal(samples: number, out: Int16Array): Int16Array {
    if (this.closed) throw new Error("Opus codec is closed");
    if (this.lastToc < 0) {
      out.fill(0, 0, samples);
      return out.subarray(0, samples);
    }
    let at = 0;
    for (const toc of concealmentTocs(samples, this.lastToc)) {
      const got = copySamples(this.opus.decode(Buffer.of(toc)), out.subarray(at));
      at += got.length;
    }
    return out.subarray(0, at);
  }

  /** Frees the encoder and decoder (wasm memory). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.opus.delete();
  }
}

/** opusscript's little-endian 16-bit bytes into `out`; the samples written, a view of `out`. */
function copySamples(bytes: Buffer, out: Int16Array): Int16Array {
  const n = Math.min(out.length, bytes.length >> 1);
  for (let i = 0; i < n; i++) out[i] = bytes.readInt16LE(2 * i);
  return out.subarray(0, n);
}
