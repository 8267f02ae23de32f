/**
 * The media inactivity watchdog of one session: decides when the far end's media is gone.
 *
 *  - Nothing heard (no valid RTP, no RTCP) for `mediaMs` while media is expected, or for
 *    `holdMs` while either side holds (RTCP normally keeps flowing on hold, so the longer limit
 *    mainly catches a far end that vanished while held). 0 turns a limit off.
 *  - ICMP port-unreachable on our sends, repeated without a gap of more than UNREACHABLE_GAP_MS
 *    for `unreachableMs` with nothing heard meanwhile: the far end's port is closed (its process
 *    or host went away), which ends the call sooner than the silence limit.
 *  - The clock starts when media starts (`start`), and restarts when the stream moves.
 *
 * Pure (the session supplies monotonic times) and allocation-free in `heard`, which runs for
 * every packet. `check` runs a few times a second from the session's packet clock.
 */

export interface WatchdogLimits {
  /** Silence limit while media is expected, ms; 0 = off. */
  readonly mediaMs: number;
  /** Silence limit while either side holds, ms; 0 = off. */
  readonly holdMs: number;
  /** How long ICMP unreachable must go on (nothing heard) before the far end is given up, ms. */
  readonly unreachableMs: number;
}

/** A pause longer than this between two unreachable errors starts a new run. */
export const UNREACHABLE_GAP_MS = 1000;

export class MediaWatchdog {
  private started = false;
  private fired = false;
  private lastHeard = 0;
  /** Start of the current run of unreachable errors, -1 when none. */
  private unreachableSince = -1;
  private unreachableLast = -1;

  constructor(private readonly limits: WatchdogLimits) {}

  get hasFired(): boolean {
    return this.fired;
  }

  /** Media starts (first remote description) or the stream moved: the clock starts over. */
  start(now: number): void {
    this.started = true;
    this.lastHeard = now;
    this.unreachableSince = -1;
    this.unreachableLast = -1;
  }

  /** A valid RTP or RTCP packet from the far end (every packet: one store). */
  heard(now: number): void {
    this.lastHeard = now;
  }

  /** Milliseconds since the far end was last heard (or media started). */
  silentFor(now: number): number {
    return now - this.lastHeard;
  }

  /**
   * An ICMP port-unreachable on a send. True when it starts a new run: the first error, one
   * after a pause longer than UNREACHABLE_GAP_MS, or one after the far end was heard again.
   */
  unreachable(now: number): boolean {
    const fresh =
      this.unreachableSince < 0 ||
      now - this.unreachableLast > UNREACHABLE_GAP_MS ||
      this.lastHeard > this.unreachableSince;
    if (fresh) this.unreachableSince = now;
    this.unreachableLast = now;
    return fresh;
  }

  /** Whether unreachable errors are arriving now (a run that has not lapsed). */
  isUnreachable(now: number): boolean {
    return this.unreachableSince >= 0 && now - this.unreachableLast <= UNREACHABLE_GAP_MS;
  }

  /** The reason to give up the far end's media now, or null. Returns a reason once at most. */
  check(now: number, held: boolean): string | null {
    if (!this.started || this.fired) return null;
    const limit = held ? this.limits.holdMs : this.limits.mediaMs;
    if (limit <= 0) return null;
    let reason: string | null = null;
    if (
      this.isUnreachable(now) &&
      this.lastHeard <= this.unreachableSince &&
      this.unreachableLast - this.unreachableSince >= this.limits.unreachableMs
    ) {
      reason = "ICMP unreachable";
    } else if (now - this.lastHeard >= limit) {
      reason = `no RTP or RTCP for ${Math.round(limit / 1000)} s${held ? " on hold" : ""}`;
    }
    if (reason !== null) this.fired = true;
    return reason;
  }
}
