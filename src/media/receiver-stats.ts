/**
 * Per-source reception statistics (RFC 3550 Appendix A.1, A.3, A.8): sequence tracking with
 * wrap-around, expected/lost counts, the loss fraction of the last interval and interarrival
 * jitter, for our RTCP report blocks and the call's MediaStats.
 */

const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
const RTP_SEQ_MOD = 0x10000;

export interface ReportBlockFigures {
  /** Fraction lost since the last report, 8-bit fixed point (§6.4.1). */
  readonly fractionLost: number;
  /** Cumulative packets lost, clamped to 24 bits signed (§6.4.1). */
  readonly cumulativeLost: number;
  readonly extendedHighestSeq: number;
  /** In timestamp units (§6.4.1). */
  readonly jitter: number;
}

export class ReceiverStats {
  private maxSeq = 0;
  private cycles = 0;
  private baseSeq = 0;
  private badSeq = RTP_SEQ_MOD + 1;
  private received = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;
  private transit: number | null = null;
  private jitter = 0;
  private started = false;

  constructor(private readonly clockRate: number) {}

  get packetsReceived(): number {
    return this.received;
  }

  /** Valid (non-duplicate-checked) packets counted, as A.1's update_seq; false = probably bogus. */
  update(seq: number, rtpTimestamp: number, arrivalMs: number): boolean {
    if (!this.started) {
      this.init(seq);
      this.maxSeq = seq - 1;
      this.started = true;
    }
    const udelta = (seq - this.maxSeq + RTP_SEQ_MOD) % RTP_SEQ_MOD;
    if (udelta < MAX_DROPOUT) {
      if (seq < this.maxSeq) this.cycles += RTP_SEQ_MOD; // wrapped
      this.maxSeq = seq;
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
      // A very large jump: accept it only when the next packet confirms it (A.1).
      if (seq === this.badSeq) {
        this.init(seq);
      } else {
        this.badSeq = (seq + 1) & (RTP_SEQ_MOD - 1);
        return false;
      }
    }
    // else: duplicate or reordered, counted below
    this.received++;
    // A.8: transit = arrival - timestamp, both in timestamp units.
    const arrival = (arrivalMs * this.clockRate) / 1000;
    const transit = arrival - rtpTimestamp;
    if (this.transit !== null) {
      let d = transit - this.transit;
      // Timestamps wrap at 2^32; a difference that large is the wrap, not jitter.
      if (d > 2 ** 31) d -= 2 ** 32;
      else if (d < -(2 ** 31)) d += 2 ** 32;
      this.jitter += (Math.abs(d) - this.jitter) / 16;
    }
    this.transit = transit;
    return true;
  }

  private init(seq: number): void {
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.badSeq = RTP_SEQ_MOD + 1;
    this.cycles = 0;
    this.received = 0;
    this.receivedPrior = 0;
    this.expectedPrior = 0;
  }

  get extendedMax(): number {
    return this.cycles + this.maxSeq;
  }

  get expected(): number {
    return this.started ? this.extendedMax - this.baseSeq + 1 : 0;
  }

  get lost(): number {
    return Math.max(0, this.expected - this.received);
  }

  get jitterMs(): number {
    return (this.jitter * 1000) / this.clockRate;
  }

  /** Figures for one report block; starts a new interval for the loss fraction (A.3). */
  report(): ReportBlockFigures {
    const expected = this.expected;
    const expectedInterval = expected - this.expectedPrior;
    this.expectedPrior = expected;
    const receivedInterval = this.received - this.receivedPrior;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost =
      expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.floor((lostInterval << 8) / expectedInterval);
    const cumulative = expected - this.received;
    return {
      fractionLost: Math.min(255, fractionLost),
      cumulativeLost: Math.max(-0x800000, Math.min(0x7fffff, cumulative)),
      extendedHighestSeq: this.extendedMax >>> 0,
      jitter: Math.floor(this.jitter) >>> 0,
    };
  }
}
