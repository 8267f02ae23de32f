/**
 * Opus (RFC 6716) for one call, on libopus-wasm: libopus 1.6.1 compiled to WebAssembly (inlined
 * in one ES module), so nothing is built or downloaded at install time on any architecture
 * (README § Calls and audio says why this library).
 *
 * Loaded lazily: a desk that never negotiates Opus never loads the module nor its wasm memory.
 * `preloadOpus()` starts the load (a dynamic import, the wasm compiled, then a warm-up) as soon
 * as a call may use Opus (our offer carries it, or a far end's offer we will answer chose it),
 * off the answer's path. The library only creates codecs asynchronously: a codec made before
 * the load finished (the first outbound Opus call's answer) is not `ready` until it has, and
 * once loaded a new codec is ready a few microtasks later, before any packet or tick.
 *
 * What a call gets: encode and decode whole packets; libopus's own concealment (PLC) of lost
 * audio (`conceal`); and the recovery of a lost packet from the next one's in-band FEC data
 * (`recover`, opus_decode with decode_fec = 1), used when the next packet is already here when
 * the gap is found (audio-bridge.ts). Our encoder adds in-band FEC when the far end says it can
 * use it (useinbandfec=1), and our SDP says we use the far end's.
 *
 * The encoder and decoder live in wasm memory, not the JS heap: `close()` frees them, and must be
 * called when the call ends.
 */
import { setFlagsFromString } from "node:v8";
import type { OpusDecoderHandle, OpusEncoderHandle } from "libopus-wasm";
import { opusFecSamples, opusPacketSamples } from "./opus-packet.js";
import { maxBandwidthFor, OPUS_DEFAULT_PARAMS, type OpusSendParams } from "./opus-sdp.js";

type Libopus = typeof import("libopus-wasm");

/** libopus CTL numbers (opus_defines.h). */
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
/** We decode packets of up to 60 ms at 48 kHz (longer ones are refused as malformed). */
export const OPUS_MAX_DECODED = 2880;

let lib: Libopus | null = null;
let loading: Promise<Libopus> | null = null;
let warming: Promise<void> | null = null;

/** Voice-like frames through an encoder and decoder (the paths a call takes). */
function runFrames(enc: OpusEncoderHandle, dec: OpusDecoderHandle, count: number, from = 0): void {
  const pcm = new Int16Array(960);
  for (let f = from; f < from + count; f++) {
    for (let i = 0; i < pcm.length; i++) {
      const t = f * 960 + i;
      pcm[i] = Math.round(4000 * Math.sin(t / 40) * (1 + Math.sin(t / 9000)) + 800 * Math.sin(t / 7));
    }
    const packet = enc.encode(pcm);
    // Every fourth one "lost": the FEC and concealment paths get compiled too.
    if (f % 4 === 3) dec.decode(packet, { decodeFec: true, frameSize: 960 });
    dec.decode(packet);
  }
}

/** Frames of the preload's warm-up, in steps of WARM_STEP between turns of the event loop. */
const WARM_FRAMES = 150;
const WARM_STEP = 10;

/**
 * Starts loading libopus (once); resolves when a codec can be created at no cost.
 *
 * V8 compiles wasm lazily, function by function on first call: the first frames of a call then
 * stalled the event loop for 40-240 ms on the shared benchmark machine (and the packet clock
 * skipped ticks). The module is compiled eagerly instead (V8's flag, read when a module is
 * compiled, put back once it is), then a few seconds' worth of frames go through a throw-away
 * codec, a few at a time between turns of the event loop: V8 optimizes the hot wasm functions
 * (on a background thread) while the desk rings, not during the first seconds of the first call.
 */
