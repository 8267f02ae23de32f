/**
 * Playout on arrival, to a sound card (issue 13: the desk's own receiving delay).
 *
 * Pulled by the 20 ms packet clock, a received frame waited twice: in the jitter buffer for its
 * target (at least a frame) plus up to a frame for the clock's tick, and then in the speaker's
 * queue, kept 40 ms ahead of ALSA (`normal`). Two buffers doing one job. A sound card has a clock
 * of its own, and its queue already absorbs the lateness of a frame up to what it holds: so a
 * frame goes to the card as soon as it can be played, i.e. when
 *
 *  - it is here, in order, with what the measured jitter requires behind it (jitter-buffer.ts,
 *    `ready()`: nothing on a clean LAN), and it fits: the card's queue with it stands no more
 *    than FIT_MS above the depth the speaker keeps. Normally that is the moment it arrives; one
 *    that arrives early (jitter) waits here, not in the speaker (which would drop it as excess),
 *    until the queue has drained to where it fits: a timer, set only then;
 *  - or, whatever is there, when the card's queue is down to LOW_MS: the packet is late or lost,
 *    and the jitter buffer conceals it (as it did on the clock: a late packet grows the delay by
 *    a frame, and a second of slack gives it back). That deadline is a timer re-armed at every
 *    frame handed over; on time, the next arrival comes first and it never fires, so a call
 *    wakes the process no more often than before.
 *
 * A sink that cannot tell its queue (a WAV file has no clock; a card whose aplay is restarting)
 * is written on the clock as before: `feed()` says so and the stream's tick plays.
 */
import type { SinkDepth } from "../audio/audio.js";
import type { JitterBuffer } from "./jitter-buffer.js";
import type { TimerDeps } from "./send-clock.js";

/** A frame is handed over when the card's queue with it stands at most this far (ms) above the sink's target. */
export const FIT_MS = 2;
/** With this little queued (ms), the card gets a frame whatever the jitter buffer holds (concealment if nothing). */
export const LOW_MS = 5;
/** Frames handed over in one go at most (a burst after a stall refills the card up to its target). */
const MAX_PER_FEED = 6;

export interface PlayoutSink {
  /** The card's queue now, null when it cannot tell (then the clock plays). */
  depth(): SinkDepth | null;
  play(frame: Int16Array): void;
}

export class ArrivalPlayout {
  private timer: unknown = null;
  private timerAt = 0;
  private readonly fireBound = () => {
    this.timer = null;
    this.feed();
  };
  /** Frames handed over on a packet's arrival or its timer (not on the clock). */
  handed = 0;
  /**
   * ...of which the card's queue ran down to LOW_MS first: late or lost packets (concealed), or
   * frames the jitter buffer held back for the jitter and the next packet did not release in time.
   */
  atDeadline = 0;

  constructor(
    private readonly jb: JitterBuffer,
    /** The frame handed over, reused (the sink copies what it keeps). */
    private readonly frame: Int16Array,
    private readonly frameMs: number,
    private readonly sink: PlayoutSink,
    private readonly timers: TimerDeps,
  ) {}

  /**
   * Hands the card what it can take now (called on each arrival, each tick and by its own timer).
   * False when the sink cannot tell its queue: the caller plays on the clock.
   */
  feed(): boolean {
    for (let i = 0; i < MAX_PER_FEED; i++) {
      const d = this.sink.depth();
      if (d === null) {
        this.cancel();
        this.jb.setPlayOnArrival(false);
        return false;
      }
      // What the card's queue absorbs by itself: from where a frame fits down to the deadline.
      const fitLevel = d.targetMs + FIT_MS - this.frameMs;
      this.jb.setPlayOnArrival(true, Math.max(0, fitLevel - LOW_MS));
      const ready = this.jb.ready();
      const low = d.queuedMs <= LOW_MS;
      if (!low && !(ready && d.queuedMs <= fitLevel)) {
        this.arm(d.queuedMs - (ready ? fitLevel : LOW_MS));
        return true;
      }
      const r = this.jb.pull(this.frame, this.timers.now());
      if (r === "skipped") continue; // slack given back: nothing in its place
      if (low && !ready && r !== "silent") this.atDeadline++;
      this.handed++;
      this.sink.play(this.frame);
    }
    // The sink took frames without its queue rising (it drops them): look again in a frame.
    this.arm(this.frameMs);
    return true;
  }

  cancel(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  /** The timer for `inMs` from now (kept when already set within half a millisecond of it). */
  private arm(inMs: number): void {
    const now = this.timers.now();
    const at = now + Math.max(0, inMs);
    if (this.timer !== null && Math.abs(at - this.timerAt) < 0.5) return;
    this.cancel();
    this.timerAt = at;
    this.timer = this.timers.setTimeout(this.fireBound, Math.max(0, Math.ceil(at - now)));
  }
}
