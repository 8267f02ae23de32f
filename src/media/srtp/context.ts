/**
 * The SRTP and SRTCP transforms of RFC 3711 (AES-CM + HMAC-SHA1) and RFC 7714 (AES-GCM) for one
 * direction of one call, keyed by one master key and salt. All cryptography runs in OpenSSL
 * through node:crypto; what is done here is framing: where the header ends, the IV, the rollover
 * counter, the replay window, the tags' place.
 *
 * A sending context numbers each SSRC's packets (the rollover counter follows the sequence across
 * its wraps, §3.3.1) and its SRTCP index; a receiving context keeps, per authenticated SSRC, the
 * rollover counter guess (Appendix A) and a 64-packet replay window for SRTP and for SRTCP. State
 * for an SSRC is created only once one of its packets has authenticated, so forged packets with
 * random SSRCs cannot grow it.
 *
 * Per packet of the AES-CM suites, the keystream is no cipher call of its own: an SSRC's is made a
 * second of packets ahead in one OpenSSL call (KeystreamCache). The HMAC stays one createHmac per
 * packet: Node cannot re-key or reset an Hmac, and the tag must be computed in OpenSSL.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from "node:crypto";
import { AesCm, BLOCK } from "./aes-cm.js";
import { KeyDerivation, LABEL } from "./kdf.js";
import { guessRoc, ReplayWindow } from "./replay.js";
import { type SrtpProfile, SUITES, type Suite } from "./suites.js";

export interface SrtpKeys {
  readonly profile: SrtpProfile;
  readonly masterKey: Buffer;
  readonly masterSalt: Buffer;
}

/** Why a received packet was refused. */
export const AUTH_FAILED = 1;
export const REPLAYED = 2;
export type Refusal = typeof AUTH_FAILED | typeof REPLAYED;

interface SessionKeys {
  /** AES-CM keystream generator (HMAC suites). */
  readonly cm: AesCm | null;
  /** AES-GCM key (AEAD suite). */
  readonly key: Buffer;
  readonly auth: Buffer;
  readonly salt: Buffer;
}

function deriveSession(kdf: KeyDerivation, suite: Suite, rtcp: boolean): SessionKeys {
  const key = kdf.derive(rtcp ? LABEL.rtcpEncryption : LABEL.rtpEncryption, suite.keyLength);
  const salt = kdf.derive(rtcp ? LABEL.rtcpSalt : LABEL.rtpSalt, suite.saltLength);
  const auth =
    suite.authKeyLength > 0
      ? kdf.derive(rtcp ? LABEL.rtcpAuth : LABEL.rtpAuth, suite.authKeyLength)
      : Buffer.alloc(0);
  return { cm: suite.aead ? null : new AesCm(key), key, auth, salt };
}

/** Keystream blocks made ahead per packet: 256 bytes of payload (G.711's 20 ms is 160, Opus's less). */
const AHEAD_BLOCKS = 16;
/** Packets made ahead: a second of 20 ms packets. */
const AHEAD_PACKETS = 50;

/**
 * One SSRC's SRTP keystream (AES-CM), made AHEAD_PACKETS consecutive packet indices at a time in
 * one cipher call rather than one call (and one native buffer) per packet. A packet outside the
 * window (a jump, a late one) starts a new window at its index; a payload longer than the window's
 * blocks is not covered (the caller makes its keystream alone). The keystream of an index is the
 * same whenever it is made: this only moves when the cipher runs.
 */
class KeystreamCache {
  private base = -1;
  private ks: Buffer | null = null;

  constructor(
    private readonly cm: AesCm,
    private readonly ivOf: (index: number) => Buffer,
  ) {}

  /** dst = src XOR the keystream of packet `index`; false when the payload is too long for it. */
  xor(index: number, src: Uint8Array, dst: Uint8Array): boolean {
    const n = src.length;
    if (n > AHEAD_BLOCKS * BLOCK) return false;
    let ks = this.ks;
    if (ks === null || index < this.base || index >= this.base + AHEAD_PACKETS) {
      ks = this.cm.batch(AHEAD_PACKETS, AHEAD_BLOCKS, (k, into, offset) => {
        this.ivOf(index + k).copy(into, offset, 0, BLOCK);
      });
      this.ks = ks;
      this.base = index;
    }
    const o = (index - this.base) * AHEAD_BLOCKS * BLOCK;
    for (let i = 0; i < n; i++) dst[i] = (src[i] as number) ^ (ks[o + i] as number);
    return true;
  }
}

