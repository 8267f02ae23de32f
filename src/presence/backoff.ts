/**
 * Full-jitter exponential backoff (AWS Architecture Blog, "Exponential Backoff and Jitter"):
 * the delay is uniform in [0, min(cap, base · 2^attempt)). MQTT.js only has a fixed
 * reconnectPeriod, so a fleet reconnecting after a broker restart would hit it in lockstep.
 */
export interface BackoffPolicy {
  /** Added to the jittered delay: a floor for cases where retrying soon is pointless. */
  readonly minMs: number;
  readonly baseMs: number;
  readonly capMs: number;
}

/** After a drop: the first retry comes within a second, later ones spread up to a minute. */
export const RECONNECT: BackoffPolicy = { minMs: 0, baseMs: 1_000, capMs: 60_000 };

/**
 * After a CONNACK refusal (bad password, not authorised): retrying fast cannot help and fills
 * the broker's log, so wait at least 10 s, spread up to 30 s at first and 5 minutes later.
 */
export const REFUSED: BackoffPolicy = { minMs: 10_000, baseMs: 20_000, capMs: 290_000 };

export function backoffDelay(
  policy: BackoffPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return policy.minMs + Math.floor(random() * ceiling);
}
