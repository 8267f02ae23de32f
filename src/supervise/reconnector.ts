/**
 * The one reconnect supervisor. A side owns its link (a SIP connection, an MQTT client, a serial
 * port, an audio process) and reports what happens to it; the Reconnector decides when to try
 * again, with the one policy (backoff.ts), and calls the side's `retry` then. No side keeps its
 * own attempt counter or retry timer (ARCHITECTURE: reconnect policy is not hidden in adapters).
 *
 * ```
 *   idle ──down(reason)──▶ waiting ──delay elapsed: retry()──▶ retrying ──up()──▶ up
 *                            ▲  down while waiting: the          │ down(reason)     │ down(reason)
 *                            │  pending retry stands             ▼                  ▼
 *                            └───────────────────────────────────┴──────────────────┘
 *   any ──stop()──▶ stopped (no retry ever again)
 * ```
 * `down` picks the delay from the attempt count, which grows with each failure and goes back to
 * 0 when a link that was up for at least the policy's `stableMs` is lost. A side may give a
 * different policy for one failure (a registrar or broker that refused our credentials). The
 * side logs the loss and the delay `down` returns, in its own log namespace.
 */
import { type BackoffPolicy, backoffDelay } from "./backoff.js";

export interface ReconnectClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemClock: ReconnectClock = {
  // Monotonic ms without the `performance` global: its first use loads perf_hooks and seven
  // internal modules, which a desk that is not in a call does not otherwise need.
  now: () => Number(process.hrtime.bigint()) / 1e6,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export type ReconnectState = "idle" | "up" | "waiting" | "retrying" | "stopped";

export interface ReconnectorOptions {
  /** The side's policy for an ordinary loss. */
  readonly policy: BackoffPolicy;
  /** Try again now (open, connect, spawn). Its failure is reported with `down`. */
  readonly retry: () => void;
  readonly clock?: ReconnectClock;
  readonly random?: () => number;
}

export class Reconnector {
  #stopped = false;
  #attempt = 0;
  #upSince: number | null = null;
  #reason: string | null = null;
  #timer: unknown = null;
  readonly #o: ReconnectorOptions;
  readonly #clock: ReconnectClock;
  readonly #random: () => number;

  constructor(options: ReconnectorOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
  }

  get state(): ReconnectState {
    if (this.#stopped) return "stopped";
    if (this.#timer !== null) return "waiting";
    if (this.#upSince !== null) return "up";
    return this.#attempt > 0 ? "retrying" : "idle";
  }

  /** Why the link went down last (null while it is up or before it ever went down). */
  get reason(): string | null {
    return this.#reason;
  }

  /** Failures since the last stable link (the next delay's attempt number). */
  get attempt(): number {
    return this.#attempt;
  }

  /**
   * The link is up (connected, registered, opened, spawned). A retry already scheduled still
   * runs: the side asked for it (a SIP registration that lapsed on a live connection).
   */
  up(): void {
    if (this.#stopped || this.#upSince !== null) return;
    this.#upSince = this.#clock.now();
    this.#reason = null;
  }

  /**
   * The link is down, or an attempt failed: schedule the next attempt. Returns its delay, or
   * null when a retry is already scheduled (it stands) or the supervisor is stopped.
   */
  down(reason: string, policy: BackoffPolicy = this.#o.policy): number | null {
    if (this.#stopped || this.#timer !== null) return null;
    this.#reason = reason;
    const stable = policy.stableMs ?? 0;
    if (this.#upSince !== null && this.#clock.now() - this.#upSince >= stable) this.#attempt = 0;
    this.#upSince = null;
    const delay = backoffDelay(policy, this.#attempt++, this.#random);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      if (!this.#stopped) this.#o.retry();
    }, delay);
    return delay;
  }

  /** No more retries (the side is stopping); a pending one is cancelled. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }
}
