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
 *
 * A live source (a sound card) leads instead. Its captured audio arrives in periods on the card's
 * own clock, and a frame read by a tick on another phase waits up to a whole frame: the operator
 * was heard up to 20 ms late for nothing. With `captured()` called when a capture period completes
 * a frame, the clock follows those instants (CAPTURE_ALIGN_MS before its ticks, moving up to
 * CAPTURE_SLEW_MS per tick: the card's phase matters for delay, the far end's only for CPU), and
 * sends each tick from the capture's own wake-up: a capture up to MERGE_MS early sleeps to the
 * tick's due time, one up to CAPTURE_GRACE_MS late sends at once. A late capture is the host's
 * doing (a loaded machine wakes arecord or the desk late), not the card's, so the grace is most
 * of a frame: the frame leaves when it completes, a few ms late, which the far end's jitter
 * buffer absorbs, instead of waiting a whole tick in the ring (that made sending p95 61-68 ms
 * under load). The next tick is still sent no earlier than its due time, so two packets are
 * never closer than 20 - CAPTURE_GRACE_MS ms, and the RTP timestamps stay those of the ticks.
 * Late captures do not move the phase much either: what one capture says is clamped to
 * CAPTURE_CLAMP_MS, so that a loaded machine's stragglers neither drag the ticks late nor make
 * the clock stop following the card. The timer is then only a
 * backstop, set CAPTURE_GRACE_MS after a tick whose frame has not been captured yet (a card that
 * stalls or is unplugged: the tick sends what there is, silence, on time plus the grace), or on
 * time when the frame is already there (periods longer than a frame) or while the phase is still
 * moving towards the card's. The far end's arrivals are
 * still learnt but no longer sleep: a sleep would block the event loop while the card's frame
 * waits to be read. Wake-ups stay at two per packet: the capture's (it always was one) and the far
 * end's packet.
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
/** Where completed capture frames are steered: this long before a tick (their jitter is ~1 ms). */
export const CAPTURE_ALIGN_MS = 1;
/** The most the phase moves per tick while following the card (a jump of 1 ms in one packet gap). */
export const CAPTURE_SLEW_MS = 1;
/**
 * A tick whose frame is still being captured waits this long past its due time for it (most of a
 * frame: 20 - CAPTURE_GRACE_MS is the least gap between two packets).
 */
export const CAPTURE_GRACE_MS = 15;
/** What one capture can say about the card's phase, at most (ms): a straggler is not the card. */
export const CAPTURE_CLAMP_MS = 2 * ALIGN_MAX_SPREAD_MS;

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

/**
 * Where in the clock's period a series of events lands: a smoothed offset (ms, wrapped to ± half
 * a period) from `target` ms before a tick, and how scattered they are.
 */
class Phase {
  error = 0;
  spread = 0;
  count = 0;

  constructor(
    private readonly target: number,
    private readonly periodMs: number,
    /** One event's deviation counts at most this much (ms) towards the phase and its spread. */
    private readonly clampMs = Number.POSITIVE_INFINITY,
  ) {}

  reset(): void {
    this.error = 0;
    this.spread = 0;
    this.count = 0;
  }

  /** An event `early` ms before the next tick. */
  learn(early: number): void {
    // Deviation from the estimate, taken the short way round the period, so that the estimate
    // follows events across the wrap (half a period) instead of averaging +10 and -10 to 0.
    const raw = wrap(early - this.target - this.error, this.periodMs);
    const deviation = Math.max(-this.clampMs, Math.min(this.clampMs, raw));
    this.count++;
    const k = this.count < ALIGN_AFTER ? 1 / this.count : 1 / ALIGN_AFTER;
    this.error += k * deviation;
    this.spread += k * (Math.abs(deviation) - this.spread);
  }

  get trusted(): boolean {
    return this.count >= ALIGN_AFTER && this.spread <= ALIGN_MAX_SPREAD_MS;
  }
}

export interface SendClockOptions {
  /**
   * With a live source: whether the coming tick's frame is already captured (then a tick not
   * sent from a capture is timed as usual, not CAPTURE_GRACE_MS late).
   */
  readonly frameReady?: () => boolean;
}