/** Checks a key's lengths against its profile; throws with a message naming what is wrong. */
export function checkKeys(k: SrtpKeys): Suite {
  const suite = SUITES[k.profile];
  if (!suite) throw new Error(`unknown SRTP profile ${String(k.profile)}`);
  if (k.masterKey.length !== suite.keyLength)
    throw new Error(`${k.profile}: master key must be ${suite.keyLength} bytes, got ${k.masterKey.length}`);
  if (k.masterSalt.length !== suite.saltLength)
    throw new Error(
      `${k.profile}: master salt must be ${suite.saltLength} bytes, got ${k.masterSalt.length}`,
    );
  return suite;
}

/**
 * Length of the RTP header (fixed part, CSRCs, extension) of a packet of `len` bytes, or -1 when
 * it is not an RTP version 2 packet that long.
 */
export function rtpHeaderLength(p: Buffer, len: number): number {
  if (len < 12) return -1;
  const b0 = p[0] as number;
  if (b0 >> 6 !== 2) return -1;
  let h = 12 + 4 * (b0 & 0x0f);
  if (b0 & 0x10) {
    if (len < h + 4) return -1;
    h += 4 + 4 * p.readUInt16BE(h + 2);
  }
  return h <= len ? h : -1;
}

/**
 * RFC 3711 §3.3.1 / Appendix A: after a packet of index v·2^16 + seq (v from guessRoc), the
 * stream's ROC and highest sequence number s_l move on if it is the newest yet.
 */
function advanceRoc(s: { roc: number; sl: number }, v: number, seq: number): void {
  if (v === s.roc + 1) {
    s.roc = v;
    s.sl = seq;
  } else if (v === s.roc && seq > s.sl) s.sl = seq;
}

const RTCP_HEADER = 8;
const E_BIT = 0x80000000;

abstract class Context {
  protected readonly suite: Suite;
  protected readonly rtp: SessionKeys;
  protected readonly rtcp: SessionKeys;
  /** Scratch: the counter-mode IV (16 bytes) or the GCM nonce (12 bytes), and the ROC word. */
  protected readonly iv16 = Buffer.alloc(16);
  protected readonly iv12 = Buffer.alloc(12);
  protected readonly word = Buffer.alloc(4);

  constructor(keys: SrtpKeys) {
    this.suite = checkKeys(keys);
    const kdf = new KeyDerivation(keys.masterKey, keys.masterSalt);
    this.rtp = deriveSession(kdf, this.suite, false);
    this.rtcp = deriveSession(kdf, this.suite, true);
  }

  /**
   * The IV for the 48-bit packet index `hi·2^16 + lo` under `salt`. RFC 3711 §4.1.1 (AES-CM):
   * IV = (k_s·2^16) XOR (SSRC·2^64) XOR (index·2^16); RFC 7714 §8.1/§9.1 (GCM): the salt XOR
   * 00 00 || SSRC || index. SRTP's index is ROC||SEQ, SRTCP's the 31-bit index zero-extended,
   * so both packet kinds share this one layout.
   */
  private iv(salt: Buffer, ssrc: number, hi: number, lo: number): Buffer {
    if (this.suite.aead) {
      const iv = this.iv12;
      iv.writeUInt16BE(0, 0);
      iv.writeUInt32BE(ssrc, 2);
      iv.writeUInt32BE(hi >>> 0, 6);
      iv.writeUInt16BE(lo, 10);
      for (let i = 0; i < 12; i++) iv[i] = (iv[i] as number) ^ (salt[i] as number);
      return iv;
    }
    const iv = this.iv16;
    salt.copy(iv, 0, 0, 14);
    iv[14] = 0;
    iv[15] = 0;
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    iv.writeUInt32BE((iv.readUInt32BE(8) ^ hi) >>> 0, 8);
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ lo, 12);
    return iv;
  }

  /** SRTP: index = 2^16·ROC + SEQ. */
  protected rtpIv(ssrc: number, roc: number, seq: number): Buffer {
    return this.iv(this.rtp.salt, ssrc, roc, seq);
  }

  /** SRTCP: the 31-bit index. */
  protected rtcpIv(ssrc: number, index: number): Buffer {
    return this.iv(this.rtcp.salt, ssrc, index >>> 16, index & 0xffff);
  }

  /** HMAC-SHA1 over `data` (and the 4-byte ROC for SRTP, §4.2), the full 20 bytes. */
  protected hmac(key: Buffer, data: Uint8Array, roc: number | null): Buffer {
    const h = createHmac("sha1", key).update(data);
    if (roc !== null) {
      this.word.writeUInt32BE(roc >>> 0, 0);
      h.update(this.word);
    }
    return h.digest();
  }

  /** An SSRC's keystream window, for the AES-CM suites (null for GCM). */
  protected keystreamFor(ssrc: number): KeystreamCache | null {
    const cm = this.rtp.cm;
    if (cm === null) return null;
    return new KeystreamCache(cm, (index) => this.rtpIv(ssrc, Math.floor(index / 0x10000), index & 0xffff));
  }
}

