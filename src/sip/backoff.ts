/**
 * Capped exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS
 * Architecture Blog 2015): delay = random(0, min(cap, base · 2^attempt)). Full jitter keeps a
 * hundred boxes that lost the PBX at the same instant from reconnecting in lock-step.
 */
export interface BackoffOptions {
  readonly baseMs: number;
  readonly capMs: number;
  /** Lower bound of every delay, so a flapping server is not hammered. */
  readonly minMs?: number;
}

export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 30));
  const min = Math.min(options.minMs ?? 0, ceiling);
  return Math.round(min + random() * (ceiling - min));
}
