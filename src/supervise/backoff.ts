/**
 * The one reconnect policy of the daemon: capped exponential backoff with FULL jitter
 * ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015):
 *
 *     ceiling = min(cap, base · 2^attempt)        delay = uniform in [min, ceiling)
 *
 * Why full jitter rather than "± some percent" or decorrelated jitter: a broker or PBX restart
 * drops a whole fleet at the same instant, and every box then draws its first retry uniformly
 * over [0, base): 200 desks spread their reconnects over ~1 s instead of arriving in one burst
 * (test/bench/presence-latency.ts, README § Performance). A percent jitter keeps the herd
 * together (all within ±25 % of the same instant); decorrelated jitter spreads as well but needs
 * the previous delay as state, while full jitter is a pure function of the attempt number, so
 * every side can share it and tests can pin it with a fixed `random`.
 *
 * `minMs` is a floor for failures where retrying at once is pointless (refused credentials, a
 * device process that just died); `stableMs` says how long a link must have been up for its
 * loss to count as a fresh failure (attempt back to 0) rather than one more of a flapping run.
 * The Reconnector (reconnector.ts) applies both.
 */
export interface BackoffPolicy {
  /** Ceiling of the first delay (attempt 0); doubles with each attempt. */
  readonly baseMs: number;
  /** No ceiling above this. */
  readonly capMs: number;
  /** Floor of every delay (default 0); a policy with min = base = cap is a fixed delay. */
  readonly minMs?: number;
  /** A link up at least this long resets the attempt count when it goes down (default 0). */
  readonly stableMs?: number;
}

/** Delay before retry number `attempt` (from 0). `random` returns [0, 1), as Math.random. */
export function backoffDelay(
  policy: BackoffPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  const min = Math.min(policy.minMs ?? 0, ceiling);
  return Math.floor(min + random() * (ceiling - min));
}

/**
 * Every side's schedule, side by side (the values each side had before they shared one policy).
 * Headsets are not here: a USB headset is found by polling (headset.poll_ms), not retried.
 */
export const POLICIES = {
  /** SIP connection or registration lost: first retry within 1 s, then up to a minute. */
  sip: { baseMs: 1_000, capMs: 60_000 },
  /**
   * Every registrar of the list refused our credentials (401/403/404/407): a fixed config
   * rarely fixes itself, so a fixed 5 minutes (min = base = cap), not a hammering.
   */
  sipRefusedEverywhere: { minMs: 300_000, baseMs: 300_000, capMs: 300_000 },
  /**
   * MQTT link lost: the first retry within a second (the fleet spreads over ~1 s after a broker
   * restart), later ones up to a minute; a connection stable for 10 s starts again from 0.
   */
  mqtt: { baseMs: 1_000, capMs: 60_000, stableMs: 10_000 },
  /**
   * CONNACK refused (bad password, not authorised): retrying fast cannot help and fills the
   * broker's log, so at least 10 s, spread up to 30 s at first and 5 minutes later.
   */
  mqttRefused: { minMs: 10_000, baseMs: 30_000, capMs: 300_000, stableMs: 10_000 },
  /**
   * LCD serial port gone or failing: reopen after 0.25–0.5 s, then up to 10 s. The floor: a USB
   * serial adapter takes a few hundred ms to come back, and sooner only fails again.
   */
  lcd: { minMs: 250, baseMs: 500, capMs: 10_000 },
  /**
   * An audio device process (arecord, aplay) died: restart after at least 200 ms (the device
   * is usually still busy at once), at most a second apart, so a headset plugged back in is heard
   * again within about a second (an unplugged card makes them fail at once: the retries cost a
   * process start a second); one that ran 10 s counts as healthy.
   */
  audio: { minMs: 200, baseMs: 250, capMs: 1_000, stableMs: 10_000 },
  /** A write to disk failed (full, read-only): again after 0.5–1 s, then up to 30 s. */
  disk: { minMs: 500, baseMs: 1_000, capMs: 30_000 },
} as const satisfies Record<string, BackoffPolicy>;