/** Protects what we send. */
export class SrtpSender extends Context {
  private readonly rocs = new Map<number, { roc: number; sl: number; readonly ks: KeystreamCache | null }>();
  private readonly rtcpIndex = new Map<number, number>();

  /** The SRTP packet for a clear RTP packet, or null when `p` is not an RTP packet. */
  protectRtp(p: Buffer): Buffer | null {
    const len = p.length;
    const h = rtpHeaderLength(p, len);
    if (h < 0) return null;
    const ssrc = p.readUInt32BE(8);
    const seq = p.readUInt16BE(2);
    // §3.3.1: the rollover counter counts the sequence's wraps (Appendix A's guess, from our side).
    let st = this.rocs.get(ssrc);
    let roc = 0;
    if (!st) {
      st = { roc: 0, sl: seq, ks: this.keystreamFor(ssrc) };
      this.rocs.set(ssrc, st);
    } else {
      roc = Math.max(guessRoc(st.roc, st.sl, seq), 0);
      advanceRoc(st, roc, seq);
    }
    const tag = this.suite.rtpTag;
    const out = Buffer.allocUnsafe(len + tag);
    p.copy(out, 0, 0, h);
    if (this.suite.aead) {
      const iv = this.rtpIv(ssrc, roc, seq);
      const c = createCipheriv("aes-128-gcm", this.rtp.key, iv, { authTagLength: 16 });
      c.setAAD(p.subarray(0, h));
      const ct = c.update(p.subarray(h, len));
      c.final();
      ct.copy(out, h);
      c.getAuthTag().copy(out, len);
      return out;
    }
    const payload = p.subarray(h, len);
    const ciphertext = out.subarray(h, len);
    if (!st.ks?.xor(roc * 0x10000 + seq, payload, ciphertext))
      (this.rtp.cm as AesCm).xor(this.rtpIv(ssrc, roc, seq), payload, ciphertext);
    this.hmac(this.rtp.auth, out.subarray(0, len), roc).copy(out, len, 0, tag);
    return out;
  }

  /** The SRTCP packet (encrypted, E bit set) for a clear compound RTCP packet, or null if too short. */
  protectRtcp(p: Buffer): Buffer | null {
    const len = p.length;
    if (len < RTCP_HEADER) return null;
    const ssrc = p.readUInt32BE(4);
    const index = this.rtcpIndex.get(ssrc) ?? 0;
    this.rtcpIndex.set(ssrc, (index + 1) & 0x7fffffff);
    const tag = this.suite.rtcpTag;
    const out = Buffer.allocUnsafe(len + 4 + tag);
    p.copy(out, 0, 0, RTCP_HEADER);
    const iv = this.rtcpIv(ssrc, index);
    if (this.suite.aead) {
      // RFC 7714 §9: header || ciphertext || tag || E+index; the AAD is the header and E+index.
      const c = createCipheriv("aes-128-gcm", this.rtcp.key, iv, { authTagLength: 16 });
      this.word.writeUInt32BE((E_BIT | index) >>> 0, 0);
      c.setAAD(Buffer.concat([p.subarray(0, RTCP_HEADER), this.word]));
      const ct = c.update(p.subarray(RTCP_HEADER, len));
      c.final();
      ct.copy(out, RTCP_HEADER);
      c.getAuthTag().copy(out, len);
      out.writeUInt32BE((E_BIT | index) >>> 0, len + tag);
      return out;
    }
    // RFC 3711 §3.4: header || ciphertext || E+index || tag over all before it.
    (this.rtcp.cm as AesCm).xor(iv, p.subarray(RTCP_HEADER, len), out.subarray(RTCP_HEADER, len));
    out.writeUInt32BE((E_BIT | index) >>> 0, len);
    this.hmac(this.rtcp.auth, out.subarray(0, len + 4), null).copy(out, len + 4, 0, tag);
    return out;
  }
}

interface RtpSource {
  roc: number;
  sl: number;
  readonly window: ReplayWindow;
  readonly ks: KeystreamCache | null;
}

/** Checks and decrypts what we receive, in place. */
export class SrtpReceiver extends Context {
  private readonly sources = new Map<number, RtpSource>();
  private readonly rtcpWindows = new Map<number, ReplayWindow>();

