/**
 * WAV (RIFF WAVE) reading and writing for 16-bit PCM. Reading walks the chunks (fmt may be
 * followed by LIST/fact before data) and accepts WAVE_FORMAT_PCM and WAVE_FORMAT_EXTENSIBLE
 * with the PCM sub-format; anything else is reported as unsupported with what was found.
 */
import { AudioError } from "./audio.js";

export interface WavInfo {
  readonly rate: number;
  readonly channels: number;
  readonly bitsPerSample: number;
  /** Interleaved samples. */
  readonly samples: Int16Array;
}

/** WAV samples are little-endian, like the Pi's and PC's memory: then they are copied as bytes. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

export function parseWav(buf: Buffer, name = "WAV file"): WavInfo {
  if (buf.length < 12 || buf.toString("ascii", 0, 4) !== "RIFF" || buf.toString("ascii", 8, 12) !== "WAVE") {
    throw new AudioError("unsupported", `${name} is not a RIFF/WAVE file`);
  }
  let off = 12;
  let fmt: { format: number; channels: number; rate: number; bits: number } | null = null;
  while (off + 8 <= buf.length) {
    const id = buf.toString("ascii", off, off + 4);
    let size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === "fmt ") {
      if (size < 16 || body + 16 > buf.length)
        throw new AudioError("unsupported", `${name}: short fmt chunk`);
      let format = buf.readUInt16LE(body);
      if (format === WAVE_FORMAT_EXTENSIBLE && size >= 40) format = buf.readUInt16LE(body + 24);
      fmt = {
        format,
        channels: buf.readUInt16LE(body + 2),
        rate: buf.readUInt32LE(body + 4),
        bits: buf.readUInt16LE(body + 14),
      };
    } else if (id === "data") {
      if (!fmt) throw new AudioError("unsupported", `${name}: data before fmt`);
      if (fmt.format !== WAVE_FORMAT_PCM) {
        throw new AudioError(
          "unsupported",
          `${name}: format ${fmt.format} is not PCM (convert with: sox IN -b 16 -e signed OUT.wav)`,
        );
      }
      if (fmt.bits !== 16) {
        throw new AudioError(
          "unsupported",
          `${name}: ${fmt.bits}-bit samples; 16-bit PCM required (sox IN -b 16 OUT.wav)`,
        );
      }
      if (fmt.channels < 1 || fmt.rate < 1000 || fmt.rate > 192000) {
        throw new AudioError("unsupported", `${name}: ${fmt.channels} channels at ${fmt.rate} Hz`);
      }
      // A streaming writer may leave the size at 0 or 0xffffffff: take what is there.
      if (size === 0 || body + size > buf.length) size = buf.length - body;
      const n = Math.floor(size / 2);
      const samples = new Int16Array(n);
      if (LITTLE_ENDIAN) new Uint8Array(samples.buffer).set(buf.subarray(body, body + 2 * n));
      else for (let i = 0; i < n; i++) samples[i] = buf.readInt16LE(body + 2 * i);
      return { rate: fmt.rate, channels: fmt.channels, bitsPerSample: fmt.bits, samples };
    }
    off = body + size + (size & 1);
  }
  throw new AudioError("unsupported", `${name}: no data chunk`);
}

/** Averages interleaved channels into mono. */
export function downmix(samples: Int16Array, channels: number): Int16Array {
  if (channels === 1) return samples;
  const n = Math.floor(samples.length / channels);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += samples[i * channels + c] ?? 0;
    out[i] = Math.round(s / channels);
  }
  return out;
}

/** A 44-byte header for 16-bit mono PCM with `dataBytes` of samples. */
export function wavHeader(rate: number, dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write("RIFF", 0, "ascii");
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write("WAVE", 8, "ascii");
  h.write("fmt ", 12, "ascii");
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(WAVE_FORMAT_PCM, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write("data", 36, "ascii");
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** Little-endian bytes of `frame`, in a new Buffer (the caller may reuse `frame`). */
export function pcmToBytes(frame: Int16Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength));
  const b = Buffer.allocUnsafe(frame.length * 2);
  for (let i = 0; i < frame.length; i++) b.writeInt16LE(frame[i] ?? 0, i * 2);
  return b;
}
