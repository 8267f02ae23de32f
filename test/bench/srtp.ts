/**
 * SRTP per-packet cost (issue 14): protect + unprotect of one 20 ms G.711 packet (12-byte header,
 * 160-byte payload) and of one RTCP report, per profile, in microseconds, with the heap growth
 * per packet. A call is 50 packets a second each way: 20 µs a pair is 0.1 % of a core. Also the
 * AES-CM design choice measured: the keystream from one ECB context per key (what context.ts does)
 * against a fresh aes-128-ctr cipher per packet.
 */
import { createCipheriv, randomBytes } from "node:crypto";
import { silentLogger } from "../../src/log/logger.js";
import { AesCm } from "../../src/media/srtp/aes-cm.js";
import { createSrtpProtection, type SrtpProfile } from "../../src/media/srtp/index.js";

export interface Figure {
  readonly what: string;
  readonly usPerOp: number;
  readonly heapBytesPerOp: number;
}

const PROFILES: SrtpProfile[] = ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM"];

function rtp(seq: number): Buffer {
  const p = randomBytes(172);
  p[0] = 0x80;
  p[1] = 0;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE(0x1234, 8);
  return p;
}

function time(what: string, n: number, op: (i: number) => void): Figure {
  for (let i = 0; i < 2000; i++) op(i); // warm-up
  globalThis.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) op(i);
  const ns = Number(process.hrtime.bigint() - t0);
  const heap1 = process.memoryUsage().heapUsed;
  return { what, usPerOp: ns / n / 1000, heapBytesPerOp: Math.max(0, (heap1 - heap0) / n) };
}

export function measure(n = 50_000): Figure[] {
  const out: Figure[] = [];
  for (const profile of PROFILES) {
    const k = {
      profile,
      masterKey: randomBytes(16),
      masterSalt: randomBytes(profile === "AEAD_AES_128_GCM" ? 12 : 14),
    };
    const tx = createSrtpProtection({ kind: "sdes", send: k, receive: k, log: silentLogger });
    const rx = createSrtpProtection({ kind: "sdes", send: k, receive: k, log: silentLogger });
    const pkt = rtp(0);
    let seq = 0;
    out.push(
      time(`${profile} RTP protect+unprotect`, n, () => {
        pkt.writeUInt16BE(seq++ & 0xffff, 2);
        if (rx.unprotectRtp(tx.protectRtp(pkt)) === null) throw new Error("round trip failed");
      }),
    );
    const rtcp = randomBytes(52);
    rtcp[0] = 0x81;
    rtcp[1] = 200;
    out.push(
      time(`${profile} RTCP protect+unprotect`, n / 10, () => {
        if (rx.unprotectRtcp(tx.protectRtcp(rtcp)) === null) throw new Error("round trip failed");
      }),
    );
  }
  const key = randomBytes(16);
  const iv = randomBytes(16);
  const payload = randomBytes(160);
  const cm = new AesCm(key);
  const dst = Buffer.alloc(160);
  out.push(time("AES-CM 160 B, ECB context reused (ours)", n, () => cm.xor(iv, payload, dst)));
  out.push(
    time("AES-CM 160 B, new aes-128-ctr cipher per packet", n, () => {
      createCipheriv("aes-128-ctr", key, iv).update(payload);
    }),
  );
  return out;
}

export async function main(write: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  write("SRTP per packet (node:crypto / OpenSSL)\n");
  for (const f of measure())
    write(
      `  ${f.what.padEnd(52)} ${f.usPerOp.toFixed(2).padStart(7)} µs  ${f.heapBytesPerOp.toFixed(0).padStart(5)} B heap\n`,
    );
}