  /** The clear RTP packet (a view of `p`, decrypted in place), or why it was refused. */
  unprotectRtp(p: Buffer): Buffer | Refusal {
    const tag = this.suite.rtpTag;
    const len = p.length - tag;
    const h = rtpHeaderLength(p, len);
    if (h < 0) return AUTH_FAILED;
    const ssrc = p.readUInt32BE(8);
    const seq = p.readUInt16BE(2);
    const src = this.sources.get(ssrc);
    // RFC 3711 §3.3.1: the first packet of a source sets s_l; its ROC is 0.
    const v = src ? guessRoc(src.roc, src.sl, seq) : 0;
    if (v < 0) return REPLAYED; // from before the stream's first wrap we saw: older than the window
    const index = v * 0x10000 + seq;
    if (src && !src.window.fresh(index)) return REPLAYED;
    if (this.suite.aead) {
      const iv = this.rtpIv(ssrc, v, seq);
      const d = createDecipheriv("aes-128-gcm", this.rtp.key, iv, { authTagLength: 16 });
      d.setAAD(p.subarray(0, h));
      d.setAuthTag(p.subarray(len, len + tag));
      const pt = d.update(p.subarray(h, len));
      try {
        d.final();
      } catch {
        return AUTH_FAILED;
      }
      pt.copy(p, h);
    } else {
      const mac = this.hmac(this.rtp.auth, p.subarray(0, len), v);
      if (!timingSafeEqual(mac.subarray(0, tag), p.subarray(len, len + tag))) return AUTH_FAILED;
      const payload = p.subarray(h, len);
      if (!src?.ks?.xor(index, payload, payload))
        (this.rtp.cm as AesCm).xor(this.rtpIv(ssrc, v, seq), payload, payload);
    }
    if (!src) {
      const w = new ReplayWindow();
      w.accept(index);
      this.sources.set(ssrc, { roc: 0, sl: seq, window: w, ks: this.keystreamFor(ssrc) });
    } else {
      advanceRoc(src, v, seq);
      src.window.accept(index);
    }
    return p.subarray(0, len);
  }

  /** The clear compound RTCP packet (a view of `p`, decrypted in place), or why it was refused. */
  unprotectRtcp(p: Buffer): Buffer | Refusal {
    const r = this.unprotectRtcpWith(p, this.suite.rtcpTag);
    // libre (baresip's SRTP) tags SRTCP with 32 bits under AES_CM_128_HMAC_SHA1_32, where RFC 4568
    // §6.2.2 and libsrtp use 80: a packet that fails with 80 is checked as such a packet (our own
    // SRTCP keeps 80 bits, as the RFC says).
    if (r === AUTH_FAILED && this.suite.rtpTag < this.suite.rtcpTag)
      return this.unprotectRtcpWith(p, this.suite.rtpTag);
    return r;
  }

  private unprotectRtcpWith(p: Buffer, tag: number): Buffer | Refusal {
    const aead = this.suite.aead;
    // AES-CM: ... || E+index || tag; GCM: ... || tag || E+index.
    const end = p.length - tag - 4;
    if (end < RTCP_HEADER) return AUTH_FAILED;
    const eIndex = p.readUInt32BE(aead ? end + tag : end);
    const encrypted = (eIndex & E_BIT) !== 0;
    const index = eIndex & 0x7fffffff;
    const ssrc = p.readUInt32BE(4);
    const window = this.rtcpWindows.get(ssrc);
    if (window && !window.fresh(index)) return REPLAYED;
    const iv = this.rtcpIv(ssrc, index);
    if (aead) {
      const d = createDecipheriv("aes-128-gcm", this.rtcp.key, iv, { authTagLength: 16 });
      const eWord = p.subarray(end + tag, end + tag + 4);
      // Unencrypted SRTCP (E = 0): the whole packet is authenticated data, nothing is ciphertext.
      d.setAAD(
        encrypted
          ? Buffer.concat([p.subarray(0, RTCP_HEADER), eWord])
          : Buffer.concat([p.subarray(0, end), eWord]),
      );
      d.setAuthTag(p.subarray(end, end + tag));
      const pt = encrypted ? d.update(p.subarray(RTCP_HEADER, end)) : null;
      try {
        d.final();
      } catch {
        return AUTH_FAILED;
      }
      pt?.copy(p, RTCP_HEADER);
    } else {
      const mac = this.hmac(this.rtcp.auth, p.subarray(0, end + 4), null);
      if (!timingSafeEqual(mac.subarray(0, tag), p.subarray(end + 4, end + 4 + tag))) return AUTH_FAILED;
      if (encrypted) {
        const body = p.subarray(RTCP_HEADER, end);
        (this.rtcp.cm as AesCm).xor(iv, body, body);
      }
    }
    if (window) window.accept(index);
    else {
      const w = new ReplayWindow();
      w.accept(index);
      this.rtcpWindows.set(ssrc, w);
    }
    return p.subarray(0, end);
  }
}
