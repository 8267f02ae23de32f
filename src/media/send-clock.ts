/**
 * A drift-free periodic clock for the 20 ms packet cadence.
 *
 * Tick n is due at `start + n * period`, always computed from the absolute start, never by
 * chaining `setTimeout(period)` (which accumulates each callback's lateness). After a stall
 * (GC, a blocked event loop) it sends at most one catch-up tick per wake-up and skips ticks
 * that are more than one period overdue, so the far end never sees a burst; skipped ticks
 * still advance the tick index, which keeps RTP timestamps in step with real time
 * (RFC 3550 §5.1: the timestamp reflects the sampling instant).
 *
 * Fewer wake-ups: in a call the far end's packets arrive every 20 ms too, and each arrival wakes
 * the process just like the timer does. The clock learns where in its period they land
 * (`arrival()`) and slowly slews its own phase (at most SLEW_MS per tick) so that they land
 * about ALIGN_MS before its ticks; then a packet arriving up to MERGE_MS before a tick sends
 * that tick from the same wake-up (a precise sleep to its due time) instead of waiting for the
 * timer, and one that arrives during that sleep is read in the same loop iteration. That is
 * two wake-ups per 20 ms instead of three; a call's CPU follows the wake-ups more than the
 * JavaScript they run (README § Performance).
 */

export interface TimerDeps {
  /** Monotonic milliseconds (performance.now()). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /**
   * Sleeps the thread for `ms` (fractional, at most MERGE_MS) without spinning the CPU; absent
   * (tests, virtual time): the clock relies on the timer alone.
   */
  sleep?(ms: number): void;
}

/** How early the timer is set, at most, so that a precise sleep ends the wait. */
export const FINE_MS = 2;
/** An arrival this close before a tick sends the tick from its own wake-up. */
export const MERGE_MS = 4;
/** Where arrivals are steered: this long before a tick, the middle of the merge window. */
export const ALIGN_MS = MERGE_MS / 2;
/** The most the phase moves per tick while aligning (a 1 % change of one packet gap). */
export const SLEW_MS = 0.2;
/** Arrivals seen before the clock trusts their phase. */
const ALIGN_AFTER = 16;
/** Arrivals scattered more than this (mean deviation, ms) are not followed (another ptime, bursts). */
const ALIGN_MAX_SPREAD_MS = 3;

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
  // the event loop for the remaining fraction (under FINE_MS after a timer, under MERGE_MS after
  // an arrival; 1–3 ms per 20 ms); SIP and HID input wait that long at most, which nobody hears
  // or sees.
  sleep: (ms) => {
    Atomics.wait(sleepCell, 0, 0, ms);
  },
};

export class SendClock {
  private start = 0;
  private next = 0;
  private timer: unknown = null;
  private running = false;
  private readonly fireBound = () => this.fire(FINE_MS);
  /** Smoothed offset (ms, wrapped to ± half a period) of arrivals from ALIGN_MS before a tick. */
  private phaseError = 0;
  /** Smoothed deviation of arrivals from that offset (ms). */
  private phaseSpread = 0;
  private arrivals = 0;
  /** Ticks dropped because the loop was more than one period late. */
  skipped = 0;
  /** Ticks sent from an arrival's wake-up rather than the timer's. */
  merged = 0;

  constructor(
    private readonly periodMs: number,
    private readonly onTick: (tick: number) => void,
    private readonly deps: TimerDeps = realTimers,
  ) {}

  get isRunning(): boolean {
    return this.running;
  }

  /** When the next tick is due (ms, the deps' clock). */
  private get nextDue(): number {
    return this.start + this.next * this.periodMs;
  }

  begin(): void {
    if (this.running) return;
    this.running = true;
    this.start = this.deps.now();
    this.next = 0;
    this.phaseError = 0;
    this.phaseSpread = 0;
    this.arrivals = 0;
    this.fire(FINE_MS);
  }

  /**
   * A media packet from the far end has just been read. Learns the phase of arrivals, and sends
   * the coming tick now if it is due within MERGE_MS (sleeping precisely until its due time),
   * so that the timer's own wake-up is saved.
   */
  arrival(): void {
    if (!this.running) return;
    const now = this.deps.now();
    const early = this.nextDue - now;
    // Deviation from the estimate, taken the short way round the period, so that the estimate
    // follows arrivals across the wrap (half a period) instead of averaging +10 and -10 to 0.
    const deviation = wrap(early - ALIGN_MS - this.phaseError, this.periodMs);
    this.arrivals++;
    const k = this.arrivals < ALIGN_AFTER ? 1 / this.arrivals : 1 / ALIGN_AFTER;
    this.phaseError += k * deviation;
    this.phaseSpread += k * (Math.abs(deviation) - this.phaseSpread);
    if (this.timer !== null && early <= MERGE_MS && this.deps.sleep) {
      this.deps.clearTimeout(this.timer);
      this.merged++;
      this.fire(MERGE_MS);
    }
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) this.deps.clearTimeout(this.timer);
    this.timer = null;
  }

  private fire(maxSleepMs: number): void {
    this.timer = null;
    if (!this.running) return;
    let now = this.deps.now();
    const early = this.nextDue - now;
    if (early > 0 && early <= maxSleepMs && this.deps.sleep) {
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
    if (sent > 0) this.slew();
    const wait = this.nextDue - this.deps.now();
    this.timer = this.deps.setTimeout(this.fireBound, this.deps.sleep ? timerDelay(wait) : Math.max(0, wait));
  }

  /** Moves the next ticks up to SLEW_MS towards having arrivals ALIGN_MS before them. */
  private slew(): void {
    if (this.arrivals < ALIGN_AFTER || this.phaseSpread > ALIGN_MAX_SPREAD_MS) return;
    // A positive error (arrivals more than ALIGN_MS before a tick) moves the ticks earlier, a
    // negative one later; what is left of the error is what the ticks have not moved yet.
    const step = Math.max(-SLEW_MS, Math.min(SLEW_MS, this.phaseError));
    if (Math.abs(step) < 0.01) return;
    this.start -= step;
    this.phaseError -= step;
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

/** `x` taken into [-period/2, period/2). */
function wrap(x: number, period: number): number {
  const half = period / 2;
  return ((((x + half) % period) + period) % period) - half;
}
