/**
 * The codec and audio layers of one call's media (ARCHITECTURE § Media: stream → codec → audio):
 * the negotiated codec's encoder and decoder, the call's audio source and sink (opened once, off
 * the answer's path), and the resamplers between the devices' rate and the codec's. The stream's
 * clock pulls one frame from here and pushes one frame here every tick.
 *
 * Every buffer is allocated when the codec or a device changes and reused on every tick and
 * every packet: nothing here allocates per frame.
 */
import type { AudioFaultListener, AudioSink, AudioSource } from "../audio/audio.js";
import type { PcmCache } from "../audio/file-source.js";
import { openSink, openSource } from "../audio/open.js";
import type { AudioOptions } from "../audio/options.js";
import { Resampler } from "../audio/resample.js";
import type { Logger } from "../log/logger.js";
import { type CodecInfo, type CodecInstance, createCodec } from "./codecs.js";

export interface AudioBridgeOptions {
  readonly callId: string;
  readonly audio: AudioOptions;
  readonly log: Logger;
  readonly onAudioFault?: AudioFaultListener | undefined;
  /** Decoded audio files shared between calls (the factory's). */
  readonly pcmCache?: PcmCache | undefined;
  /** Frame length, ms (the stream's packet interval). */
  readonly frameMs: number;
}

/** The codec in use and its per-frame buffers (replaced as a whole when the codec changes). */
interface Format {
  readonly codec: CodecInstance;
  /** The frame to send, at the codec's rate (reused every tick)... */
  readonly sendFrame: Int16Array;
  /** ...and its encoded payload, copied into each packet. */
  readonly payload: Uint8Array;
  /** Decoded samples per RTP timestamp unit (2 for G.722, else 1). */
  readonly samplesPerTick: number;
}

/** A received payload, decoded: where it goes on the stream's timeline, and its samples. */
export interface DecodedPayload {
  /** RTP timestamp of the first sample (earlier than the packet's own when a gap was concealed). */
  timestamp: number;
  /** Valid until the next decode (the jitter buffer copies them). */
  samples: Int16Array;
  /** Samples at the start recovered from the payload's in-band FEC data (a lost packet's). */
  fecSamples: number;
}

/** A gap this long or shorter (in samples at the codec's rate) is concealed by the codec itself. */
const CODEC_CONCEAL_MS = 120;

export class AudioBridge {
  private format: Format | null = null;
  private source: AudioSource | null = null;
  private sink: AudioSink | null = null;
  private opening: Promise<void> | null = null;
  private closed = false;
  private toCodec: Resampler | null = null;
  private toSink: Resampler | null = null;
  /** The source's frame when it runs at another rate than the codec (reused every tick). */
  private rawFrame: Int16Array | null = null;
  /** Where received payloads are decoded (the jitter buffer copies what it keeps). */
  private decoded = new Int16Array(0);
  private readonly result: DecodedPayload = { timestamp: 0, samples: new Int16Array(0), fecSamples: 0 };
  /** RTP timestamp just after the last payload decoded, for a codec that conceals (null: none yet). */
  private nextTs: number | null = null;
  /** Called when a live source completes a frame (the stream's clock sends it at once). */
  private frameCaptured: (() => void) | null = null;
  /** Samples a live source holds now (its last report), and one frame of them. */
  private captureHeld = 0;
  private captureFrame = Number.POSITIVE_INFINITY;

  constructor(private readonly o: AudioBridgeOptions) {}

  /**
   * A newly negotiated codec (or payload type): fresh codec state and buffers; the previous
   * codec is freed. `remoteFmtp`: the far end's a=fmtp for it. A codec whose library is still
   * loading (Opus) encodes and decodes nothing until it is ready; one that cannot be loaded is
   * logged, and the call goes on without audio.
   */
  setCodec(info: CodecInfo, remoteFmtp?: string): void {
    const frameSamples = (info.sampleRate * this.o.frameMs) / 1000;
    const tsPerFrame = (info.clockRate * this.o.frameMs) / 1000;
    const codec = createCodec(info.name, remoteFmtp);
    codec.whenReady?.catch((e: Error) =>
      this.o.log.error({ codec: info.name, err: e.message }, "cannot load the codec: no audio"),
    );
    this.format?.codec.close?.();
    this.format = {
      codec,
      sendFrame: new Int16Array(frameSamples),
      // G.711 and G.722 (64 kbit/s, 8000 Hz RTP clock) alike: one byte per timestamp unit.
      // (Opus hands out packets of its own.)
      payload: new Uint8Array(tsPerFrame),
      samplesPerTick: info.sampleRate / info.clockRate,
    };
    this.nextTs = null;
    this.setupResamplers();
  }

