/**
 * The headset microphone through `arecord -t raw -f S16_LE` (mono) with explicit ALSA period and
 * buffer sizes (latency.ts): the voice arrives in periods of 10-40 ms, not arecord's default
 * 125 ms lumps.
 *
 * arecord delivers at the device's pace, or as fast as it can read for ALSA's `type file`
 * plugin: either way samples land in a ring that drops the oldest audio, and the RTP clock
 * pulls 20 ms frames from it. The ring holds a frame plus two periods: a card whose clock runs
 * faster than the host's cannot make the delay creep past that. Overruns arecord reports are
 * counted. A dead arecord is restarted with backoff (Supervisor).
 *
 * The microphone is a live source: it tells the media clock each time audio arrived
 * (`onCapture`), so a frame is sent as soon as a period completes it, not on the clock's own
 * phase. And the delay does not stand: audio left over after every read of a whole second (a
 * burst when arecord started, a capture that came after its tick once) is a delay every word
 * would carry for the rest of the call, so that much of the oldest audio is dropped. A read that
 * finds less than a frame (the capture came later than the clock waits for it) sends silence in
 * its place; if the next read finds that late audio with a whole frame behind it, the late audio
 * is dropped at once instead of a second later. How long
 * the audio waited between arriving and being read is logged when the microphone closes.
 */
import { spawn as spawnChild } from "node:child_process";
import type { Logger } from "../log/logger.js";
import type { AudioFaultListener, AudioSource } from "./audio.js";
import { explainEnd } from "./card.js";
import { type AlsaParams, alsaStreamArgs, DEFAULT_LATENCY, type DeviceLatency } from "./latency.js";
import type { RealtimePriority } from "./realtime.js";
import { Resampler } from "./resample.js";
import { S16leAssembler, SampleRing } from "./sample-ring.js";
import { AlsaStderr, stopChild } from "./speaker.js";
import { type Running, Supervisor } from "./supervisor.js";

/** A running capture process, as the microphone sees it (the test fake implements this). */
export interface Capture extends Running {}

/** What a running arecord tells about itself (optional: fakes may report nothing). */
export interface CaptureReports {
  readonly onParams?: (params: AlsaParams) => void;
  /** ALSA reported an overrun (the card's buffer filled before arecord read it). */
  readonly onOverrun?: () => void;
}

export type CaptureSpawner = (
  options: {
    readonly device: string;
    readonly rate: number;
    readonly latency: DeviceLatency;
    /** Runs the process at real-time priority when permitted (realtime.ts). */
    readonly realtime?: RealtimePriority | undefined;
  },
  onData: (chunk: Uint8Array) => void,
  onEnd: (message: string) => void,
  reports?: CaptureReports,
) => Capture;

/**
 * The real capture: arecord spawned directly with explicit period and buffer sizes.
 * (node-record-lpcm16 passes no buffer options to arecord, and runs it with -q, which hides
 * the parameters in force and the overruns.)
 */
