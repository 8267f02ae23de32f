/** Test helpers: tone files made with sox, and the power of one frequency (Goertzel). */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseWav } from "../../src/audio/wav.js";

/** Writes a sine tone (amplitude 0.5) as an S16 WAV: mono unless `channels` says otherwise. */
export function makeTone(path: string, freq: number, rate: number, seconds: number, channels = 1): void {
  execFileSync("sox", [
    "-n",
    "-r",
    String(rate),
    "-c",
    String(channels),
    "-b",
    "16",
    path,
    "synth",
    String(seconds),
    "sine",
    String(freq),
    "vol",
    "0.5",
  ]);
}

export function readWav(path: string): { rate: number; samples: Int16Array } {
  const w = parseWav(readFileSync(path), path);
  return { rate: w.rate, samples: w.samples };
}

/** Relative power of `freq` in `x` (Goertzel algorithm). */
export function goertzel(x: Int16Array, rate: number, freq: number): number {
  const w = (2 * Math.PI * freq) / rate;
  const c = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (const v of x) {
    const s0 = v + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.length * x.length);
}

export function rms(x: Int16Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return x.length === 0 ? 0 : Math.sqrt(s / x.length);
}
