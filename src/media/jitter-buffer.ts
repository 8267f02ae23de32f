/**
 * An adaptive jitter buffer with packet-loss concealment, read one frame at a time by the
 * 20 ms clock.
 *
 * Packets are placed by RTP timestamp (RFC 3550 §5.1), unwrapped to a sample position, so
 * any packet duration works (20 ms from us, 30 ms from SIPp's PCMA capture). Playout:
 *
 *  - first packet: playout starts `target` behind it (the initial delay);
 *  - missing span with later data buffered: a loss, concealed by repeating the last frame with
 *    a fade to silence over 60 ms (the G.711 Appendix I idea, minus pitch search), and skipped;
 *  - nothing buffered at all (the sender is late): conceal *without* advancing, so the delay
 *    grows by what the network needs; a packet arriving after its slot was skipped is late;
 *  - every packet played for a whole second waited at least `target + k frames` between its
 *    arrival and its playout: k frames are dropped, so the delay shrinks again once the jitter
 *    calms down or a stall is over, and never below what the last second needed (no creep up,
 *    no oscillation: the frames dropped are slack that no packet of that second used).
 *  - a jump of the timestamp far away (new stream, long silence, re-INVITE): resynchronise.
 *
 * `target` follows the interarrival jitter estimate of RFC 3550 §6.4.1: frame + 3 × J, clamped to
 * [minDelayMs, maxDelayMs]. The floor is one frame by default: the pull clock reads a packet up to
 * a frame after it arrived, so a packet waits between `target` and `target + 1 frame` (20-40 ms
 * on a network with no jitter) and may come up to `target` late without a gap; a sender later
 * than that grows the delay (above), as a desk phone's buffer does.
 *
 * Played on arrival (`setPlayOnArrival`, a sound card's queue paces the playout: playout.ts):
 * there is no floor and no clock's phase to wait for. A frame is `ready()` as soon as it is here
 * in order and has behind it what the measured jitter requires beyond what the card's queue
 * absorbs (3 × J minus that, in whole frames: none on a clean LAN). The card's queue is then the
 * only buffer a frame waits in; what a frame waits here is slack, and a second in which every
 * packet waited half a frame or more gives a frame back.
 */

export interface JitterBufferOptions {
  /** Decoded samples per second. */
  readonly sampleRate: number;
  /** Samples per RTP timestamp unit (2 for G.722, RFC 3551 §4.5.2; else 1). */
  readonly samplesPerTick: number;
  /** Samples per pull (20 ms). */
  readonly frameSamples: number;
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
}

/** "skipped": played on arrival, the frame due was slack given back and none follows it yet. */
export type PullResult = "played" | "concealed" | "silent" | "skipped";
export type PushResult = "accepted" | "late" | "duplicate" | "resync";

export interface JitterBufferStats {
  readonly late: number;
  readonly duplicates: number;
  readonly concealedFrames: number;
  readonly droppedForDelay: number;
  readonly resyncs: number;
  readonly jitterMs: number;
  readonly targetDelayMs: number;
  readonly bufferedMs: number;
}

interface Slot {
  readonly pos: number;
  readonly samples: Int16Array;
  /** When it arrived (ms, the caller's clock): its wait until playout is the measured delay. */
  readonly arrivalMs: number;
}

const FADE_FRAMES = 3;
/** Played-out slots' sample arrays kept for reuse (a few seconds' worth at most). */
const POOL_MAX = 64;

export class JitterBuffer {
  private readonly slots: Slot[] = [];
  /**
   * Sample arrays of slots already played or dropped, reused for new packets: a packet's 160 or
   * 320 samples would otherwise be a fresh off-heap ArrayBuffer 50 times a second, for the GC.
   */
  private readonly pool: Int16Array[] = [];
  private lastRawTs: number | null = null;
  private extTs = 0;
  private playPos: number | null = null;
  private lastArrival: { ms: number; pos: number } | null = null;
  private jitterSamples = 0;
  private readonly history: Int16Array;
  private hasHistory = false;
  private concealRun = 0;
  /** Pulls in the current one-second window, and the least wait of a packet played in it (ms). */
  private windowPulls = 0;
  private windowMinWait = Number.POSITIVE_INFINITY;
  private windowUnderrun = false;
  private underrunSince: number | null = null;
  private readonly minDelay: number;
  private readonly maxDelay: number;
  /** Played on arrival: samples of jitter the card's queue absorbs (null: pulled by the clock). */
  private arrivalAbsorb: number | null = null;
  private counters = { late: 0, duplicates: 0, concealedFrames: 0, droppedForDelay: 0, resyncs: 0 };

