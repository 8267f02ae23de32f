/**
 * Capped, jittered exponential backoff for restarting a dead audio process. A process that
 * ran long enough before dying counts as healthy: the next delay starts again from the base.
 */
export interface BackoffOptions {
  readonly baseMs: number;
  readonly maxMs: number;
  /** Uptime after which the failure count resets. */
  readonly healthyAfterMs: number;
  /** 0..1: the delay is multiplied by a random factor in [1 - jitter, 1]. */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  baseMs: 250,
  maxMs: 10_000,
  healthyAfterMs: 10_000,
  jitter: 0.2,
};

export class Backoff {
  private failures = 0;

  constructor(
    private readonly o: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** Delay before the next attempt, given how long the last one ran. */
  next(uptimeMs: number): number {
    if (uptimeMs >= this.o.healthyAfterMs) this.failures = 0;
    const raw = Math.min(this.o.maxMs, this.o.baseMs * 2 ** this.failures);
    this.failures++;
    return Math.round(raw * (1 - this.o.jitter * this.random()));
  }
}