export function preloadOpus(): Promise<void> {
  warming ??= loadLibrary().then(async (m) => {
    // FEC on, as for a far end that asks for it: the FEC decoding path is warmed too.
    const enc = await m.createEncoder({
      channels: 1,
      application: OPUS_APPLICATION_VOIP,
      complexity: OPUS_COMPLEXITY,
      fec: true,
      packetLossPercent: FEC_LOSS_PERCENT,
    });
    const dec = await m.createDecoder({ channels: 1, maxFrameSize: OPUS_MAX_DECODED });
    try {
      for (let done = 0; done < WARM_FRAMES; done += WARM_STEP) {
        runFrames(enc, dec, WARM_STEP, done);
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      enc.free();
      dec.free();
    }
  });
  warming.catch(() => {
    warming = null; // the next call tries again
  });
  return warming;
}

/** The library, imported and its wasm compiled (eagerly: see preloadOpus), once. */
function loadLibrary(): Promise<Libopus> {
  loading ??= import("libopus-wasm").then(async (m) => {
    setFlagsFromString("--no-wasm-lazy-compilation");
    try {
      await m.loadLibopus();
    } finally {
      setFlagsFromString("--wasm-lazy-compilation");
    }
    lib = m;
    return m;
  });
  loading.catch(() => {
    loading = null;
  });
  return loading;
}

/** Whether libopus is loaded in this process (for tests and the RSS bench). */
export function isOpusLoaded(): boolean {
  return lib !== null;
}

export type OpusDecodeResult = Int16Array | "malformed";

/**
 * One call's encoder and decoder, 48 kHz mono, 20 ms frames out; any frame size in.
 * `OpusCodec.create()` when the caller can wait; `new OpusCodec()` when it cannot (the codec is
 * usable once `ready`).
 */
export class OpusCodec {
  private enc: OpusEncoderHandle | null = null;
  private dec: OpusDecoderHandle | null = null;
  private closed = false;
  private failure: Error | null = null;
  /** TOC byte of the last packet decoded; -1 before the first (concealment is then silence). */
  private lastToc = -1;
  /** Packets refused by libopus itself after passing our framing checks. */
  rejectedByDecoder = 0;
  /** Resolves when the codec can be used (rejects if libopus cannot be loaded). */
  readonly whenReady: Promise<void>;

  constructor(private readonly params: OpusSendParams = OPUS_DEFAULT_PARAMS) {
    this.whenReady = this.open();
    this.whenReady.catch((e: Error) => {
      this.failure = e;
    });
  }

  static async create(params: OpusSendParams = OPUS_DEFAULT_PARAMS): Promise<OpusCodec> {
    const c = new OpusCodec(params);
    await c.whenReady;
    return c;
  }

  private async open(): Promise<void> {
    // Not preloaded (the first outbound Opus call's answer): the library only, not the warm-up.
    const m = lib ?? (await loadLibrary());
    const [enc, dec] = await Promise.all([
      m.createEncoder({ channels: 1, application: OPUS_APPLICATION_VOIP, complexity: OPUS_COMPLEXITY }),
      m.createDecoder({ channels: 1, maxFrameSize: OPUS_MAX_DECODED }),
    ]);
    if (this.closed) {
      enc.free();
      dec.free();
      return;
    }
    this.enc = enc;
    this.dec = dec;
    this.configure(this.params);
  }

  /** The encoder and decoder exist (libopus loaded); false until then, and after close(). */
  get ready(): boolean {
    return this.enc !== null && !this.closed;
  }

  /** Why the codec could not be made (libopus failed to load), once it is known. */
  get loadError(): Error | null {
    return this.failure;
  }

  /** Applies the far end's wishes (opus-sdp.ts) to our encoder. */
  configure(p: OpusSendParams): void {
    const e = this.enc;
    if (!e) return;
    e.encoderCtl(CTL.SET_SIGNAL, OPUS_SIGNAL_VOICE);
    e.encoderCtl(CTL.SET_COMPLEXITY, OPUS_COMPLEXITY);
    e.encoderCtl(CTL.SET_BITRATE, p.bitrate);
    e.encoderCtl(CTL.SET_MAX_BANDWIDTH, maxBandwidthFor(p.maxPlaybackRate));
    e.encoderCtl(CTL.SET_VBR, p.cbr ? 0 : 1);
    e.encoderCtl(CTL.SET_INBAND_FEC, p.inbandFec ? 1 : 0);
    e.encoderCtl(CTL.SET_PACKET_LOSS_PERC, p.inbandFec ? FEC_LOSS_PERCENT : 0);
  }

  private live(): { enc: OpusEncoderHandle; dec: OpusDecoderHandle } {
    if (this.closed) throw new Error("Opus codec is closed");
    if (!this.enc || !this.dec) throw new Error("Opus codec is not ready (libopus still loading)");
    return { enc: this.enc, dec: this.dec };
  }

  /** One frame (2.5-60 ms at 48 kHz; we send 20 ms) into one packet. */
  encode(pcm: Int16Array): Uint8Array {
    return this.live().enc.encode(pcm, { frameSize: pcm.length });
  }

  /**
   * One packet into `out` (at least OPUS_MAX_DECODED samples long); the decoded samples, a view
   * of `out`. A packet whose framing is invalid, longer than 60 ms, or refused by libopus is
   * "malformed" (the caller counts it): nothing is thrown for what the far end sends.
   */
  decode(payload: Uint8Array, out: Int16Array): OpusDecodeResult {
    const { dec } = this.live();
    const n = opusPacketSamples(payload);
    // A TOC alone is a valid packet (a lost/DTX frame, §3.2.1), but libopus-wasm refuses empty.
    if (n === null || n > OPUS_MAX_DECODED || n > out.length) return "malformed";
    let pcm: Int16Array;
    try {
      pcm = dec.decode(payload);
    } catch {
      this.rejectedByDecoder++;
      return "malformed";
    }
    this.lastToc = payload[0] ?? -1;
    return copySamples(pcm, out);
  }

  /**
   * libopus's concealment of `samples` lost samples (a multiple of 120, at most 5760: 120 ms) into
   * `out`, so the decoder's state carries across the gap; silence before the first packet.
   */
  conceal(samples: number, out: Int16Array): Int16Array {
    const { dec } = this.live();
    if (this.lastToc < 0) {
      out.fill(0, 0, samples);
      return out.subarray(0, samples);
    }
    return copySamples(dec.decode(null, { frameSize: samples }), out);
  }

  /**
   * The `samples` lost just before `next` (the packet that follows them, not decoded here) into
   * `out`: the last `next`-frame's worth from `next`'s in-band FEC data (opus_decode with
   * decode_fec = 1), the rest, if any, by concealment. A `next` without FEC data (CELT, or FEC
   * off at the sender), malformed, or longer than the gap: all concealed. Returns how many of
   * the samples came from FEC (0 when none did).
   */
  recover(samples: number, next: Uint8Array, out: Int16Array): number {
    const { dec } = this.live();
    // libopus uses no FEC data after a CELT-only packet (its decoder state is CELT's): it conceals.
    const afterSilk = this.lastToc >= 0 && this.lastToc >> 3 < 16;
    const fec = afterSilk ? opusFecSamples(next) : 0;
    const n = opusPacketSamples(next);
    if (fec === 0 || fec > samples || n === null || n > OPUS_MAX_DECODED) {
      this.conceal(samples, out);
      return 0;
    }
    // libopus conceals all but the FEC frame's duration, then decodes the FEC frame.
    try {
      copySamples(dec.decode(next, { decodeFec: true, frameSize: samples }), out);
    } catch {
      this.conceal(samples, out);
      return 0;
    }
    return fec;
  }

  /** Frees the encoder and decoder (wasm memory). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.enc?.free();
    this.dec?.free();
    this.enc = null;
    this.dec = null;
  }
}

/** Decoded samples into `out`; the samples written, a view of `out`. */
function copySamples(pcm: Int16Array, out: Int16Array): Int16Array {
  const n = Math.min(out.length, pcm.length);
  out.set(n === pcm.length ? pcm : pcm.subarray(0, n));
  return out.subarray(0, n);
}
