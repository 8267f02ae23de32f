/**
 * Keeps one device process (arecord, aplay) alive for the length of a call: when it dies it is
 * restarted when the shared Reconnector says (POLICIES.audio: at least 200 ms, growing while it
 * keeps dying, afresh after a 10 s run), and the fault is reported to a listener rather than
 * thrown: a dead microphone must not end the call.
 */
import type { Logger } from "../log/logger.js";
import { POLICIES } from "../supervise/backoff.js";
import { type ReconnectClock, Reconnector } from "../supervise/reconnector.js";
import type { AudioFault, AudioFaultListener } from "./audio.js";

export interface Running {
  stop(): void;
}

export interface SupervisorOptions {
  readonly device: AudioFault["device"];
  /** Starts the process; calls `died(message)` once if it ends or fails. May throw. */
  readonly start: (died: (message: string) => void) => Running;
  readonly onFault?: AudioFaultListener | undefined;
  readonly log: Logger;
  /** Timers and uptime (tests); default the system's. */
  readonly clock?: ReconnectClock;
}

export class Supervisor {
  private current: Running | null = null;
  private generation = 0;
  private closed = false;
  private readonly reconnector: Reconnector;
  restarts = 0;

  constructor(private readonly o: SupervisorOptions) {
    this.reconnector = new Reconnector({
      policy: POLICIES.audio,
      retry: () => {
        this.restarts++;
        this.start();
      },
      ...(o.clock ? { clock: o.clock } : {}),
    });
  }

  start(): void {
    if (this.closed) return;
    const gen = ++this.generation;
    this.reconnector.up();
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
    const retryInMs = this.reconnector.down(message);
    if (retryInMs === null) return;
    this.o.log.warn({ device: this.o.device, message, retryInMs }, "audio device process ended; restarting");
    try {
      this.o.onFault?.({ device: this.o.device, message, retryInMs });
    } catch (e) {
      this.o.log.error({ err: (e as Error).message }, "audio fault listener threw");
    }
  }

  close(): void {
    this.closed = true;
    this.generation++;
    this.reconnector.stop();
    const c = this.current;
    this.current = null;
    try {
      c?.stop();
    } catch {
      // already gone
    }
  }
}
