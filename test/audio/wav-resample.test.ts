import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AudioError } from "../../src/audio/audio.js";
import { FileSink, sinkPath } from "../../src/audio/file-sink.js";
import { FileSource } from "../../src/audio/file-source.js";
import { Resampler, resampleAll } from "../../src/audio/resample.js";
import { downmix, parseWav, wavHeader } from "../../src/audio/wav.js";
import { goertzel, makeTone } from "../media/tone.js";

const dir = mkdtempSync(join(tmpdir(), "cuffia-audio-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("WAV", () => {
  it("parses what sox writes and what we write", () => {
    makeTone(join(dir, "t.wav"), 1000, 8000, 0.5);
    const w = parseWav(readFileSync(join(dir, "t.wav")));
    expect(w).toMatchObject({ rate: 8000, channels: 1, bitsPerSample: 16 });
    expect(w.samples.length).toBe(4000);
    const ours = Buffer.concat([wavHeader(16000, 4), Buffer.from([1, 0, 2, 0])]);
    expect(Array.from(parseWav(ours).samples)).toEqual([1, 2]);
  });

  it("rejects 8-bit and non-WAV files with a clear error", () => {
    const h = wavHeader(8000, 2);
    h.writeUInt16LE(8, 34);
    expect(() => parseWav(Buffer.concat([h, Buffer.from([1, 2])]), "x.wav")).toThrow(
      /8-bit samples; 16-bit PCM required/,
    );
    expect(() => parseWav(Buffer.from("hello there, not a wav"))).toThrow(AudioError);
  });

  it("downmixes stereo", () => {
    expect(Array.from(downmix(Int16Array.from([100, 300, -10, 10]), 2))).toEqual([200, 0]);
  });
});

describe("Resampler", () => {
  it.each([
    [8000, 16000],
    [16000, 8000],
    [44100, 8000],
  ])("%i → %i keeps a 400 Hz tone and the length", (from, to) => {
    const n = from; // one second
    const x = Int16Array.from({ length: n }, (_, i) =>
      Math.round(10000 * Math.sin((2 * Math.PI * 400 * i) / from)),
    );
    const r = new Resampler(from, to);
    const parts: Int16Array[] = [];
    for (let i = 0; i < n; i += Math.round(from / 50))
      parts.push(r.process(x.subarray(i, i + Math.round(from / 50))));
    const y = Int16Array.from(parts.flatMap((p) => Array.from(p)));
    expect(Math.abs(y.length - to)).toBeLessThanOrEqual(2);
    expect(goertzel(y, to, 400)).toBeGreaterThan(100 * goertzel(y, to, 1200));
  });
});

describe("Resampler low-pass", () => {
  const tone = (hz: number, rate: number, seconds: number) =>
    Int16Array.from({ length: Math.round(rate * seconds) }, (_, i) =>
      Math.round(10000 * Math.sin((2 * Math.PI * hz * i) / rate)),
    );
  const inFrames = (r: Resampler, x: Int16Array, frame: number) => {
    const parts: number[] = [];
    for (let i = 0; i < x.length; i += frame) parts.push(...r.process(x.subarray(i, i + frame)));
    return Int16Array.from(parts);
  };
  const rms = (y: Int16Array) => Math.sqrt(y.reduce((s, v) => s + v * v, 0) / Math.max(1, y.length));

  it.each([
    [48000, 8000],
    [16000, 8000],
    [44100, 8000],
  ])("%i → %i: a 5 kHz tone does not alias to the band (no 3 kHz tone comes out)", (from, to) => {
    const y = inFrames(new Resampler(from, to), tone(5000, from, 1), from / 50);
    const alias = to - 5000; // where 5 kHz folds to at an 8 kHz rate
    // 10000 peak in: an unfiltered alias would come out near 7000 rms; -60 dB is 7.
    expect(rms(y.subarray(100))).toBeLessThan(10);
    expect(goertzel(y, to, alias)).toBeLessThan(1e-5 * goertzel(tone(alias, to, 1), to, alias));
  });

  it("48000 → 8000 keeps a 3 kHz tone at its level and frequency", () => {
    const y = inFrames(new Resampler(48000, 8000), tone(3000, 48000, 1), 960);
    expect(y.length).toBe(8000);
    expect(rms(y.subarray(100)) / (10000 / Math.SQRT2)).toBeGreaterThan(0.9);
    expect(goertzel(y, 8000, 3000)).toBeGreaterThan(1000 * goertzel(y, 8000, 1000));
  });

  it("8000 → 48000 leaves no image of a 1 kHz tone at 7 kHz", () => {
    const y = inFrames(new Resampler(8000, 48000), tone(1000, 8000, 1), 160);
    expect(y.length).toBe(48000);
    expect(goertzel(y, 48000, 1000)).toBeGreaterThan(1e5 * goertzel(y, 48000, 7000));
  });

  it("resampleAll lines the output up with the input (no filter delay)", () => {
    const x = new Int16Array(16000);
    x[8000] = 20000; // an impulse at 0.5 s
    const y = resampleAll(x, 16000, 8000);
    expect(y.length).toBe(8000);
    let peak = 0;
    for (let i = 1; i < y.length; i++) if (Math.abs(y[i] ?? 0) > Math.abs(y[peak] ?? 0)) peak = i;
    expect(peak).toBe(4000);
  });
});

describe("FileSource", () => {
  it("serves frames at the requested rate, loops, and goes silent without loop", async () => {
    makeTone(join(dir, "s16.wav"), 500, 16000, 0.05); // 800 samples at 16 kHz → 400 at 8 kHz
    const once = await FileSource.open(join(dir, "s16.wav"), 8000, false);
    const f = new Int16Array(160);
    let nonSilent = 0;
    for (let i = 0; i < 5; i++) {
      once.read(f);
      if (f.some((v) => v !== 0)) nonSilent++;
    }
    expect(nonSilent).toBe(3); // 400 samples = 2.5 frames
    const looped = await FileSource.open(join(dir, "s16.wav"), 8000, true);
    for (let i = 0; i < 10; i++) looped.read(f);
    expect(f.some((v) => v !== 0)).toBe(true);
  });

  it("reports a missing file as an io AudioError", async () => {
    await expect(FileSource.open(join(dir, "nope.wav"), 8000, false)).rejects.toMatchObject({ code: "io" });
  });
});

describe("FileSink", () => {
  it("fixes the header up at close", async () => {
    const path = sinkPath(join(dir, "rec-{call}.wav"), "abc/../x y");
    expect(path).toBe(join(dir, "rec-abc_.._x_y.wav"));
    const s = await FileSink.open(path, 8000);
    for (let i = 0; i < 50; i++) s.write(new Int16Array(160).fill(i));
    await s.close();
    const w = parseWav(readFileSync(path));
    expect(w.samples.length).toBe(8000);
    expect(readFileSync(path).readUInt32LE(40)).toBe(16000);
    expect(readFileSync(path).readUInt32LE(4)).toBe(16036);
  });

  it("without {call}, a second call overwrites the file", async () => {
    writeFileSync(join(dir, "same.wav"), Buffer.alloc(100000));
    const s = await FileSink.open(sinkPath(join(dir, "same.wav"), "c2"), 8000);
    s.write(new Int16Array(160));
    await s.close();
    expect(readFileSync(join(dir, "same.wav")).length).toBe(44 + 320);
  });
});
