/**
 * How deep the speaker keeps its queue, adapted to the card: a card (or a sound server in front
 * of it) that runs dry, or keeps coming close to it, gets one period more, up to a ceiling; three
 * clean minutes take one period back. Latency is only spent where the machine shows it is
 * needed, and given back.
 *
 *   - An underrun: one period more at once. The operator heard it; a 10-minute run on the lab
 *     card had 10 of its 15 underruns at the profile's depth, each alone within 10 s, when two
 *     within 10 s were needed.
 *   - 2 near misses within 10 s: one period more (the count starts again after each step). A
 *     near miss is a frame that found the card about to run dry (it came late by most of a
 *     period: on a loaded host the next one may come later still). They count at most one per
 *     second, so one late burst is one.
 *   - 3 minutes without either since the last one or the last step: one period less. (With one
 *     minute, that run went back to the profile's depth between underruns 40-60 s apart, and
 *     underran there again.)
 *   - Never more than `ceiling` extra periods (the profile's buffer beyond its start threshold:
 *     `periods - startPeriods`, i.e. +20 ms for `low`, +40 ms for `normal`, +80 ms for `safe`).
 *
 * Pure: it is given the time (milliseconds, monotonic), so tests drive it with a fake clock.
 */
export interface DepthAdaptOptions {
  /** Extra periods allowed at most (0: no adaptation). */
  readonly ceiling: number;
  /** Near misses within `windowMs` that add a period (default 2). */
  readonly nearMissesNeeded?: number;
  readonly windowMs?: number;
  /** Time without an underrun or near miss that takes a period back (default 3 minutes). */
  readonly cleanMs?: number;
  /** Near misses closer together than this are one trouble (default 1 s). */
  readonly nearMissGapMs?: number;
}

export class DepthAdapt {
  /** Extra periods in force, 0..ceiling. */
  extra = 0;
  /** Near misses counted (the ones that fell within nearMissGapMs of another are not). */
  nearMisses = 0;
  private readonly ceiling: number;
  private readonly needed: number;
  private readonly windowMs: number;
  private readonly cleanMs: number;
  private readonly nearMissGapMs: number;
  /** Times of recent near misses (within the window, since the last step). */
  private recent: number[] = [];
  /** Since when the card has been clean (last underrun, near miss or step); null before any. */
  private quietSince: number | null = null;
  private lastNearMiss = Number.NEGATIVE_INFINITY;

  constructor(o: DepthAdaptOptions) {
    this.ceiling = Math.max(0, Math.floor(o.ceiling));
    this.needed = o.nearMissesNeeded ?? 2;
    this.windowMs = o.windowMs ?? 10_000;
    this.cleanMs = o.cleanMs ?? 180_000;
    this.nearMissGapMs = o.nearMissGapMs ?? 1000;
  }

  /** An underrun at `now`. Returns true when the depth grew. */
  underrun(now: number): boolean {
    this.quietSince = now;
    if (this.extra >= this.ceiling) return false;
    this.extra++;
    this.recent = [];
    return true;
  }

  /** The card came within a fraction of a period of running dry at `now`. Returns true when the depth grew. */
  nearMiss(now: number): boolean {
    if (now - this.lastNearMiss < this.nearMissGapMs) return false;
    this.lastNearMiss = now;
    this.nearMisses++;
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
