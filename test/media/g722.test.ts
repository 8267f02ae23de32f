import { describe, expect, it } from "vitest";
import { G722Decoder, G722Encoder } from "../../src/media/g722.js";

/** SNR (dB) of `out` against `ref`, at the lag (codec delay) that matches best. */
function bestSnr(ref: Int16Array, out: Int16Array, from: number): { lag: number; snr: number } {
  let best = { lag: 0, snr: Number.NEGATIVE_INFINITY };
  for (let lag = 0; lag < 64; lag++) {
    let s = 0;
    let e = 0;
    for (let i = from; i < ref.length - 64; i++) {
      const a = ref[i] ?? 0;
      const b = out[i + lag] ?? 0;
      s += a * a;
      e += (a - b) ** 2;
    }
    const snr = 10 * Math.log10(s / e);
    if (snr > best.snr) best = { lag, snr };
  }
  return best;
}

function roundTrip(pcm: Int16Array): Int16Array {
  const enc = new G722Encoder();
  const dec = new G722Decoder();
  const out = new Int16Array(pcm.length);
  for (let f = 0; f < pcm.length; f += 320) out.set(dec.decode(enc.encode(pcm.subarray(f, f + 320))), f);
  return out;
}

function tone(freqs: ReadonlyArray<[number, number]>, n: number): Int16Array {
  const pcm = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    let v = 0;
    for (const [f, a] of freqs) v += a * Math.sin((2 * Math.PI * f * i) / 16000);
    pcm[i] = Math.round(v);
  }
  return pcm;
}

describe("G.722 64 kbit/s", () => {
  it("packs two 16 kHz samples per byte", () => {
    expect(new G722Encoder().encode(new Int16Array(320)).length).toBe(160);
    expect(new G722Decoder().decode(new Uint8Array(160)).length).toBe(320);
  });

  it("round-trips a 1 kHz tone with a high SNR (low band)", () => {
    const pcm = tone([[1000, 8000]], 16000);
    expect(bestSnr(pcm, roundTrip(pcm), 2000).snr).toBeGreaterThan(25);
  });

  it("delays by the two QMFs' 22 samples and keeps a speech-like mix clean", () => {
    // Unrelated tones: the lag is unambiguous (a pure tone matches at every period too).
    const pcm = tone(
      [
        [310, 4000],
        [1130, 3000],
        [2470, 2000],
        [3390, 1000],
      ],
      16000,
    );
    const r = bestSnr(pcm, roundTrip(pcm), 2000);
    expect(r.lag).toBe(22);
    expect(r.snr).toBeGreaterThan(20);
  });

  it("carries the upper band (a 5.2 kHz component survives)", () => {
    const pcm = tone([[5200, 6000]], 16000);
    expect(bestSnr(pcm, roundTrip(pcm), 2000).snr).toBeGreaterThan(12);
  });

  it("decodes silence as near silence", () => {
    const out = roundTrip(new Int16Array(3200));
    expect(Math.max(...Array.from(out, Math.abs))).toBeLessThan(50);
  });
});
