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
  /**
   * Sleeps the thread for `ms` (fractional, at most FINE_MS) without spinning the CPU; absent
   * (tests, virtual time): the clock relies on the timer alone.
   */
  sleep?(ms: number): void;
}

/** How early the timer is set, at most, so that a precise sleep ends the wait. */
export const FINE_MS = 2;

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

export const realTimers: TimerDeps = {
  now: () => performance.now(),
  // Node runs timers on the loop's whole-millisecond clock, read at the start of the loop
  // iteration: a timer lands anywhere in the millisecond after its due time, and packets sent
  // straight from it leave with a gap spread (sd) of about 0.6 ms. So the clock sets its timer
  // up to FINE_MS early (whole milliseconds, one wake-up per tick) and sleeps the rest.
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  // Atomics.wait on a cell nobody notifies: a futex sleep with a sub-millisecond timeout, no CPU
  // burnt (a busy-wait for the same precision would cost ~5 % of a Pi core per call). It blocks
  // the event loop for the remaining fraction (under FINE_MS, about 1 ms on average per 20 ms);
  // SIP and HID input wait that long at most, which nobody hears or sees.
  sleep: (ms) => {
    Atomics.wait(sleepCell, 0, 0, ms);
  },
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
    let now = this.deps.now();
    const early = this.start + this.next * this.periodMs - now;
    if (early > 0 && early <= FINE_MS && this.deps.sleep) {
      this.deps.sleep(early);
      // never a hair before the due time by rounding: that would cost a whole extra wake-up
      now = Math.max(this.deps.now(), now + early);
    }
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
    this.timer = this.deps.setTimeout(this.fireBound, this.deps.sleep ? timerDelay(wait) : Math.max(0, wait));
  }
}

/**
 * The timer's delay, with a precise sleep, for a tick due in `wait` ms: whole milliseconds ending
 * FINE_MS - 1 to FINE_MS before the due time, never after it (Node's loop clock lands a timer up
 * to a millisecond after its delay); a tick due sooner than that gets delay 0 and fire() sleeps.
 */
export function timerDelay(wait: number): number {
  return wait <= 0 ? 0 : Math.max(0, Math.ceil(wait) - FINE_MS);
}
