/**
 * The headset microphone through arecord (node-record-lpcm16, `audioType: "raw"`: S16LE mono).
 *
 * arecord delivers at the device's pace, or as fast as it can read for ALSA's `type file`
 * plugin: either way samples land in a ring of ~200 ms that drops the oldest audio, and the
 * RTP clock pulls 20 ms frames from it. A dead arecord is restarted with backoff (Supervisor).
 */
import type { Logger } from "../log/logger.js";
import type { AudioFaultListener, AudioSource } from "./audio.js";
import { S16leAssembler, SampleRing } from "./sample-ring.js";
import { type Running, Supervisor } from "./supervisor.js";

/** A running capture process, as the microphone sees it (the test fake implements this). */
export interface Capture extends Running {}

export type CaptureSpawner = (
  options: { readonly device: string; readonly rate: number },
  onData: (chunk: Uint8Array) => void,
  onEnd: (message: string) => void,
) => Capture;

/** The real capture: arecord spawned by node-record-lpcm16. */
export const arecordSpawner: CaptureSpawner = (options, onData, onEnd) => {
  // Loaded lazily: only boxes with a microphone need it.
  let recording: import("node-record-lpcm16").Recording | null = null;
  let ended = false;
  const end = (message: string): void => {
    if (!ended) {
      ended = true;
      onEnd(message);
    }
  };
  const starting = import("node-record-lpcm16").then((mod) => {
    const rec = (mod.default ?? mod).record({
      sampleRate: options.rate,
      channels: 1,
      recorder: "arecord",
      device: options.device,
      audioType: "raw",
      threshold: 0,
    });
    recording = rec;
    const stream = rec.stream();
    stream.on("data", (chunk: Buffer) => onData(chunk));
    stream.on("error", (e: unknown) => end(typeof e === "string" ? (e.split("\n")[0] ?? e) : String(e)));
    rec.process.on("error", (e) => end(`arecord: ${e.message}`));
    rec.process.on("close", (code, signal) => end(`arecord exited (code ${code}, signal ${signal})`));
  });
  starting.catch((e: Error) => end(`cannot start arecord: ${e.message}`));
  return {
    stop: () => {
      ended = true;
      if (recording) recording.process.kill();
      else void starting.then(() => recording?.process.kill()).catch(() => undefined);
    },
  };
};

export interface MicrophoneOptions {
  readonly device: string;
  readonly rate: number;
  readonly log: Logger;
  readonly onFault?: AudioFaultListener | undefined;
  /** Ring capacity in ms (default 200). */
  readonly bufferMs?: number;
  readonly spawn?: CaptureSpawner;
}

export class Microphone implements AudioSource {
  readonly rate: number;
  private readonly ring: SampleRing;
  private readonly supervisor: Supervisor;
  private bytesIn = 0;

  constructor(o: MicrophoneOptions) {
    this.rate = o.rate;
    this.ring = new SampleRing(Math.round(((o.bufferMs ?? 200) * o.rate) / 1000));
    const spawn = o.spawn ?? arecordSpawner;
    this.supervisor = new Supervisor({
      device: "microphone",
      log: o.log,
      onFault: o.onFault,
      start: (died) => {
        const asm = new S16leAssembler();
        return spawn(
          { device: o.device, rate: o.rate },
          (chunk) => {
            this.bytesIn += chunk.length;
            this.ring.write(asm.push(chunk));
          },
          died,
        );
      },
    });
    this.supervisor.start();
  }

  get dropped(): number {
    return this.ring.dropped;
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
