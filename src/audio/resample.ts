/**
 * Streaming sample-rate conversion between telephony rates (8/16 kHz) and whatever a file or a
 * sound card gives (16, 44.1, 48 kHz...). Band-limited interpolation: every output sample is
 * the input convolved with a Kaiser-windowed sinc whose cutoff sits below the lower of the two
 * Nyquist frequencies, so decimating does not fold what lies above the new Nyquist back into
 * the band (a 5 kHz tone from a 48 kHz headset does not become 3 kHz in an 8 kHz call) and
 * interpolating does not leave images above the old one.
 *
 * Cost: about 2 × ZEROS × max(1, from/to) multiply-adds per output sample (≈1.3 M/s for
 * 48 kHz → 8 kHz); the group delay is ZEROS / (2 × cutoff) input samples (≈1.7 ms).
 */

/** Zero crossings of the sinc on each side: the filter's length and steepness. */
const ZEROS = 12;
/** Cutoff as a fraction of the lower Nyquist frequency (3.6 kHz for an 8 kHz side). */
const CUTOFF = 0.9;
const KAISER_BETA = 8;
/** Kernel table entries per input sample (linear interpolation in between). */
const TABLE_RES = 128;

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export class Resampler {
  /** Half the kernel's length, in input samples. */
  private readonly half: number;
  private readonly table: Float32Array;
  /** Input step per output sample: stepInt + stepNum / den. */
  private readonly stepInt: number;
  private readonly stepNum: number;
  private readonly den: number;
  /** Input history; buf[0] is the oldest sample kept. */
  private buf: Float32Array;
  private len: number;
  /** The next output's time in input samples from buf[0]: ipos + frac / den. */
  private ipos: number;
  private frac = 0;

  /**
   * `streaming` (default): the first chunk already yields its full share of output, delayed by
   * the filter's `delay`. false: output lines up with the input (for whole buffers, flushed).
   */
  constructor(
    readonly fromRate: number,
    readonly toRate: number,
    streaming = true,
  ) {
    const g = gcd(fromRate, toRate);
    this.den = toRate / g;
    const num = fromRate / g;
    this.stepInt = Math.floor(num / this.den);
    this.stepNum = num % this.den;
    // Cutoff in cycles per input sample.
    const fc = (CUTOFF * Math.min(fromRate, toRate)) / 2 / fromRate;
    this.half = Math.ceil(ZEROS / (2 * fc));
    const n = this.half * TABLE_RES + 2;
    this.table = new Float32Array(n);
    const i0b = besselI0(KAISER_BETA);
    for (let i = 0; i < n; i++) {
      const t = i / TABLE_RES;
      const x = t / this.half;
      const w = x >= 1 ? 0 : besselI0(KAISER_BETA * Math.sqrt(1 - x * x)) / i0b;
      const s = t === 0 ? 1 : Math.sin(2 * Math.PI * fc * t) / (2 * Math.PI * fc * t);
      this.table[i] = 2 * fc * s * w;
    }
    // History of `half` zeros; streaming adds `half` zeros of look-ahead, which is the delay.
    this.buf = new Float32Array(4 * this.half + 1024);
    this.len = streaming ? 2 * this.half : this.half;
    this.ipos = this.half;
  }

  /** The delay this filter adds, in input samples. */
  get delay(): number {
    return this.half;
  }

  /** Converts a chunk; output length varies by at most one sample around len × to/from. */
  process(input: Int16Array): Int16Array {
    if (this.fromRate === this.toRate) return input;
    if (this.len + input.length > this.buf.length) {
      const bigger = new Float32Array(2 * (this.len + input.length));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(input, this.len);
    this.len += input.length;
    const buf = this.buf;
    const table = this.table;
    const half = this.half;
    const out: number[] = [];
    while (this.ipos + half < this.len) {
      const t = this.ipos + this.frac / this.den;
      const lo = Math.max(0, Math.ceil(t - half));
      const hi = Math.min(this.len - 1, Math.floor(t + half));
      let acc = 0;
      for (let k = lo; k <= hi; k++) {
        const d = Math.abs(t - k) * TABLE_RES;
        const j = Math.floor(d);
        const f = d - j;
        const h = (table[j] ?? 0) + ((table[j + 1] ?? 0) - (table[j] ?? 0)) * f;
        acc += (buf[k] ?? 0) * h;
      }
      out.push(acc);
      this.ipos += this.stepInt;
      this.frac += this.stepNum;
      if (this.frac >= this.den) {
        this.frac -= this.den;
        this.ipos++;
      }
    }
    // Keep only what the next outputs can reach.
    const drop = Math.max(0, Math.min(this.len, this.ipos - half - 1));
    if (drop > 0) {
      buf.copyWithin(0, drop, this.len);
      this.len -= drop;
      this.ipos -= drop;
    }
    return Int16Array.from(out, (v) => {
      const r = Math.round(v);
      return r > 32767 ? 32767 : Math.max(r, -32768);
    });
  }
}

/** Resample one whole buffer (a file loaded in memory), without the filter's delay. */
export function resampleAll(input: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (fromRate === toRate) return input;
  const r = new Resampler(fromRate, toRate, false);
  const head = r.process(input);
  const tail = r.process(new Int16Array(r.delay));
  const all = new Int16Array(head.length + tail.length);
  all.set(head);
  all.set(tail, head.length);
  return all.subarray(0, Math.round((input.length * toRate) / fromRate));
}