export const arecordSpawner: CaptureSpawner = (options, onData, onEnd, reports) => {
  const argv = alsaStreamArgs(options, false);
  const [command, args] = options.realtime?.command("arecord", argv) ?? ["arecord", argv];
  const child = spawnChild(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let ended = false;
  const err = new AlsaStderr({
    params: (p) => reports?.onParams?.(p),
    xrun: () => reports?.onOverrun?.(),
  });
  const end = (message: string): void => {
    if (!ended) {
      ended = true;
      onEnd(message);
    }
  };
  child.stdout?.on("data", (chunk: Buffer) => {
    if (!ended) onData(chunk);
  });
  child.stderr?.setEncoding("latin1");
  child.stderr?.on("data", (d: string) => err.push(d));
  child.on("error", (e) => end(`arecord: ${e.message}`));
  child.on("close", (code, signal) =>
    end(`arecord exited (code ${code}, signal ${signal})${err.tail ? `: ${err.tail}` : ""}`),
  );
  return {
    stop: () => {
      ended = true;
      stopChild(child);
    },
  };
};

/** Reads over which the ring's lowest level after a read is taken as standing delay (1 s). */
const STANDING_WINDOW = 50;
/** A standing level below this (ms) is left alone: not worth a discontinuity. */
const STANDING_MIN_MS = 2;
/** Waits (capture → read) are kept in 1 ms bins up to this, for the figures logged at close. */
const WAIT_BINS = 100;

export interface MicrophoneOptions {
  readonly device: string;
  /** The call's rate: what `read` fills. */
  readonly rate: number;
  /** The rate the card is opened at (default `rate`); resampled with a low-pass in between. */
  readonly deviceRate?: number;
  readonly latency?: DeviceLatency;
  readonly log: Logger;
  readonly onFault?: AudioFaultListener | undefined;
  /** Ring capacity in ms (default: one 20 ms frame plus two periods). */
  readonly bufferMs?: number;
  readonly spawn?: CaptureSpawner;
  /** Real-time priority for arecord (realtime.ts); none: normal priority. */
  readonly realtime?: RealtimePriority | undefined;
  /** Monotonic ms (default performance.now()). */
  readonly now?: () => number;
}

export class Microphone implements AudioSource {
  readonly rate: number;
  /** The rate the card runs at: asked for, or what the card gave instead. */
  deviceRate: number;
  readonly latency: DeviceLatency;
  /** Overruns arecord reported. */
  overruns = 0;
  /** The ALSA parameters of the running arecord (null until it printed them). */
  params: AlsaParams | null = null;
  private readonly ring: SampleRing;
  private readonly supervisor: Supervisor;
  private readonly log: Logger;
  private readonly now: () => number;
  private bytesIn = 0;
  private captureListener: ((buffered: number, added: number) => void) | null = null;
  /** When audio last arrived (ms), null before the first. */
  private lastCaptureAt: number | null = null;
  /** The lowest level after a read in the current window, and the reads in it. */
  private windowMin = Number.POSITIVE_INFINITY;
  private windowReads = 0;
  private readonly standingMin: number;
  /** Samples dropped as standing delay. */
  standingDropped = 0;
  /**
   * Samples the last read found missing (filled with silence: the capture came after the frame
   * left). If the next read finds that audio *and* a whole frame after it, the late audio is
   * dropped, rather than be sent a tick late with every frame after it. (If it finds only a
   * frame, the reads are simply on another phase than the captures: nothing is dropped.)
   */
  private owed = 0;
  /** Samples dropped for that. */
  lateDropped = 0;
  /** How long the newest sample of each frame read had waited since it arrived (1 ms bins). */
  private readonly waits = new Uint32Array(WAIT_BINS + 1);

  constructor(o: MicrophoneOptions) {
    this.rate = o.rate;
    this.log = o.log;
    this.now = o.now ?? (() => performance.now());
    this.standingMin = Math.ceil((STANDING_MIN_MS * o.rate) / 1000);
    this.deviceRate = o.deviceRate ?? o.rate;
    this.latency = o.latency ?? DEFAULT_LATENCY;
    const ringMs = o.bufferMs ?? 20 + (2 * this.latency.periodUs) / 1000;
    this.ring = new SampleRing(Math.round((ringMs * o.rate) / 1000));
    const spawn = o.spawn ?? arecordSpawner;
    this.supervisor = new Supervisor({
      device: "microphone",
      log: o.log,
      onFault: o.onFault,
      start: (died) => {
        const asm = new S16leAssembler();
        let resampler = this.deviceRate !== this.rate ? new Resampler(this.deviceRate, this.rate) : null;
        this.params = null;
        const c: Capture = spawn(
          { device: o.device, rate: this.deviceRate, latency: this.latency, realtime: o.realtime },
          (chunk) => {
            this.bytesIn += chunk.length;
            const samples = asm.push(chunk);
            const pcm = resampler ? resampler.process(samples) : samples;
            this.ring.write(pcm);
            this.lastCaptureAt = this.now();
            this.captureListener?.(this.ring.length, pcm.length);
          },
          (message) => {
            // Unplugged (or dead): silence from now on, not the last few ms again and again.
            this.ring.clear();
            explainEnd(o.device, message, died);
          },
          {
            onParams: (p) => {
              this.params = p;
              o.log.info({ device: o.device, ...p }, "microphone: ALSA parameters in force (frames)");
              // A hw: device that cannot do the rate asked for records at its own (arecord warns
              // "rate is not accurate" and goes on): resample from what it really gives.
              if (Math.abs(p.rate - this.deviceRate) > this.deviceRate * 0.01) {
                o.log.warn(
                  { asked: this.deviceRate, got: p.rate },
                  "the microphone records at another rate; resampling",
                );
                this.deviceRate = p.rate;
                resampler = p.rate !== this.rate ? new Resampler(p.rate, this.rate) : null;
              }
            },
            onOverrun: () => {
              this.overruns++;
            },
          },
        );
        return c;
      },
    });
    this.supervisor.start();
  }

  get dropped(): number {
    return this.ring.dropped;
  }

  get xruns(): number {
    return this.overruns;
  }

  /** Samples held now (never more than the ring's capacity). */
  get buffered(): number {
    return this.ring.length;
  }

  get capacity(): number {
    return this.ring.capacity;
  }

  get bytesReceived(): number {
    return this.bytesIn;
  }

  get restarts(): number {
    return this.supervisor.restarts;
  }

  onCapture(listener: (buffered: number, added: number) => void): void {
    this.captureListener = listener;
  }

  read(frame: Int16Array): void {
    const extra = this.ring.length - frame.length;
    if (this.owed > 0 && extra > 0) {
      const k = Math.min(this.owed, extra);
      this.ring.discard(k);
      this.lateDropped += k;
    }
    const n = this.ring.read(frame);
    frame.fill(0, n);
    this.owed = frame.length - n;
    const left = this.ring.length;
    if (n > 0 && this.lastCaptureAt !== null) {
      // The frame's newest sample came in with the last capture, minus what came after it.
      const waited = this.now() - this.lastCaptureAt + (left * 1000) / this.rate;
      const bin = Math.min(WAIT_BINS, Math.max(0, Math.floor(waited)));
      this.waits[bin] = (this.waits[bin] ?? 0) + 1;
    }
    if (left < this.windowMin) this.windowMin = left;
    if (++this.windowReads < STANDING_WINDOW) return;
    if (this.windowMin >= this.standingMin) {
      this.ring.discard(this.windowMin);
      this.standingDropped += this.windowMin;
    }
    this.windowMin = Number.POSITIVE_INFINITY;
    this.windowReads = 0;
  }

  /** Percentile (0..1) of the capture → read wait, ms (1 ms resolution); null before any read. */
  waitPercentile(q: number): number | null {
    let total = 0;
    for (const c of this.waits) total += c;
    if (total === 0) return null;
    let seen = 0;
    for (let i = 0; i < this.waits.length; i++) {
      seen += this.waits[i] ?? 0;
      if (seen >= q * total) return i;
    }
    return WAIT_BINS;
  }

  async close(): Promise<void> {
    this.supervisor.close();
    this.ring.clear();
    const p50 = this.waitPercentile(0.5);
    if (p50 !== null)
      this.log.info(
        {
          wait_p50_ms: p50,
          wait_p95_ms: this.waitPercentile(0.95),
          standing_dropped_ms: Math.round((this.standingDropped * 1000) / this.rate),
          late_dropped_ms: Math.round((this.lateDropped * 1000) / this.rate),
          overruns: this.overruns,
        },
        "microphone: capture to send (ms the audio waited in the ring)",
      );
  }
}
