import { describe, expect, it } from "vitest";
import { decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw } from "../../src/media/g711.js";

// The reference algorithm of Sun's public-domain g711.c (the classic source of G.711 tables),
// used here as an independent oracle over every 16-bit input.

function seg(v: number, table: readonly number[]): number {
  for (let i = 0; i < table.length; i++) if (v <= (table[i] ?? 0)) return i;
  return table.length;
}
function refUlaw(pcm: number): number {
  const BIAS = 0x84;
  let v = pcm >> 2;
  let mask: number;
  if (v < 0) {
    v = -v;
    mask = 0x7f;
  } else mask = 0xff;
  if (v > 8159) v = 8159;
  v += BIAS >> 2;
  const s = seg(v, [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff]);
  if (s >= 8) return 0x7f ^ mask;
  return ((s << 4) | ((v >> (s + 1)) & 0xf)) ^ mask;
}
function refAlaw(pcm: number): number {
  let v = pcm >> 3;
  let mask: number;
  if (v >= 0) mask = 0xd5;
  else {
    mask = 0x55;
    v = -v - 1;
  }
  const s = seg(v, [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff]);
  if (s >= 8) return 0x7f ^ mask;
  let a = s << 4;
  a |= s < 2 ? (v >> 1) & 0xf : (v >> s) & 0xf;
  return a ^ mask;
}

describe("G.711 µ-law", () => {
  it("decodes the known values of G.711 table 2a", () => {
    const d = decodeMulaw(Uint8Array.from([0x00, 0x7f, 0x80, 0xff, 0x0f, 0x70]));
    expect(Array.from(d)).toEqual([-32124, 0, 32124, 0, -16764, -120]);
  });

  it("encodes silence as 0xFF and full scale to the end codes", () => {
    expect(Array.from(encodeMulaw(Int16Array.from([0, 32767, -32768, -1])))).toEqual([
      0xff, 0x80, 0x00, 0x7e,
    ]);
  });

  it("matches the reference encoder on every 16-bit input", () => {
    const all = new Int16Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = i - 32768;
    const enc = encodeMulaw(all);
    const mismatches: number[] = [];
    for (let i = 0; i < 65536; i++) if (enc[i] !== refUlaw(i - 32768)) mismatches.push(i - 32768);
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it("is idempotent: decode(encode(decode(b))) == decode(b) for all 256 codes", () => {
    const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const d = decodeMulaw(codes);
    expect(Array.from(decodeMulaw(encodeMulaw(d)))).toEqual(Array.from(d));
  });
});

describe("G.711 A-law", () => {
  it("decodes the known values of G.711 table 1a", () => {
    const d = decodeAlaw(Uint8Array.from([0xd5, 0x55, 0xaa, 0x2a, 0x80, 0x00]));
    expect(Array.from(d)).toEqual([8, -8, 32256, -32256, 5504, -5504]);
  });

  it("encodes silence as 0xD5 and -1 as 0x55", () => {
    expect(Array.from(encodeAlaw(Int16Array.from([0, -1, 32767, -32768])))).toEqual([0xd5, 0x55, 0xaa, 0x2a]);
  });

  it("matches the reference encoder on every 16-bit input", () => {
    const all = new Int16Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = i - 32768;
    const enc = encodeAlaw(all);
    let mismatches = 0;
    for (let i = 0; i < 65536; i++) if (enc[i] !== refAlaw(i - 32768)) mismatches++;
    expect(mismatches).toBe(0);
  });

  it("is idempotent over all 256 codes", () => {
    const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const d = decodeAlaw(codes);
    expect(Array.from(decodeAlaw(encodeAlaw(d)))).toEqual(Array.from(d));
  });
});
