/**
 * The headset speaker through `aplay -t raw -f S16_LE -r RATE -c 1 -D DEVICE`, fed from a
 * bounded queue (~200 ms): when aplay does not keep up, the oldest frames are dropped and
 * counted. A dead aplay is restarted with backoff (Supervisor); frames meanwhile are dropped.
 */
import { spawn as spawnChild } from "node:child_process";
import type { Logger } from "../log/logger.js";
import type { AudioFaultListener, AudioSink } from "./audio.js";
import { type Running, Supervisor } from "./supervisor.js";
import { pcmToBytes } from "./wav.js";

export interface Playback extends Running {
  /** false when the pipe is full: wait for onDrain before writing more. */
  write(bytes: Uint8Array): boolean;
}

export type PlaybackSpawner = (
  options: { readonly device: string; readonly rate: number },
  onDrain: () => void,
  onEnd: (message: string) => void,
) => Playback;

export const aplaySpawner: PlaybackSpawner = (options, onDrain, onEnd) => {
  const child = spawnChild(
    "aplay",
    ["-q", "-t", "raw", "-f", "S16_LE", "-r", String(options.rate), "-c", "1", "-D", options.device],
    { stdio: ["pipe", "ignore", "pipe"] },
  );
  let ended = false;
  let stderr = "";
  const end = (message: string): void => {
    if (!ended) {
      ended = true;
      onEnd(message);
    }
  };
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-300);
  });
  child.on("error", (e) => end(`aplay: ${e.message}`));
  child.on("close", (code, signal) =>
    end(`aplay exited (code ${code}, signal ${signal})${stderr ? `: ${stderr.trim()}` : ""}`),
  );
  child.stdin?.on("error", () => undefined); // EPIPE when aplay dies: reported through close
  child.stdin?.on("drain", onDrain);
  return {
    write: (bytes) => (child.stdin ? child.stdin.write(bytes) : false),
    stop: () => {
      ended = true;
      child.stdin?.destroy();
      child.kill();
    },
  };
};

export interface SpeakerOptions {
  readonly device: string;
  readonly rate: number;
  readonly log: Logger;
  readonly onFault?: AudioFaultListener | undefined;
  /** Queue capacity in frames (default 10 = 200 ms). */
  readonly queueFrames?: number;
  readonly spawn?: PlaybackSpawner;
}

export class Speaker implements AudioSink {
  readonly rate: number;
  dropped = 0;
  private readonly queue: Buffer[] = [];
  private readonly capacity: number;
  private playback: Playback | null = null;
  private blocked = false;
  private readonly supervisor: Supervisor;

  constructor(o: SpeakerOptions) {
    this.rate = o.rate;
    this.capacity = o.queueFrames ?? 10;
    const spawn = o.spawn ?? aplaySpawner;
    this.supervisor = new Supervisor({
      device: "speaker",
      log: o.log,
      onFault: o.onFault,
      start: (died) => {
        this.blocked = false;
        const p = spawn(
          { device: o.device, rate: o.rate },
          () => {
            this.blocked = false;
            this.flush();
          },
          (message) => {
            if (this.playback === p) this.playback = null;
            died(message);
          },
        );
        this.playback = p;
        return p;
      },
    });
    this.supervisor.start();
  }

  get queued(): number {
    return this.queue.length;
  }

  write(frame: Int16Array): void {
    if (this.queue.length >= this.capacity) {
      const old = this.queue.shift();
      this.dropped += (old?.length ?? 0) / 2;
    }
    this.queue.push(pcmToBytes(frame));
    this.flush();
  }

  private flush(): void {
    const p = this.playback;
    while (p && !this.blocked && this.queue.length > 0) {
      const b = this.queue.shift();
      if (b && !p.write(b)) this.blocked = true;
    }
  }

  async close(): Promise<void> {
    this.queue.length = 0;
    this.playback = null;
    this.supervisor.close();
  }
}