  /**
   * Opens the call's source and sink at `rate` (once; later calls do nothing). A device that
   * cannot be opened is reported and replaced by silence: the call goes on.
   */
  open(rate: number): void {
    if (this.opening) return;
    const log = this.o.log;
    const ctx = {
      rate,
      callId: this.o.callId,
      log: log.child("audio"),
      onFault: this.o.onAudioFault,
      pcmCache: this.o.pcmCache,
    };
    this.opening = (async () => {
      const [src, snk] = await Promise.allSettled([
        openSource(this.o.audio.source, ctx),
        openSink(this.o.audio.sink, ctx),
      ]);
      if (this.closed) {
        if (src.status === "fulfilled") await src.value.close();
        if (snk.status === "fulfilled") await snk.value.close();
        return;
      }
      for (const [which, r] of [
        ["source", src],
        ["sink", snk],
      ] as const) {
        if (r.status === "rejected") {
          const message = (r.reason as Error).message;
          log.error({ which, err: message }, "cannot open call audio; using silence");
          this.o.onAudioFault?.({ device: "file", message, retryInMs: null });
        }
      }
      if (src.status === "fulfilled") this.source = src.value;
      if (snk.status === "fulfilled") this.sink = snk.value;
      this.setupResamplers();
      const live = this.source;
      if (live?.onCapture) {
        this.captureFrame = Math.round((live.rate * this.o.frameMs) / 1000);
        live.onCapture((held, added) => {
          this.captureHeld = held;
          // The period that completes a frame, not every period after it (a 10 ms period
          // completes one every other time).
          if (held >= this.captureFrame && held - added < this.captureFrame) this.frameCaptured?.();
        });
      }
    })();
  }

  /** `listener` is called each time a live source (a sound card) has completed a frame. */
  onFrameCaptured(listener: () => void): void {
    this.frameCaptured = listener;
  }

  /** A live source already holds the next frame (as of its last capture and the reads since). */
  get frameReady(): boolean {
    return this.captureHeld >= this.captureFrame;
  }

  private setupResamplers(): void {
    const f = this.format;
    if (!f) return;
    const r = f.codec.info.sampleRate;
    this.toCodec = this.source && this.source.rate !== r ? new Resampler(this.source.rate, r) : null;
    this.toSink = this.sink && this.sink.rate !== r ? new Resampler(r, this.sink.rate) : null;
    this.rawFrame =
      this.source && this.toCodec
        ? new Int16Array(Math.round((this.source.rate * this.o.frameMs) / 1000))
        : null;
  }

  /**
   * This tick's frame from the source, at the codec's rate (silence without a source). Read on
   * every tick, sending or not, so the source stays in step with the clock. Valid until the next call.
   */
  capture(): Int16Array {
    const f = this.format;
    if (!f) throw new Error("no codec negotiated");
    const frame = f.sendFrame;
    if (this.source?.onCapture) this.captureHeld = Math.max(0, this.captureHeld - this.captureFrame);
    if (this.source) {
      if (this.toCodec && this.rawFrame) {
        this.source.read(this.rawFrame);
        const conv = this.toCodec.process(this.rawFrame);
        const k = Math.min(conv.length, frame.length);
        frame.set(k === conv.length ? conv : conv.subarray(0, k));
        frame.fill(0, k);
      } else {
        this.source.read(frame);
      }
    } else {
      frame.fill(0);
    }
    return frame;
  }

  /**
   * Encodes a frame (the codec's size); the payload is valid until the next call. Null while the
   * codec's library is still loading (nothing to send yet).
   */
  encode(frame: Int16Array): Uint8Array | null {
    const f = this.format;
    if (!f) throw new Error("no codec negotiated");
    if (f.codec.ready && !f.codec.ready()) return null;
    return f.codec.encode(frame, f.payload);
  }

