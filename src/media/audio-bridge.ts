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
  /** Decoded samples per payload byte (2 for G.722). */
  readonly samplesPerByte: number;
}

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
  /** Called when a live source completes a frame (the stream's clock sends it at once). */
  private frameCaptured: (() => void) | null = null;
  /** Samples a live source holds now (its last report), and one frame of them. */
  private captureHeld = 0;
  private captureFrame = Number.POSITIVE_INFINITY;

  constructor(private readonly o: AudioBridgeOptions) {}

  /** A newly negotiated codec (or payload type): fresh codec state and buffers. */
  setCodec(info: CodecInfo): void {
    const frameSamples = (info.sampleRate * this.o.frameMs) / 1000;
    const tsPerFrame = (info.clockRate * this.o.frameMs) / 1000;
    this.format = {
      codec: createCodec(info.name),
      sendFrame: new Int16Array(frameSamples),
      // G.711 and G.722 (64 kbit/s, 8000 Hz RTP clock) alike: one byte per timestamp unit.
      payload: new Uint8Array(tsPerFrame),
      samplesPerByte: info.sampleRate / info.clockRate,
    };
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

  /** Encodes a frame (the codec's size); the payload is valid until the next call. */
  encode(frame: Int16Array): Uint8Array {
    const f = this.format;
    if (!f) throw new Error("no codec negotiated");
    return f.codec.encode(frame, f.payload);
  }

  /** Decodes one payload; the samples are valid until the next call (the jitter buffer copies them). */
  decode(payload: Uint8Array): Int16Array {
    const f = this.format;
    if (!f) throw new Error("no codec negotiated");
    const need = payload.length * f.samplesPerByte;
    if (this.decoded.length < need) this.decoded = new Int16Array(Math.max(need, 320));
    return f.codec.decode(payload, this.decoded.subarray(0, need));
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

  /** Closes the devices (waiting for them to open first, if they are still opening). */
  async close(): Promise<void> {
    this.closed = true;
    await this.opening?.catch(() => undefined);
    const closing: Array<Promise<void>> = [];
    if (this.source) closing.push(this.source.close());
    if (this.sink) closing.push(this.sink.close());
    await Promise.allSettled(closing);
  }
}
