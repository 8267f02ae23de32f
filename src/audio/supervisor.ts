/**
 * Keeps one device process (arecord, aplay) alive for the length of a call: when it dies it is
 * restarted after a backoff, and the fault is reported to a listener rather than thrown: a dead
 * microphone must not end the call.
 */
import type { Logger } from "../log/logger.js";
import type { AudioFault, AudioFaultListener } from "./audio.js";
import { Backoff } from "./backoff.js";

export interface Running {
  stop(): void;
}

export interface SupervisorOptions {
  readonly device: AudioFault["device"];
  /** Starts the process; calls `died(message)` once if it ends or fails. May throw. */
  readonly start: (died: (message: string) => void) => Running;
  readonly onFault?: AudioFaultListener | undefined;
  readonly log: Logger;
  readonly backoff?: Backoff;
  readonly now?: () => number;
}

export class Supervisor {
  private current: Running | null = null;
  private generation = 0;
  private startedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly backoff: Backoff;
  private readonly now: () => number;
  restarts = 0;

  constructor(private readonly o: SupervisorOptions) {
    this.backoff = o.backoff ?? new Backoff();
    this.now = o.now ?? (() => performance.now());
  }

  start(): void {
    if (this.closed) return;
    const gen = ++this.generation;
    this.startedAt = this.now();
    try {
      this.current = this.o.start((message) => {
        if (gen === this.generation) this.died(message);
      });
    } catch (e) {
      this.died((e as Error).message);
    }
  }

  private died(message: string): void {
    this.generation++;
    this.current = null;
    if (this.closed) return;
    const retryInMs = this.backoff.next(this.now() - this.startedAt);
    this.o.log.warn({ device: this.o.device, message, retryInMs }, "audio device process ended; restarting");
    try {
      this.o.onFault?.({ device: this.o.device, message, retryInMs });
    } catch (e) {
      this.o.log.error({ err: (e as Error).message }, "audio fault listener threw");
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.restarts++;
      this.start();
    }, retryInMs);
  }

  close(): void {
    this.closed = true;
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const c = this.current;
    this.current = null;
    try {
      c?.stop();
    } catch {
      // already gone
    }
  }
}
