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
 */
import { spawn as spawnChild } from "node:child_process";
import type { Logger } from "../log/logger.js";
import type { AudioFaultListener, AudioSource } from "./audio.js";
import { explainEnd } from "./card.js";
import { type AlsaParams, alsaStreamArgs, DEFAULT_LATENCY, type DeviceLatency } from "./latency.js";
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
  options: { readonly device: string; readonly rate: number; readonly latency: DeviceLatency },
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
  const child = spawnChild("arecord", alsaStreamArgs(options, false), { stdio: ["ignore", "pipe", "pipe"] });
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
  private bytesIn = 0;

  constructor(o: MicrophoneOptions) {
    this.rate = o.rate;
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
          { device: o.device, rate: this.deviceRate, latency: this.latency },
          (chunk) => {
            this.bytesIn += chunk.length;
            const samples = asm.push(chunk);
            this.ring.write(resampler ? resampler.process(samples) : samples);
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

  read(frame: Int16Array): void {
    const n = this.ring.read(frame);
    frame.fill(0, n);
  }

  async close(): Promise<void> {
    this.supervisor.close();
    this.ring.clear();
  }
}
