/**
 * G.722 sub-band ADPCM at 64 kbit/s (ITU-T G.722 (09/2012) §3 encoder, §4 decoder; 16 kHz PCM
 * in and out, one byte per two samples). Block names in the comments are the
 * Recommendation's (QUANTL, INVQAL, LOGSCL, SCALEL, UPPOL1/2, UPZERO, FILTEP/FILTEZ, ...).
 * The arithmetic follows the Recommendation's fixed-point description, as in its
 * reference implementation and in spandsp.
 */

const QMF = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];
const Q6 = [
  0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940, 1023, 1121, 1219,
  1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
];
const ILN = [
  0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7,
  6, 5, 4, 0,
];
const ILP = [
  0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36,
  35, 34, 33, 32, 0,
];
const WL = [-60, -30, 58, 172, 334, 538, 1198, 3042];
const RL42 = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
const ILB = [
  2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834, 2896, 2960,
  3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
const QM4 = [
  0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584, 1200, 0,
];
const QM6 = [
  -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232, -9360,
  -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776, -2400, -2032, -1688,
  -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192, 10232, 9360, 8576, 7856, 7192,
  6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432,
  -136,
];
const QM2 = [-7408, -1616, 7408, 1616];
const IHN = [0, 1, 0];
const IHP = [0, 3, 2];
const WH = [0, -214, 798];
const RH2 = [2, 1, 2, 1];

function sat(v: number): number {
  return v > 32767 ? 32767 : Math.max(v, -32768);
}

function at(table: readonly number[], i: number): number {
  return table[i] ?? 0;
}

/** The adaptive predictor state of one sub-band. */
class Band {
  s = 0;
  sp = 0;
  sz = 0;
  r = [0, 0, 0];
  a = [0, 0, 0];
  ap = [0, 0, 0];
  p = [0, 0, 0];
  d = [0, 0, 0, 0, 0, 0, 0];
  b = [0, 0, 0, 0, 0, 0, 0];
  bp = [0, 0, 0, 0, 0, 0, 0];
  sg = [0, 0, 0, 0, 0, 0, 0];
  nb = 0;
  det: number;

  constructor(det: number) {
    this.det = det;
  }

  /** LOGSCL/SCALEL (low band) and LOGSCH/SCALEH (high band). */
  scale(w: number, nbMax: number, shift: number): void {
    let nb = ((this.nb * 127) >> 7) + w;
    if (nb < 0) nb = 0;
    else if (nb > nbMax) nb = nbMax;
    this.nb = nb;
    const wd1 = (nb >> 6) & 31;
    const wd2 = shift - (nb >> 11);
    const wd3 = wd2 < 0 ? at(ILB, wd1) << -wd2 : at(ILB, wd1) >> wd2;
    this.det = wd3 << 2;
  }

  /** Block 4: RECONS, PARREC, UPPOL2, UPPOL1, UPZERO, DELAYA, FILTEP, FILTEZ, PREDIC. */
  update(dq: number): void {
    const { r, a, ap, p, d, b, bp, sg } = this;
    d[0] = dq;
    r[0] = sat(this.s + dq);
    p[0] = sat(this.sz + dq);

    for (let i = 0; i < 3; i++) sg[i] = (p[i] ?? 0) >> 15;
    let wd1 = sat((a[1] ?? 0) << 2);
    let wd2 = sg[0] === sg[1] ? -wd1 : wd1;
    if (wd2 > 32767) wd2 = 32767;
    let wd3 = (wd2 >> 7) + (sg[0] === sg[2] ? 128 : -128);
    wd3 += ((a[2] ?? 0) * 32512) >> 15;
    if (wd3 > 12288) wd3 = 12288;
    else if (wd3 < -12288) wd3 = -12288;
    ap[2] = wd3;

    sg[0] = (p[0] ?? 0) >> 15;
    sg[1] = (p[1] ?? 0) >> 15;
    wd1 = sg[0] === sg[1] ? 192 : -192;
    wd2 = ((a[1] ?? 0) * 32640) >> 15;
    let ap1 = sat(wd1 + wd2);
    wd3 = sat(15360 - (ap[2] ?? 0));
    if (ap1 > wd3) ap1 = wd3;
    else if (ap1 < -wd3) ap1 = -wd3;
    ap[1] = ap1;

    wd1 = dq === 0 ? 0 : 128;
    sg[0] = dq >> 15;
    for (let i = 1; i < 7; i++) {
      sg[i] = (d[i] ?? 0) >> 15;
      wd2 = sg[i] === sg[0] ? wd1 : -wd1;
      wd3 = ((b[i] ?? 0) * 32640) >> 15;
      bp[i] = sat(wd2 + wd3);
    }

    for (let i = 6; i > 0; i--) {
      d[i] = d[i - 1] ?? 0;
      b[i] = bp[i] ?? 0;
    }
    for (let i = 2; i > 0; i--) {
      r[i] = r[i - 1] ?? 0;
      p[i] = p[i - 1] ?? 0;
      a[i] = ap[i] ?? 0;
    }

    wd1 = sat((r[1] ?? 0) * 2);
    wd1 = ((a[1] ?? 0) * wd1) >> 15;
    wd2 = sat((r[2] ?? 0) * 2);
    wd2 = ((a[2] ?? 0) * wd2) >> 15;
    this.sp = sat(wd1 + wd2);

    let sz = 0;
    for (let i = 6; i > 0; i--) {
      const w = sat((d[i] ?? 0) * 2);
      sz += ((b[i] ?? 0) * w) >> 15;
    }
    this.sz = sat(sz);
    this.s = sat(this.sp + this.sz);
  }
}

export class G722Encoder {
  private readonly low = new Band(32);
  private readonly high = new Band(8);
  private readonly x = new Int32Array(24);

  /** 16 kHz PCM (even length) → one byte per sample pair (into `out` when given). */
  encode(pcm: Int16Array, out: Uint8Array = new Uint8Array(pcm.length >> 1)): Uint8Array {
    const x = this.x;
    for (let j = 0, k = 0; k < out.length; k++) {
      // Transmit QMF: shift in two samples, keep one output of each band.
      x.copyWithin(0, 2);
      x[22] = pcm[j++] ?? 0;
      x[23] = pcm[j++] ?? 0;
      let sumOdd = 0;
      let sumEven = 0;
      for (let i = 0; i < 12; i++) {
        sumOdd += (x[2 * i] ?? 0) * at(QMF, i);
        sumEven += (x[2 * i + 1] ?? 0) * at(QMF, 11 - i);
      }
      const xlow = (sumEven + sumOdd) >> 14;
      const xhigh = (sumEven - sumOdd) >> 14;

      // Low band: SUBTRA, QUANTL, INVQAL, LOGSCL/SCALEL, block 4.
      const lo = this.low;
      const el = sat(xlow - lo.s);
      let wd = el >= 0 ? el : -(el + 1);
      let i = 1;
      for (; i < 30; i++) {
        if (wd < (at(Q6, i) * lo.det) >> 12) break;
      }
      const ilow = el < 0 ? at(ILN, i) : at(ILP, i);
      const ril = ilow >> 2;
      const dlow = (lo.det * at(QM4, ril)) >> 15;
      lo.scale(at(WL, at(RL42, ril)), 18432, 8);
      lo.update(dlow);

      // High band: SUBTRA, QUANTH, INVQAH, LOGSCH/SCALEH, block 4.
      const hi = this.high;
      const eh = sat(xhigh - hi.s);
      wd = eh >= 0 ? eh : -(eh + 1);
      const mih = wd >= (564 * hi.det) >> 12 ? 2 : 1;
      const ihigh = eh < 0 ? at(IHN, mih) : at(IHP, mih);
      const dhigh = (hi.det * at(QM2, ihigh)) >> 15;
      hi.scale(at(WH, at(RH2, ihigh)), 22528, 10);
      hi.update(dhigh);

      out[k] = (ihigh << 6) | ilow;
    }
    return out;
  }
}

export class G722Decoder {
  private readonly low = new Band(32);
  private readonly high = new Band(8);
  private readonly x = new Int32Array(24);

  /** One byte per sample pair → 16 kHz PCM (into `out` when given). */
  decode(bytes: Uint8Array, out: Int16Array = new Int16Array(bytes.length * 2)): Int16Array {
    const x = this.x;
    for (let k = 0, j = 0; k < bytes.length; k++) {
      const code = bytes[k] ?? 0;
      const ilow = code & 0x3f;
      const ihigh = (code >> 6) & 0x03;

      // Low band: INVQBL with the 6-bit quantiser, RECONS, LIMIT; INVQAL (4-bit) feeds the predictor.
      const lo = this.low;
      let rlow = lo.s + ((lo.det * at(QM6, ilow)) >> 15);
      if (rlow > 16383) rlow = 16383;
      else if (rlow < -16384) rlow = -16384;
      const ril = ilow >> 2;
      const dlow = (lo.det * at(QM4, ril)) >> 15;
      lo.scale(at(WL, at(RL42, ril)), 18432, 8);
      lo.update(dlow);

      // High band: INVQAH, RECONS, LIMIT, LOGSCH/SCALEH, block 4.
      const hi = this.high;
      const dhigh = (hi.det * at(QM2, ihigh)) >> 15;
      let rhigh = dhigh + hi.s;
      if (rhigh > 16383) rhigh = 16383;
      else if (rhigh < -16384) rhigh = -16384;
      hi.scale(at(WH, at(RH2, ihigh)), 22528, 10);
      hi.update(dhigh);

      // Receive QMF.
      x.copyWithin(0, 2);
      x[22] = rlow + rhigh;
      x[23] = rlow - rhigh;
      let xout1 = 0;
      let xout2 = 0;
      for (let i = 0; i < 12; i++) {
        xout2 += (x[2 * i] ?? 0) * at(QMF, i);
        xout1 += (x[2 * i + 1] ?? 0) * at(QMF, 11 - i);
      }
      out[j++] = sat(xout1 >> 11);
      out[j++] = sat(xout2 >> 11);
    }
    return out;
  }
}
