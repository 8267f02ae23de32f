/**
 * Streaming sample-rate conversion between telephony rates (8/16 kHz) and whatever a file or
 * device gives. Linear interpolation, with a moving-average pre-filter when decimating so the
 * 4-8 kHz band of a 16 kHz source does not fold into the narrow band. Good enough for speech
 * and announcements; not a hi-fi resampler.
 */
export class Resampler {
  private readonly step: number;
  private pos = 1;
  private prev = 0;
  private readonly taps: number;
  private readonly hist: number[] = [];

  constructor(
    readonly fromRate: number,
    readonly toRate: number,
  ) {
    this.step = fromRate / toRate;
    this.taps = Math.max(1, Math.floor(this.step));
  }

  /** Converts a chunk; output length varies by at most one sample around len × to/from. */
  process(input: Int16Array): Int16Array {
    if (this.fromRate === this.toRate) return input;
    let src: Float64Array = Float64Array.from(input);
    if (this.taps > 1) {
      const f = new Float64Array(src.length);
      for (let i = 0; i < src.length; i++) {
        this.hist.push(src[i] ?? 0);
        if (this.hist.length > this.taps) this.hist.shift();
        let s = 0;
        for (const v of this.hist) s += v;
        f[i] = s / this.hist.length;
      }
      src = f;
    }
    // e[0] is the last sample of the previous chunk, e[1..] this chunk; pos indexes e.
    const e = new Float64Array(src.length + 1);
    e[0] = this.prev;
    e.set(src, 1);
    const out: number[] = [];
    while (this.pos <= src.length) {
      const i = Math.floor(this.pos);
      const frac = this.pos - i;
      const a = e[i] ?? 0;
      const b = e[i + 1] ?? a;
      out.push(Math.round(a + (b - a) * frac));
      this.pos += this.step;
    }
    this.pos -= src.length;
    this.prev = e[src.length] ?? this.prev;
    return Int16Array.from(out, (v) => (v > 32767 ? 32767 : Math.max(v, -32768)));
  }
}

/** Resample one whole buffer (a file loaded in memory). */
export function resampleAll(input: Int16Array, fromRate: number, toRate: number): Int16Array {
  return new Resampler(fromRate, toRate).process(input);
}