  /** The far end's stream starts over (a new SSRC): its timestamps owe nothing to the last ones. */
  newSource(): void {
    this.nextTs = null;
  }

  /**
   * Decodes one payload of RTP timestamp `timestamp`; valid until the next call (the jitter
   * buffer copies it). "malformed": the codec refused the payload. "late": it is older than one
   * already decoded by a codec with state across packets (Opus), which would be thrown off.
   * For such a codec, a gap since the previous packet (up to CODEC_CONCEAL_MS) is filled first,
   * and the result starts at the gap: from this payload's in-band FEC data where it carries
   * some (the lost packet's audio, coded again at a lower rate; Opus), the rest by the codec's
   * own concealment. FEC waits for nothing: the payload that carries it is the one that shows
   * the gap, and the jitter buffer mostly holds it before the gap's turn (when the turn came
   * first, the buffer played a frame of its own concealment without advancing, as for any late
   * packet, and the recovered audio follows). "unready": the codec's library is still loading
   * (dropped).
   */
  decode(payload: Uint8Array, timestamp: number): DecodedPayload | "malformed" | "late" | "unready" {
    const f = this.format;
    if (!f) throw new Error("no codec negotiated");
    const c = f.codec;
    if (c.ready && !c.ready()) return "unready";
    let gap = 0;
    if (c.conceal && this.nextTs !== null) {
      const d = (timestamp - this.nextTs) | 0;
      const maxGap = (f.codec.info.clockRate * CODEC_CONCEAL_MS) / 1000;
      if (d < 0 && d > -4 * maxGap) return "late";
      // Opus frames are multiples of 2.5 ms (120 samples at 48 kHz).
      if (d > 0 && d <= maxGap && d % 120 === 0) gap = d * f.samplesPerTick;
    }
    const need = gap + c.maxDecoded(payload.length);
    if (this.decoded.length < need) this.decoded = new Int16Array(Math.max(need, 320));
    // The gap first: the codec's state must go through it before the packet.
    let fecSamples = 0;
    if (gap > 0 && c.recover) fecSamples = c.recover(gap, payload, this.decoded.subarray(0, gap));
    else if (gap > 0 && c.conceal) c.conceal(gap, this.decoded.subarray(0, gap));
    if (gap > 0) this.nextTs = timestamp;
    const samples = c.decode(payload, this.decoded.subarray(gap, need));
    if (samples === null) return "malformed";
    const r = this.result;
    r.timestamp = (timestamp - gap / f.samplesPerTick) >>> 0;
    r.samples = this.decoded.subarray(0, gap + samples.length);
    r.fecSamples = fecSamples;
    if (c.conceal) this.nextTs = (timestamp + samples.length / f.samplesPerTick) >>> 0;
    return r;
  }

  /** Plays one frame (the codec's rate) out to the sink, if there is one. */
  play(frame: Int16Array): void {
    if (this.sink) this.sink.write(this.toSink ? this.toSink.process(frame) : frame);
  }

  /** A sound card is in use (a source or sink that counts xruns), not only files or silence. */
  get hasCard(): boolean {
    return this.source?.xruns !== undefined || this.sink?.xruns !== undefined;
  }

  /** Underruns the speaker reported. */
  get underruns(): number {
    return this.sink?.xruns ?? 0;
  }

  /** Overruns the microphone reported. */
  get overruns(): number {
    return this.source?.xruns ?? 0;
  }

  get sourceDropped(): number {
    return this.source?.dropped ?? 0;
  }

  get sinkDropped(): number {
    return this.sink?.dropped ?? 0;
  }

  /** Closes the devices (waiting for them to open first, if they are still opening) and frees the codec. */
  async close(): Promise<void> {
    this.closed = true;
    this.format?.codec.close?.();
    await this.opening?.catch(() => undefined);
    const closing: Array<Promise<void>> = [];
    if (this.source) closing.push(this.source.close());
    if (this.sink) closing.push(this.sink.close());
    await Promise.allSettled(closing);
  }
}
