/**
 * Full-jitter exponential backoff (AWS Architecture Blog, "Exponential Backoff and Jitter"):
 * the delay is uniform in [0, min(cap, base · 2^attempt)). MQTT.js only has a fixed
 * reconnectPeriod, so a fleet reconnecting after a broker restart would hit it in lockstep.
 */
export interface BackoffPolicy {
  readonly baseMs: number;
  readonly capMs: number;
}

/** After a drop: the first retry comes within a second, later ones spread up to a minute. */
export const RECONNECT: BackoffPolicy = { baseMs: 1_000, capMs: 60_000 };

/**
 * After a CONNACK refusal (bad password, not authorised): retrying fast cannot help and fills
 * the broker's log, so start at 15 s and go up to 5 minutes.
 */
export const REFUSED: BackoffPolicy = { baseMs: 15_000, capMs: 300_000 };

export function backoffDelay(
  policy: BackoffPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
