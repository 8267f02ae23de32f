/**
 * Audio fixtures and judges for the lab: tones and speech as 8 kHz mono S16 WAV files (what
 * baresip's aufile and G.711 want), sox's statistics, and a Goertzel scan that finds the
 * dominant frequency of a recording more robustly than sox's "Rough frequency".
 */
import { readFile, writeFile } from "node:fs/promises";
import { execFileAsync } from "./proc.js";

export interface ToneOptions {
  freq: number;
  seconds: number;
  /** Sample rate in Hz; 8000 for G.711. */
  rate?: number;
  /** Peak amplitude 0..1 (default 0.5). */
  amplitude?: number;
}

/** Writes a sine tone as a mono S16 WAV. */
export async function makeTone(path: string, opts: ToneOptions): Promise<string> {
  const rate = opts.rate ?? 8000;
  const amplitude = opts.amplitude ?? 0.5;
  const samples = new Int16Array(Math.round(opts.seconds * rate));
  for (let i = 0; i < samples.length; i++) {
    samples[i] = Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * opts.freq * i) / rate));
  }
  await writeWav(path, samples, rate);
  return path;
}

/** Writes `seconds` of silence as a mono S16 WAV. */
export async function makeSilence(path: string, seconds: number, rate = 8000): Promise<string> {
  await writeWav(path, new Int16Array(Math.round(seconds * rate)), rate);
  return path;
}

/** Speaks `text` with espeak-ng and converts it with sox to a mono S16 WAV at `rate`. */
export async function makeSpeech(path: string, text: string, rate = 8000, voice = "en"): Promise<string> {
  const raw = `${path}.espeak.wav`;
  await execFileAsync("espeak-ng", ["-v", voice, "-w", raw, text]);
  await execFileAsync("sox", [raw, "-r", String(rate), "-c", "1", "-b", "16", "-e", "signed-integer", path]);
  await execFileAsync("rm", ["-f", raw]);
  return path;
}

/** A canonical 44-byte-header PCM WAV. */
export async function writeWav(path: string, samples: Int16Array, rate: number): Promise<void> {
  const data = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const header = Buffer.alloc(44);
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(36 + data.length, 4);
  header.write("WAVE", 8, "ascii");
  header.write("fmt ", 12, "ascii");
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36, "ascii");
  header.writeUInt32LE(data.length, 40);
  await writeFile(path, Buffer.concat([header, data]));
}

export interface Wav {
  rate: number;
  channels: number;
  /** First channel, as -1..1 floats. */
  samples: Float32Array;
}

/** Reads a PCM WAV (8/16/32-bit integer or 32-bit float), walking its chunks. */
export async function readWav(path: string): Promise<Wav> {
  const buf = await readFile(path);
  if (buf.toString("ascii", 0, 4) !== "RIFF" || buf.toString("ascii", 8, 12) !== "WAVE") {
    throw new Error(`${path}: not a RIFF/WAVE file`);
  }
  let offset = 12;
  let format = 0;
  let channels = 1;
  let rate = 0;
  let bits = 16;
  while (offset + 8 <= buf.length) {
    const id = buf.toString("ascii", offset, offset + 4);
    let size = buf.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === "fmt ") {
      format = buf.readUInt16LE(body);
      channels = buf.readUInt16LE(body + 2);
      rate = buf.readUInt32LE(body + 4);
      bits = buf.readUInt16LE(body + 14);
      if (format === 0xfffe) format = buf.readUInt16LE(body + 24); // WAVE_FORMAT_EXTENSIBLE
    } else if (id === "data") {
      // A writer killed mid-call may leave the size unset (0 or 0xffffffff): take the rest.
      if (size === 0 || body + size > buf.length) size = buf.length - body;
      const bytes = bits / 8;
      const frames = Math.floor(size / (bytes * channels));
      const samples = new Float32Array(frames);
      for (let i = 0; i < frames; i++) {
        const at = body + i * bytes * channels;
        if (format === 3 && bits === 32) samples[i] = buf.readFloatLE(at);
        else if (bits === 16) samples[i] = buf.readInt16LE(at) / 32768;
        else if (bits === 32) samples[i] = buf.readInt32LE(at) / 2147483648;
        else if (bits === 8) samples[i] = (buf.readUInt8(at) - 128) / 128;
        else throw new Error(`${path}: unsupported sample size ${bits}`);
      }
      return { rate, channels, samples };
    }
    offset = body + size + (size % 2);
  }
  throw new Error(`${path}: no data chunk`);
}