export class SendClock {
  private start = 0;
  private next = 0;
  private timer: unknown = null;
  private running = false;
  private readonly fireBound = () => this.fire(FINE_MS);
  /** The far end's packets, ALIGN_MS before a tick once followed. */
  private readonly arrivalPhase: Phase;
  /** Completed capture frames, CAPTURE_ALIGN_MS before a tick once followed. */
  private readonly capturePhase: Phase;
  /** Ticks dropped because the loop was more than one period late. */
  skipped = 0;
  /** Ticks sent from an arrival's wake-up rather than the timer's. */
  merged = 0;
  /** Ticks sent from a completed capture's wake-up. */
  capturedTicks = 0;

  constructor(
    private readonly periodMs: number,
    private readonly onTick: (tick: number) => void,
    private readonly deps: TimerDeps = realTimers,
    private readonly options: SendClockOptions = {},
  ) {
    this.arrivalPhase = new Phase(ALIGN_MS, periodMs);
    this.capturePhase = new Phase(CAPTURE_ALIGN_MS, periodMs, CAPTURE_CLAMP_MS);
  }

  /** The clock follows a live source's captures (they are regular enough to be trusted). */
  get followsCapture(): boolean {
    return this.capturePhase.trusted;
  }

  /**
   * ...and has reached their phase: the next capture is expected just before the coming tick,
   * so the timer waits for it (while the phase still moves, ticks keep their own time).
   */
  private get awaitsCapture(): boolean {
    return this.capturePhase.trusted && Math.abs(this.capturePhase.error) <= CAPTURE_SLEW_MS;
  }

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
    this.arrivalPhase.reset();
    this.capturePhase.reset();
    this.fire(FINE_MS);
  }

  /**
   * A media packet from the far end has just been read. Learns the phase of arrivals, and sends
   * the coming tick now if it is due within MERGE_MS (sleeping precisely until its due time),
   * so that the timer's own wake-up is saved.
   */
  arrival(): void {
    if (!this.running) return;
    const early = this.nextDue - this.deps.now();
    this.arrivalPhase.learn(early);
    // Following a card, the tick waits for the card's frame, not for a sleep on this wake-up.
    if (this.followsCapture) return;
    if (this.timer !== null && early <= MERGE_MS && this.deps.sleep) {
      this.deps.clearTimeout(this.timer);
      this.merged++;
      this.fire(MERGE_MS);
    }
  }

  /**
   * A live source has just completed a frame of captured audio. Learns the phase of captures,
   * and once it follows them sends the coming tick from this wake-up: at once when it is due or
   * up to CAPTURE_GRACE_MS late, after a precise sleep when it is due within MERGE_MS.
   */
  captured(): void {
    if (!this.running) return;
    const early = this.nextDue - this.deps.now();
    this.capturePhase.learn(early);
    if (!this.followsCapture || this.timer === null) return;
    if (early <= 0 || (early <= MERGE_MS && this.deps.sleep)) {
      this.deps.clearTimeout(this.timer);
      this.capturedTicks++;
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
    if (this.awaitsCapture && !(this.options.frameReady?.() ?? false)) {
      // A backstop: the capture completing the frame normally sends the tick before this fires.
      this.timer = this.deps.setTimeout(this.fireBound, Math.max(0, Math.ceil(wait + CAPTURE_GRACE_MS)));
      return;
    }
    this.timer = this.deps.setTimeout(this.fireBound, this.deps.sleep ? timerDelay(wait) : Math.max(0, wait));
  }

  /**
   * Moves the next ticks towards having the followed events (the card's captures if trusted,
   * else the far end's packets) their target before them, up to that one's slew per tick.
   */
  private slew(): void {
    const [phase, limit] = this.capturePhase.trusted
      ? [this.capturePhase, CAPTURE_SLEW_MS]
      : [this.arrivalPhase, SLEW_MS];
    if (!phase.trusted) return;
    // A positive error (events more than the target before a tick) moves the ticks earlier, a
    // negative one later; what is left of the error is what the ticks have not moved yet. Both
    // estimates are relative to the ticks, so both take the step.
    const step = Math.max(-limit, Math.min(limit, phase.error));
    if (Math.abs(step) < 0.01) return;
    this.start -= step;
    this.capturePhase.error -= step;
    this.arrivalPhase.error -= step;
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
