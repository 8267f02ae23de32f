/**
 * G.711 µ-law and A-law (ITU-T G.711, tables 1a/1b and 2a/2b), table-driven.
 *
 * Decoding is a 256-entry table; encoding is a 16384-entry table indexed by the 14-bit
 * (µ-law) or 13-bit (A-law) linear value, so both directions are one lookup per sample.
 */

const MULAW_BIAS = 0x84;
const MULAW_CLIP = 32635;

function mulawEncodeSample(pcm: number): number {
  let sign = 0;
  let s = pcm;
  if (s < 0) {
    s = -s;
    sign = 0x80;
  }
  if (s > MULAW_CLIP) s = MULAW_CLIP;
  s += MULAW_BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

function mulawDecodeSample(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

function alawEncodeSample(pcm: number): number {
  let sign: number;
  let s = pcm >> 3; // A-law works on 13 bits
  if (s >= 0) {
    sign = 0xd5; // sign bit set for positive, then even bits inverted (0x55)
  } else {
    sign = 0x55;
    s = -s - 1;
  }
  if (s > 0xfff) s = 0xfff;
  let exponent = 0;
  if (s >= 0x20) {
    exponent = 1;
    for (let v = s >> 5; v > 1; v >>= 1) exponent++;
  }
  const mantissa = exponent === 0 ? (s >> 1) & 0x0f : (s >> exponent) & 0x0f;
  return ((exponent << 4) | mantissa) ^ sign;
}

function alawDecodeSample(byte: number): number {
  const a = byte ^ 0x55;
  const exponent = (a >> 4) & 0x07;
  const mantissa = a & 0x0f;
  let magnitude = exponent === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  if ((a & 0x80) === 0) magnitude = -magnitude;
  return magnitude;
}

const MULAW_DECODE = new Int16Array(256);
const ALAW_DECODE = new Int16Array(256);
for (let i = 0; i < 256; i++) {
  MULAW_DECODE[i] = mulawDecodeSample(i);
  ALAW_DECODE[i] = alawDecodeSample(i);
}

// Index = (pcm >> 2) + 8192: 14 significant bits are all either law looks at.
const MULAW_ENCODE = new Uint8Array(16384);
const ALAW_ENCODE = new Uint8Array(16384);
for (let i = 0; i < 16384; i++) {
  const pcm = (i - 8192) << 2;
  MULAW_ENCODE[i] = mulawEncodeSample(pcm);
  ALAW_ENCODE[i] = alawEncodeSample(pcm);
}

export function encodeMulaw(pcm: Int16Array, out: Uint8Array = new Uint8Array(pcm.length)): Uint8Array {
  for (let i = 0; i < pcm.length; i++) out[i] = MULAW_ENCODE[((pcm[i] ?? 0) >> 2) + 8192] ?? 0xff;
  return out;
}

export function decodeMulaw(bytes: Uint8Array, out: Int16Array = new Int16Array(bytes.length)): Int16Array {
  for (let i = 0; i < bytes.length; i++) out[i] = MULAW_DECODE[bytes[i] ?? 0xff] ?? 0;
  return out;
}

export function encodeAlaw(pcm: Int16Array, out: Uint8Array = new Uint8Array(pcm.length)): Uint8Array {
  for (let i = 0; i < pcm.length; i++) out[i] = ALAW_ENCODE[((pcm[i] ?? 0) >> 2) + 8192] ?? 0xd5;
  return out;
}

export function decodeAlaw(bytes: Uint8Array, out: Int16Array = new Int16Array(bytes.length)): Int16Array {
  for (let i = 0; i < bytes.length; i++) out[i] = ALAW_DECODE[bytes[i] ?? 0xd5] ?? 0;
  return out;
}
