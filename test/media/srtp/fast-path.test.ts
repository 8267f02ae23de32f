/**
 * The SRTP of the AES-CM suites with its keystream made ahead (KeystreamCache, issue 14's CPU
 * part) against a reference written straight from RFC 3711 on node:crypto (a CTR cipher and an
 * Hmac per packet), over what moves the window: payloads longer than it, jumps forward and back,
 * two SSRCs interleaved, the sequence wrap, late and reordered packets at the receiver.
 */
import { createCipheriv, createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SrtpReceiver, SrtpSender } from "../../../src/media/srtp/context.js";
import { KeyDerivation, LABEL } from "../../../src/media/srtp/kdf.js";
import type { SrtpProfile } from "../../../src/media/srtp/suites.js";

function rtp(seq: number, ssrc: number, payload: Buffer): Buffer {
  const p = Buffer.alloc(12 + payload.length);
  p[0] = 0x80;
  p[1] = 8;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE((seq * 160) >>> 0, 4);
  p.writeUInt32BE(ssrc >>> 0, 8);
  payload.copy(p, 12);
  return p;
}

/** RFC 3711 §4.1.1 and §4.2 on node:crypto, one cipher and one Hmac per packet (the reference). */
function reference(profile: SrtpProfile, masterKey: Buffer, masterSalt: Buffer) {
  const kdf = new KeyDerivation(masterKey, masterSalt);
  const key = kdf.derive(LABEL.rtpEncryption, 16);
  const salt = kdf.derive(LABEL.rtpSalt, 14);
  const auth = kdf.derive(LABEL.rtpAuth, 20);
  const tag = profile === "AES_CM_128_HMAC_SHA1_80" ? 10 : 4;
  return (p: Buffer, roc: number): Buffer => {
    const ssrc = p.readUInt32BE(8);
    const seq = p.readUInt16BE(2);
    const iv = Buffer.alloc(16);
    salt.copy(iv, 0);
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    iv.writeUInt32BE((iv.readUInt32BE(8) ^ roc) >>> 0, 8);
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ seq, 12);
    const ct = createCipheriv("aes-128-ctr", key, iv).update(p.subarray(12));
    const body = Buffer.concat([p.subarray(0, 12), ct]);
    const word = Buffer.alloc(4);
    word.writeUInt32BE(roc);
    const mac = createHmac("sha1", auth).update(body).update(word).digest();
    return Buffer.concat([body, mac.subarray(0, tag)]);
  };
}

describe.each(["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"] as const)(
  "%s keystream made ahead",
  (profile) => {
    it("protects exactly as the per-packet reference, across jumps, long payloads, the wrap and two SSRCs", () => {
      const masterKey = randomBytes(16);
      const masterSalt = randomBytes(14);
      const keys = { profile, masterKey, masterSalt };
      const ref = reference(profile, masterKey, masterSalt);
      const tx = new SrtpSender(keys);
      const rx = new SrtpReceiver(keys);
      // [seq, ssrc, payload length, roc]: in order, a long payload, a jump ahead and back within
      // the ROC, interleaved SSRCs, the wrap (its ROC goes to 1).
      const plan: [number, number, number, number][] = [];
      for (let s = 100; s < 180; s++) plan.push([s, 0xaaaa, s % 7 === 0 ? 257 + s : 160, 0]);
      plan.push([400, 0xaaaa, 160, 0], [401, 0xaaaa, 0, 0], [402, 0xaaaa, 1, 0], [380, 0xaaaa, 256, 0]);
      for (let s = 0; s < 60; s++) plan.push([1000 + s, 0xbbbb, 80, 0], [403 + s, 0xaaaa, 160, 0]);
      for (let s = 65500; s < 65536 + 40; s++) plan.push([s & 0xffff, 0xcccc, 160, s >= 65536 ? 1 : 0]);
      const sent: { wire: Buffer; clear: Buffer }[] = [];
      for (const [seq, ssrc, len, roc] of plan) {
        const clear = rtp(seq, ssrc, randomBytes(len));
        const wire = tx.protectRtp(Buffer.from(clear)) as Buffer;
        expect(wire.equals(ref(clear, roc)), `seq ${seq} ssrc ${ssrc.toString(16)} len ${len}`).toBe(true);
        sent.push({ wire, clear });
      }
      // The receiver: in order but for a few late ones (within the replay window).
      const order = sent.map((_, i) => i);
      for (const [a, b] of [
        [10, 14],
        [90, 93],
        [200, 203],
      ] as const) {
        const t = order[a] as number;
        order[a] = order[b] as number;
        order[b] = t;
      }
      for (const i of order) {
        const { wire, clear } = sent[i] as { wire: Buffer; clear: Buffer };
        const out = rx.unprotectRtp(Buffer.from(wire));
        expect(typeof out === "number" ? out : out.equals(clear), `packet ${i}`).toBe(true);
      }
    });
  },
);