  constructor(private readonly o: JitterBufferOptions) {
    this.history = new Int16Array(o.frameSamples);
    const frameMs = (o.frameSamples * 1000) / o.sampleRate;
    this.minDelay = Math.round(((o.minDelayMs ?? frameMs) * o.sampleRate) / 1000);
    this.maxDelay = Math.round(((o.maxDelayMs ?? 300) * o.sampleRate) / 1000);
  }

  /**
   * Frames are played as they arrive, paced by a sound card's queue that absorbs `absorbMs` of
   * lateness by itself (see the header); false: pulled by the 20 ms clock again.
   */
  setPlayOnArrival(on: boolean, absorbMs = 0): void {
    this.arrivalAbsorb = on ? (absorbMs * this.o.sampleRate) / 1000 : null;
  }

  get playsOnArrival(): boolean {
    return this.arrivalAbsorb !== null;
  }

  /** Target playout delay in samples. */
  private target(): number {
    if (this.arrivalAbsorb !== null) {
      const need = 3 * this.jitterSamples - this.arrivalAbsorb;
      const frame = this.o.frameSamples;
      return need <= 0 ? 0 : Math.min(this.maxDelay, Math.ceil(need / frame) * frame);
    }
    const t = this.o.frameSamples + 3 * this.jitterSamples;
    return Math.round(Math.min(this.maxDelay, Math.max(this.minDelay, t)));
  }

  private buffered(): number {
    const last = this.slots[this.slots.length - 1];
    if (!last || this.playPos === null) return 0;
    return Math.max(0, last.pos + last.samples.length - this.playPos);
  }

  stats(): JitterBufferStats {
    const ms = (s: number): number => (s * 1000) / this.o.sampleRate;
    return {
      ...this.counters,
      jitterMs: ms(this.jitterSamples),
      targetDelayMs: ms(this.target()),
      bufferedMs: ms(this.buffered()),
    };
  }

  /** Forget the stream (new SSRC or new negotiation): the next packet starts playout afresh. */
  reset(): void {
    for (const s of this.slots) this.recycle(s);
    this.slots.length = 0;
    this.lastRawTs = null;
    this.playPos = null;
    this.lastArrival = null;
  }

  /** Places one packet's decoded samples; they are copied, so the caller may reuse `samples`. */
  push(rtpTimestamp: number, samples: Int16Array, arrivalMs: number): PushResult {
    // Unwrap the 32-bit timestamp (RFC 3550 §5.1: it wraps) against the last one seen.
    if (this.lastRawTs === null) this.extTs = rtpTimestamp;
    else this.extTs += (rtpTimestamp - this.lastRawTs) | 0;
    this.lastRawTs = rtpTimestamp >>> 0;
    const pos = this.extTs * this.o.samplesPerTick;

    let result: PushResult = "accepted";
    const far =
      this.playPos !== null &&
      (pos > this.playPos + 4 * this.maxDelay || pos < this.playPos - 4 * this.maxDelay);
    const maxDelayMs = (this.maxDelay * 1000) / this.o.sampleRate;
    const idleTooLong = this.underrunSince !== null && arrivalMs - this.underrunSince > maxDelayMs;
    // RFC 3550 §6.4.1 / A.8: J += (|D| - J) / 16, here in samples (not across a discontinuity).
    if (this.lastArrival && !far) {
      const d = ((arrivalMs - this.lastArrival.ms) * this.o.sampleRate) / 1000 - (pos - this.lastArrival.pos);
      this.jitterSamples += (Math.abs(d) - this.jitterSamples) / 16;
    }
    this.lastArrival = { ms: arrivalMs, pos };
    if (this.playPos === null || far || idleTooLong) {
      if (this.playPos !== null) {
        this.counters.resyncs++;
        result = "resync";
      }
      for (const s of this.slots) this.recycle(s);
      this.slots.length = 0;
      this.playPos = pos - this.target();
      this.resetWindow();
      this.underrunSince = null;
    }
    if (pos + samples.length <= this.playPos) {
      this.counters.late++;
      return "late";
    }
    // Insert in order (packets mostly arrive in order: search from the end).
    let i = this.slots.length;
    while (i > 0 && (this.slots[i - 1]?.pos ?? 0) > pos) i--;
    if (this.slots[i - 1]?.pos === pos) {
      this.counters.duplicates++;
      return "duplicate";
    }
    const slot = { pos, samples: this.copy(samples), arrivalMs };
    if (i === this.slots.length) this.slots.push(slot);
    else this.slots.splice(i, 0, slot);
    // Bound the memory whatever the sender does.
    while (this.buffered() > 2 * this.maxDelay && this.slots.length > 1) {
      const dropped = this.slots.shift();
      if (dropped && this.playPos !== null)
        this.playPos = Math.max(this.playPos, dropped.pos + dropped.samples.length);
      if (dropped) this.recycle(dropped);
      this.counters.droppedForDelay++;
    }
    return result;
  }