export interface SoxStat {
  /** RMS amplitude, 0..1. */
  rms: number;
  /** sox's "Rough frequency" in Hz. */
  freq: number;
  seconds: number;
}

/** `sox FILE -n stat` (it prints to stderr), parsed. */
export async function analyse(path: string): Promise<SoxStat> {
  const { stderr } = await execFileAsync("sox", [path, "-n", "stat"]);
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s*(-?[0-9.eE+-]+)`, "m").exec(stderr);
    if (!match?.[1]) throw new Error(`sox stat of ${path}: no "${name}" in:\n${stderr}`);
    return Number(match[1]);
  };
  return {
    rms: field("RMS\\s+amplitude"),
    freq: field("Rough\\s+frequency"),
    seconds: field("Length \\(seconds\\)"),
  };
}

/** Goertzel power of one frequency over a block of samples. */
function goertzel(samples: Float32Array, start: number, length: number, freq: number, rate: number): number {
  const coeff = 2 * Math.cos((2 * Math.PI * freq) / rate);
  let s1 = 0;
  let s2 = 0;
  for (let i = start; i < start + length; i++) {
    const s0 = (samples[i] ?? 0) + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coeff * s1 * s2;
}

export interface DominantOptions {
  /** Scan range in Hz (default 100..3400, the telephone band). */
  minHz?: number;
  maxHz?: number;
  /** Skip this much from the start (jitter-buffer warm-up, ringing). Default 0. */
  skipSeconds?: number;
}

/**
 * The frequency with most energy in a WAV, by a Goertzel scan in 5 Hz steps (refined to 1 Hz)
 * summed over 100 ms blocks. Returns 0 for a silent file.
 */
export async function dominantFrequency(path: string, opts: DominantOptions = {}): Promise<number> {
  const wav = await readWav(path);
  const minHz = opts.minHz ?? 100;
  const maxHz = Math.min(opts.maxHz ?? 3400, wav.rate / 2 - 1);
  const first = Math.round((opts.skipSeconds ?? 0) * wav.rate);
  const block = Math.round(wav.rate / 10);
  const blocks: number[] = [];
  for (let at = first; at + block <= wav.samples.length; at += block) {
    let energy = 0;
    for (let i = at; i < at + block; i++) energy += (wav.samples[i] ?? 0) ** 2;
    if (energy > 1e-6 * block) blocks.push(at);
  }
  if (blocks.length === 0) return 0;
  const power = (freq: number): number =>
    blocks.reduce((sum, at) => sum + goertzel(wav.samples, at, block, freq, wav.rate), 0);
  let best = minHz;
  let bestPower = -1;
  for (let f = minHz; f <= maxHz; f += 5) {
    const p = power(f);
    if (p > bestPower) {
      bestPower = p;
      best = f;
    }
  }
  let refined = best;
  for (let f = best - 5; f <= best + 5; f++) {
    const p = power(f);
    if (p > bestPower) {
      bestPower = p;
      refined = f;
    }
  }
  return refined;
}

/**
 * True when a WAV's RIFF header has been finalised (its size field matches the file), i.e. the
 * writer (sndfile at the end of a call) has closed it.
 */
export async function wavComplete(path: string): Promise<boolean> {
  const buf = await readFile(path).catch(() => null);
  if (!buf || buf.length < 44 || buf.toString("ascii", 0, 4) !== "RIFF") return false;
  return buf.readUInt32LE(4) + 8 === buf.length;
}

/** Seconds of audio in a WAV, from its data (works while the writer still appends). */
export async function wavSeconds(path: string): Promise<number> {
  const wav = await readWav(path).catch(() => null);
  return wav && wav.rate > 0 ? wav.samples.length / wav.rate : 0;
}
