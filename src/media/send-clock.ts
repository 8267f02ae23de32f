/**
 * A drift-free periodic clock for the 20 ms packet cadence.
 *
 * Tick n is due at `start + n * period`, always computed from the absolute start, never by
 * chaining `setTimeout(period)` (which accumulates each callback's lateness). After a stall
 * (GC, a blocked event loop) it sends at most one catch-up tick per wake-up and skips ticks
 * that are more than one period overdue, so the far end never sees a burst; skipped ticks
 * still advance the tick index, which keeps RTP timestamps in step with real time
 * (RFC 3550 §5.1: the timestamp reflects the sampling instant).
 */

export interface TimerDeps {
  /** Monotonic milliseconds (performance.now()). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: TimerDeps = {
  now: () => performance.now(),
  // Node runs timers on the loop's whole-millisecond clock, read at the start of the loop
  // iteration: a fractional delay (18.37 ms) fires up to a millisecond *before* the due time,
  // the clock finds nothing due and needs a second wake-up (about 1.8 wake-ups per tick were
  // measured). Rounded up, the timer lands at or just after the due time, one wake-up per tick;
  // the schedule stays absolute (tick n at start + n × period), the spread is unchanged.
  setTimeout: (fn, ms) => setTimeout(fn, Math.ceil(ms)),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class SendClock {
  private start = 0;
  private next = 0;
  private timer: unknown = null;
  private running = false;
  private readonly fireBound = () => this.fire();
  /** Ticks dropped because the loop was more than one period late. */
  skipped = 0;

  constructor(
    private readonly periodMs: number,
    private readonly onTick: (tick: number) => void,
    private readonly deps: TimerDeps = realTimers,
  ) {}

  get isRunning(): boolean {
    return this.running;
  }

  begin(): void {
    if (this.running) return;
    this.running = true;
    this.start = this.deps.now();
    this.next = 0;
    this.fire();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) this.deps.clearTimeout(this.timer);
    this.timer = null;
  }

  private fire(): void {
    this.timer = null;
    if (!this.running) return;
    const now = this.deps.now();
    const due = Math.floor((now - this.start) / this.periodMs); // last tick whose time has come
    if (due - this.next > 1) {
      // More than one period behind: skip to one tick before the current, so that this wake-up
      // sends the overdue tick plus the current one and no more.
      this.skipped += due - this.next - 1;
      this.next = due - 1;
    }
    let sent = 0;
    while (this.next <= due && sent < 2 && this.running) {
      const n = this.next++;
      sent++;
      try {
        this.onTick(n);
      } catch {
        // the tick handler guards itself; the clock must keep running whatever happens
      }
    }
    if (!this.running) return;
    const wait = this.start + this.next * this.periodMs - this.deps.now();
    this.timer = this.deps.setTimeout(this.fireBound, Math.max(0, wait));
  }
}
