/**
 * AES in counter mode (RFC 3711 §4.1.1) with the block cipher in OpenSSL: one long-lived
 * `aes-*-ecb` cipher per key encrypts a run of counter blocks, and the keystream is XORed over
 * the data. Node cannot re-key an `aes-128-ctr` cipher with a new IV, so a CTR cipher per packet
 * would be a fresh OpenSSL context (and key schedule) 50 times a second each way; ECB over the
 * counter blocks is the same keystream from one context. The counter blocks live in a buffer
 * reused from packet to packet.
 *
 * `batch()` makes the keystreams of many packets in one cipher call: each `update()` returns a
 * new native buffer, and a packet stream's IVs are known ahead (consecutive packet indices), so
 * a stream's keystream is made a second ahead (KeystreamCache in context.ts) instead of per
 * packet.
 */
import { type Cipher, createCipheriv } from "node:crypto";

export const BLOCK = 16;

export class AesCm {
  private readonly ecb: Cipher;
  private counters: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 16 && key.length !== 32)
      throw new Error(`AES-CM key must be 16 or 32 bytes, got ${key.length}`);
    this.ecb = createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
    // ECB without padding: update() returns exactly as many bytes as whole blocks it is given.
    this.ecb.setAutoPadding(false);
    this.counters = Buffer.alloc(BLOCK * 128);
  }

  /** The keystream for `length` bytes from the 16-byte initial counter `iv` (a new buffer). */
  keystream(iv: Buffer, length: number): Buffer {
    const blocks = Math.ceil(length / BLOCK);
    if (blocks === 0) return Buffer.alloc(0);
    if (blocks * BLOCK > this.counters.length) this.counters = Buffer.alloc(blocks * BLOCK);
    const c = this.counters;
    iv.copy(c, 0, 0, BLOCK);
    for (let b = 1; b < blocks; b++) {
      const o = b * BLOCK;
      c.copy(c, o, o - BLOCK, o);
      // counter + 1, mod 2^128 (carry from the last byte up)
      for (let i = o + BLOCK - 1; i >= o; i--) {
        c[i] = ((c[i] as number) + 1) & 0xff;
        if (c[i] !== 0) break;
      }
    }
    return this.ecb.update(c.subarray(0, blocks * BLOCK));
  }

  /**
   * The keystreams of `count` packets, `blocksEach` blocks (at most 2^16) each, one cipher call:
   * packet k's starts at byte k * blocksEach * 16 and its initial counter is what `ivAt(k, c, o)`
   * writes at c[o..o+16) (an SRTP IV: its low 16 bits zero, RFC 3711 §4.1.1, so the block
   * counter only fills them).
   */
  batch(count: number, blocksEach: number, ivAt: (k: number, into: Buffer, offset: number) => void): Buffer {
    if (blocksEach > 0x10000) throw new Error("AES-CM: at most 2^16 blocks per packet");
    const size = count * blocksEach * BLOCK;
    if (size > this.counters.length) this.counters = Buffer.alloc(size);
    const c = this.counters;
    for (let k = 0; k < count; k++) {
      const o = k * blocksEach * BLOCK;
      ivAt(k, c, o);
      for (let b = 1; b < blocksEach; b++) {
        const ob = o + b * BLOCK;
        c.copy(c, ob, o, o + 14);
        c[ob + 14] = b >>> 8;
        c[ob + 15] = b & 0xff;
      }
    }
    return this.ecb.update(c.subarray(0, size));
  }

  /** dst[0..n) = src[0..n) XOR keystream(iv); dst may be src (in place). */
  xor(iv: Buffer, src: Uint8Array, dst: Uint8Array): void {
    const n = src.length;
    if (n === 0) return;
    const ks = this.keystream(iv, n);
    for (let i = 0; i < n; i++) dst[i] = (src[i] as number) ^ (ks[i] as number);
  }
}
