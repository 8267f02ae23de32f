/** Capped, jittered exponential backoff for reopening the port (STYLE: adapters). */
export function backoffMs(
  attempt: number,
  random: () => number = Math.random,
  baseMs = 500,
  capMs = 10_000,
): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.max(0, Math.min(20, attempt)));
  // ±25 % jitter so many desks replugged together do not retry in step.
  return Math.round(exp * (0.75 + 0.5 * random()));
}