  /**
   * Played on arrival: the next frame is here, whole and in order (no hole before it), with what
   * the jitter requires buffered behind it. (A hole is left to the caller's deadline: the packet
   * may only be reordered.)
   */
  ready(): boolean {
    if (this.playPos === null) return false;
    const want = this.playPos + this.o.frameSamples;
    let at = this.playPos;
    for (const s of this.slots) {
      if (s.pos + s.samples.length <= at) continue;
      if (s.pos > at) return false;
      at = s.pos + s.samples.length;
      if (at >= want) break;
    }
    return at >= want && this.buffered() >= this.o.frameSamples + this.target();
  }

  /** Fills `out` (one frame) with audio, concealment or silence. */
  pull(out: Int16Array, nowMs: number): PullResult {
    if (this.playPos === null) {
      out.fill(0);
      return "silent";
    }
    // Adapt down: when every packet of the last second waited k frames more than the target,
    // those k frames are slack: drop them (all at once: after a 200 ms stall the delay is back
    // within a second, not ten).
    if (++this.windowPulls >= Math.round(this.o.sampleRate / this.o.frameSamples)) {
      const frame = this.o.frameSamples;
      const waitSamples = (this.windowMinWait * this.o.sampleRate) / 1000;
      // Played on arrival, a frame that waits here at all waits for nothing the network needs:
      // half a frame of it, every packet of a second, is a frame given back.
      const half = this.arrivalAbsorb !== null ? frame / 2 : 0;
      const slack = Number.isFinite(waitSamples)
        ? Math.min(
            Math.floor((waitSamples - this.target() + half) / frame),
            Math.floor(this.buffered() / frame),
          )
        : 0;
      const skip = slack > 0 && !this.windowUnderrun;
      if (skip) {
        this.playPos += slack * frame;
        this.counters.droppedForDelay += slack;
      }
      this.resetWindow();
      // Played on arrival, nothing is played in the dropped frame's place (it would be the very
      // delay being given back): the card's queue is a frame shorter, the next arrival plays at once.
      if (skip && this.arrivalAbsorb !== null && !this.ready()) {
        out.fill(0);
        return "skipped";
      }
    }

    let filled = 0;
    let real = 0;
    while (filled < out.length) {
      // Drop what is already behind the playout point.
      while (this.slots.length > 0) {
        const s = this.slots[0];
        if (s && s.pos + s.samples.length <= this.playPos) {
          this.slots.shift();
          this.recycle(s);
        } else break;
      }
      const s = this.slots[0];
      const want = out.length - filled;
      if (!s) {
        // Underrun: conceal without advancing; the delay grows by one frame.
        this.conceal(out, filled, want);
        this.windowUnderrun = true;
        if (real === 0 && this.underrunSince === null) this.underrunSince = nowMs;
        break;
      }
      if (s.pos > this.playPos) {
        // A hole before the next packet: lost (or not yet here), concealed and skipped.
        const n = Math.min(want, s.pos - this.playPos);
        this.conceal(out, filled, n);
        filled += n;
        this.playPos += n;
        continue;
      }
      const offset = this.playPos - s.pos;
      if (offset === 0) this.windowMinWait = Math.min(this.windowMinWait, nowMs - s.arrivalMs);
      const n = Math.min(want, s.samples.length - offset);
      out.set(s.samples.subarray(offset, offset + n), filled);
      filled += n;
      real += n;
      this.playPos += n;
      this.concealRun = 0;
    }
    if (real > 0) {
      this.underrunSince = null;
      this.history.set(out.subarray(0, this.history.length));
      this.hasHistory = true;
      return "played";
    }
    this.counters.concealedFrames++;
    return this.hasHistory ? "concealed" : "silent";
  }

  private resetWindow(): void {
    this.windowPulls = 0;
    this.windowMinWait = Number.POSITIVE_INFINITY;
    this.windowUnderrun = false;
  }

  private copy(samples: Int16Array): Int16Array {
    const reused = this.pool.length > 0 && this.pool[this.pool.length - 1]?.length === samples.length;
    const out = reused ? (this.pool.pop() as Int16Array) : new Int16Array(samples.length);
    out.set(samples);
    return out;
  }

  private recycle(s: Slot): void {
    if (this.pool.length < POOL_MAX) this.pool.push(s.samples);
  }

  /** Repeat the last frame, fading linearly to silence over FADE_FRAMES frames. */
  private conceal(out: Int16Array, at: number, n: number): void {
    const len = this.history.length;
    const fadeLen = FADE_FRAMES * len;
    for (let i = 0; i < n; i++) {
      const k = this.concealRun + i;
      const gain = this.hasHistory ? Math.max(0, 1 - k / fadeLen) : 0;
      out[at + i] = gain === 0 ? 0 : Math.round((this.history[k % len] ?? 0) * gain);
    }
    this.concealRun += n;
  }
}
