/**
 * HMAC-SHA1 (RFC 2104, FIPS 180-4) for SRTP's authentication tag, keyed once per session and
 * computed per packet with no allocation and no native object.
 *
 * Why not node:crypto here: Node cannot re-use an Hmac (one `createHmac` per packet is a new
 * OpenSSL context, a digest lookup by name, a key schedule and a native object the garbage
 * collector must finalise, 100 times a second per call), and `Hash.copy()` of a keyed state costs
 * two such objects per packet. The key's inner and outer pads are compressed once at construction;
 * a packet then costs its own blocks (3 for a 172-byte G.711 packet) plus one for the outer hash,
 * straight-line 32-bit integer arithmetic with no secret-dependent branch or table index.
 * Checked against node:crypto's HMAC (test/media/srtp/hmac-sha1.test.ts) and the RFC 3711
 * vectors through the SRTP contexts.
 */
import { createHash } from "node:crypto";

const BLOCK = 64;

export class HmacSha1 {
  private readonly inner = new Int32Array(5);
  private readonly outer = new Int32Array(5);
  private readonly h = new Int32Array(5);
  private readonly w = new Int32Array(80);
  private readonly block = new Uint8Array(BLOCK);
  private fill = 0;
  /** Bytes hashed so far in the running hash, the key's pad block included. */
  private total = 0;
  /** The last MAC computed (20 bytes), overwritten by the next. */
  readonly mac = new Uint8Array(20);

  constructor(key: Uint8Array) {
    // RFC 2104 §2: a key longer than the block is hashed first (SRTP's are 20 bytes).
    const k = key.length > BLOCK ? createHash("sha1").update(key).digest() : key;
    for (const [pad, state] of [
      [0x36, this.inner],
      [0x5c, this.outer],
    ] as const) {
      this.reset();
      for (let i = 0; i < BLOCK; i++) this.block[i] = (k[i] ?? 0) ^ pad;
      this.compress();
      state.set(this.h);
    }
  }

  /** Starts a MAC: the running hash is the inner hash after the key's pad. */
  begin(): this {
    this.h.set(this.inner);
    this.fill = 0;
    this.total = BLOCK;
    return this;
  }

  /** Adds `data[from..to)` to the running MAC. */
  update(data: Uint8Array, from = 0, to = data.length): this {
    const b = this.block;
    let fill = this.fill;
    let i = from;
    this.total += to - from;
    // Whole blocks straight from the data when the running block is empty; the rest copied.
    if (fill === 0) for (; i + BLOCK <= to; i += BLOCK) this.compress(data, i);
    for (; i < to; i++) {
      b[fill++] = data[i] as number;
      if (fill === BLOCK) {
        this.compress();
        fill = 0;
      }
    }
    this.fill = fill;
    return this;
  }

  /** Adds a 32-bit word, big-endian (SRTP's rollover counter, RFC 3711 §4.2). */
  updateWord(v: number): this {
    const b = this.block;
    for (let s = 24; s >= 0; s -= 8) {
      b[this.fill++] = (v >>> s) & 0xff;
      if (this.fill === BLOCK) {
        this.compress();
        this.fill = 0;
      }
    }
    this.total += 4;
    return this;
  }

  /** Ends the MAC: `mac` holds its 20 bytes. */
  end(): Uint8Array {
    this.finish();
    this.digestInto(this.mac);
    // The outer hash: the outer pad's state, then the inner digest.
    this.h.set(this.outer);
    this.fill = 0;
    this.total = BLOCK;
    this.update(this.mac);
    this.finish();
    this.digestInto(this.mac);
    return this.mac;
  }

  private reset(): void {
    const h = this.h;
    h[0] = 0x67452301;
    h[1] = 0xefcdab89 | 0;
    h[2] = 0x98badcfe | 0;
    h[3] = 0x10325476;
    h[4] = 0xc3d2e1f0 | 0;
    this.fill = 0;
    this.total = 0;
  }

  /** FIPS 180-4 §5.1.1 padding: 0x80, zeros, the length in bits as 64 bits. */
  private finish(): void {
    const b = this.block;
    const bits = this.total * 8;
    b[this.fill++] = 0x80;
    if (this.fill > BLOCK - 8) {
      b.fill(0, this.fill);
      this.compress();
      this.fill = 0;
    }
    b.fill(0, this.fill, BLOCK - 8);
    const hi = Math.floor(bits / 0x100000000);
    const lo = bits >>> 0;
    b[56] = hi >>> 24;
    b[57] = (hi >>> 16) & 0xff;
    b[58] = (hi >>> 8) & 0xff;
    b[59] = hi & 0xff;
    b[60] = lo >>> 24;
    b[61] = (lo >>> 16) & 0xff;
    b[62] = (lo >>> 8) & 0xff;
    b[63] = lo & 0xff;
    this.compress();
    this.fill = 0;
  }

  private digestInto(out: Uint8Array): void {
    const h = this.h;
    for (let i = 0; i < 5; i++) {
      const v = h[i] as number;
      out[4 * i] = v >>> 24;
      out[4 * i + 1] = (v >>> 16) & 0xff;
      out[4 * i + 2] = (v >>> 8) & 0xff;
      out[4 * i + 3] = v & 0xff;
    }
  }

  /** FIPS 180-4 §6.1.2: one 512-bit block, `src[off..off+64)`, into `h`. */
  private compress(src: Uint8Array = this.block, off = 0): void {
    const w = this.w;
    for (let t = 0; t < 16; t++) {
      const o = off + 4 * t;
      w[t] =
        ((src[o] as number) << 24) |
        ((src[o + 1] as number) << 16) |
        ((src[o + 2] as number) << 8) |
        (src[o + 3] as number);
    }
    for (let t = 16; t < 80; t++) {
      const x = (w[t - 3] as number) ^ (w[t - 8] as number) ^ (w[t - 14] as number) ^ (w[t - 16] as number);
      w[t] = (x << 1) | (x >>> 31);
    }
    const h = this.h;
    let a = h[0] as number;
    let b = h[1] as number;
    let c = h[2] as number;
    let d = h[3] as number;
    let e = h[4] as number;
    let t = 0;
    for (; t < 20; t++) {
      const tmp = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + (w[t] as number)) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    for (; t < 40; t++) {
      const tmp = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + (w[t] as number)) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    for (; t < 60; t++) {
      const tmp =
        (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e - 0x70e44324 + (w[t] as number)) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    for (; t < 80; t++) {
      const tmp = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e - 0x359d3e2a + (w[t] as number)) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    h[0] = ((h[0] as number) + a) | 0;
    h[1] = ((h[1] as number) + b) | 0;
    h[2] = ((h[2] as number) + c) | 0;
    h[3] = ((h[3] as number) + d) | 0;
    h[4] = ((h[4] as number) + e) | 0;
  }
}
