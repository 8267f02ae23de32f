/**
 * Per-source receive state of RFC 3711 §3.3: the rollover counter guess of Appendix A and the
 * replay list of §3.3.2 as a 64-packet sliding window over the packet index (48 bits for SRTP, the
 * 31-bit SRTCP index for SRTCP). Indices fit a double exactly (2^48 < 2^53), and the window is two
 * 32-bit words, so nothing here allocates per packet.
 */

export const REPLAY_WINDOW = 64;

/**
 * RFC 3711 Appendix A: the rollover counter v the packet with sequence `seq` most likely belongs
 * to, given the highest sequence `sl` seen so far and the current counter `roc`. Returns v, which
 * may be roc - 1 (a late packet from before the last wrap) or roc + 1 (the sequence wrapped).
 */
export function guessRoc(roc: number, sl: number, seq: number): number {
  if (sl < 0x8000) return seq - sl > 0x8000 ? roc - 1 : roc;
  return sl - 0x8000 > seq ? roc + 1 : roc;
}

export class ReplayWindow {
  /** Highest index accepted; -1 before the first. */
  private top = -1;
  /** Bit k set: index top - k was accepted (k in 0..63). */
  private lo = 0;
  private hi = 0;

  get highest(): number {
    return this.top;
  }

  /** True if `index` is new and not too old to tell (checked before authentication). */
  fresh(index: number): boolean {
    if (index > this.top) return true;
    const k = this.top - index;
    if (k >= REPLAY_WINDOW) return false;
    return k < 32 ? ((this.lo >>> k) & 1) === 0 : ((this.hi >>> (k - 32)) & 1) === 0;
  }

  /** Records an authenticated index (after `fresh` said yes). */
  accept(index: number): void {
    if (index > this.top) {
      const d = this.top < 0 ? REPLAY_WINDOW : index - this.top;
      if (d >= REPLAY_WINDOW) {
        this.lo = 0;
        this.hi = 0;
      } else if (d >= 32) {
        this.hi = d === 32 ? this.lo : (this.lo << (d - 32)) >>> 0;
        this.lo = 0;
      } else {
        this.hi = ((this.hi << d) | (this.lo >>> (32 - d))) >>> 0;
        this.lo = (this.lo << d) >>> 0;
      }
      this.top = index;
      this.lo = (this.lo | 1) >>> 0;
      return;
    }
    const k = this.top - index;
    if (k < 32) this.lo = (this.lo | (1 << k)) >>> 0;
    else this.hi = (this.hi | (1 << (k - 32))) >>> 0;
  }
}
