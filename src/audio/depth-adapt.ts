/**
 * How deep the speaker keeps its queue, adapted to the card: a card (or a sound server in front
 * of it) that keeps running dry gets one period more, up to a ceiling; a clean minute takes one
 * period back. Latency is only spent where underruns show it is needed, and given back.
 *
 *   - 2 underruns within 10 s: one period more (the count starts again after each step).
 *   - 60 s without an underrun since the last underrun or step: one period less.
 *   - Never more than `ceiling` extra periods (the profile's buffer beyond its start threshold:
 *     `periods - startPeriods`, i.e. +20 ms for `low`, +40 ms for `normal`, +80 ms for `safe`).
 *
 * Pure: it is given the time (milliseconds, monotonic), so tests drive it with a fake clock.
 */
export interface DepthAdaptOptions {
  /** Extra periods allowed at most (0: no adaptation). */
  readonly ceiling: number;
  /** Underruns within `windowMs` that add a period (default 2). */
  readonly underruns?: number;
  readonly windowMs?: number;
  /** Time without an underrun that takes a period back (default 60 s). */
  readonly cleanMs?: number;
}

export class DepthAdapt {
  /** Extra periods in force, 0..ceiling. */
  extra = 0;
  private readonly ceiling: number;
  private readonly needed: number;
  private readonly windowMs: number;
  private readonly cleanMs: number;
  /** Times of recent underrun reports (within the window, since the last step). */
  private recent: number[] = [];
  /** Since when the card has been clean (last underrun or last step); null before any. */
  private quietSince: number | null = null;

  constructor(o: DepthAdaptOptions) {
    this.ceiling = Math.max(0, Math.floor(o.ceiling));
    this.needed = o.underruns ?? 2;
    this.windowMs = o.windowMs ?? 10_000;
    this.cleanMs = o.cleanMs ?? 60_000;
  }

  /** An underrun at `now`. Returns true when the depth grew. */
  underrun(now: number): boolean {
    this.quietSince = now;
    this.recent = this.recent.filter((t) => now - t < this.windowMs);
    this.recent.push(now);
    if (this.recent.length < this.needed || this.extra >= this.ceiling) return false;
    this.extra++;
    this.recent = [];
    return true;
  }

  /** Time passes (called with every frame). Returns true when the depth shrank. */
  tick(now: number): boolean {
    if (this.extra === 0 || this.quietSince === null || now - this.quietSince < this.cleanMs) return false;
    this.extra--;
    this.quietSince = now;
    return true;
  }
}
