/**
 * SRTP/SRTCP (src/media/srtp/): the RFC 3711 Appendix B vectors, known answers from libre (the
 * SRTP of baresip, an independent implementation, on the same keys and packets), the rollover
 * counter across the sequence wrap, the replay window, tampering, SRTCP both ways.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log/logger.js";
import { AesCm } from "../../../src/media/srtp/aes-cm.js";
import { SrtpReceiver, SrtpSender } from "../../../src/media/srtp/context.js";
import { createSrtpProtection, type SrtpKeys, type SrtpProfile } from "../../../src/media/srtp/index.js";
import { KeyDerivation, LABEL } from "../../../src/media/srtp/kdf.js";
import { guessRoc, ReplayWindow } from "../../../src/media/srtp/replay.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

function rtp(seq: number, ssrc: number, payload: Buffer, ts = seq * 160): Buffer {
  const p = Buffer.alloc(12 + payload.length);
  p[0] = 0x80;
  p[1] = 0;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE(ts >>> 0, 4);
  p.writeUInt32BE(ssrc >>> 0, 8);
  payload.copy(p, 12);
  return p;
}

function keysFor(profile: SrtpProfile): SrtpKeys {
  return {
    profile,
    masterKey: randomBytes(16),
    masterSalt: randomBytes(profile === "AEAD_AES_128_GCM" ? 12 : 14),
  };
}

const PROFILES: SrtpProfile[] = ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM"];

describe("RFC 3711 Appendix B", () => {
  it("B.2: AES-CM keystream, including the counter's carry past the low 16 bits", () => {
    const cm = new AesCm(hex("2B7E151628AED2A6ABF7158809CF4F3C"));
    const iv = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000");
    const ks = cm.keystream(iv, 16 * 0xff02);
    const block = (n: number) =>
      ks
        .subarray(16 * n, 16 * n + 16)
        .toString("hex")
        .toUpperCase();
    expect(block(0)).toBe("E03EAD0935C95E80E166B16DD92B4EB4");
    expect(block(1)).toBe("D23513162B02D0F72A43A2FE4A5F97AB");
    expect(block(2)).toBe("41E95B3BB0A2E8DD477901E4FCA894C0");
    expect(block(0xfeff)).toBe("EC8CDF7398607CB0F2D21675EA9EA1E4");
    expect(block(0xff00)).toBe("362B7C3C6773516318A077D7FC5073AE");
    expect(block(0xff01)).toBe("6A2CC3787889374FBEB4C81B17BA6C44");
  });

  it("B.3: key derivation (cipher key, salt, authentication key)", () => {
    const kdf = new KeyDerivation(
      hex("E1F97A0D3E018BE0D64FA32C06DE4139"),
      hex("0EC675AD498AFEEBB6960B3AABE6"),
    );
    expect(kdf.derive(LABEL.rtpEncryption, 16).toString("hex").toUpperCase()).toBe(
      "C61E7A93744F39EE10734AFE3FF7A087",
    );
    expect(kdf.derive(LABEL.rtpSalt, 14).toString("hex").toUpperCase()).toBe("30CBBC08863D8C85D49DB34A9AE1");
    expect(kdf.derive(LABEL.rtpAuth, 20).toString("hex").toUpperCase()).toBe(
      "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4",
    );
  });
});

/**
 * libre's srtp_encrypt/srtcp_encrypt (libre.so.0 as baresip ships it, called through ctypes) on
 * these keys: three packets across the sequence wrap (the third has ROC 1), and one SRTCP SR
 * (libre's first SRTCP index is 1).
 */
const CM_KEY = hex("000102030405060708090a0b0c0d0e0f");
const CM_SALT = hex("0e0d0c0b0a090807060504030201");
const CLEAR = [
  rtp(0xfffe, 0xcafebabe, Buffer.alloc(20, 0xd5), 0xa000),
  rtp(0xffff, 0xcafebabe, Buffer.alloc(20, 0x55), 0xa0a0),
  rtp(0x0000, 0xcafebabe, Buffer.alloc(20, 0xff), 0xa140),
];
const CLEAR_RTCP = hex("81c80006cafebabe0000000100000002000000030000000400000005");
const LIBRE: Record<SrtpProfile, { key: Buffer; salt: Buffer; rtp: string[]; rtcp: string }> = {
  AES_CM_128_HMAC_SHA1_80: {
    key: CM_KEY,
    salt: CM_SALT,
    rtp: [
      "8000fffe0000a000cafebabe19d2b6c5649fcc8902900f6f8c0cdd0eec92cdc467d015002cccf4782695",
      "8000ffff0000a0a0cafebabe8c987a6450b758793a4709c25d5e7b384eef3cea808f25329f572c5ca51e",
      "800000000000a140cafebabec09878dffeb4582556cd590cecbc4c84b9ac990051b9b45e9128a56d07c7",
    ],
    rtcp: "81c80006cafebabe38f469fa46a2253e854290940545bbbdbb7574048000000174e2f6f22308f3c3f924",
  },
  AES_CM_128_HMAC_SHA1_32: {
    key: CM_KEY,
    salt: CM_SALT,
    rtp: [
      "8000fffe0000a000cafebabe19d2b6c5649fcc8902900f6f8c0cdd0eec92cdc467d01500",
      "8000ffff0000a0a0cafebabe8c987a6450b758793a4709c25d5e7b384eef3cea808f2532",
      "800000000000a140cafebabec09878dffeb4582556cd590cecbc4c84b9ac990051b9b45e",
    ],
    // libre tags SRTCP with 32 bits in this suite (RFC 4568 says 80): accepted on receipt.
    rtcp: "81c80006cafebabe38f469fa46a2253e854290940545bbbdbb7574048000000174e2f6f2",
  },
  AEAD_AES_128_GCM: {
    key: CM_KEY,
    // RFC 7714 §16's salt ("Quid pro quo").
    salt: hex("517569642070726f2071756f"),
    rtp: [
      "8000fffe0000a000cafebabe633fb142c2edf63c2ac1506bea18c1fcfcf60b235ae839a7be95022bb5eba41223200f7c",
      "8000ffff0000a0a0cafebabe1f44e6a51bca22bc806c6f42599de34349f3a90395350faf0c62e9723d6a29920f600d99",
      "800000000000a140cafebabe7949c22b1c20966a64898aa0c816f5ec42c82b81abc24e8c68823028c7c123c9e60a1c3c",
    ],
    rtcp: "81c80006cafebabe19604b958850011599e336cb20a6aa898b668cc8edf19d30c96b28fc2f8d8d41f22bc11380000001",
  },
};

describe.each(PROFILES)("%s", (profile) => {
  const v = LIBRE[profile];
  const keys: SrtpKeys = { profile, masterKey: v.key, masterSalt: v.salt };

  it("protects RTP across the sequence wrap exactly as libre does", () => {
    const tx = new SrtpSender(keys);
    expect(CLEAR.map((p) => tx.protectRtp(p)?.toString("hex"))).toEqual(v.rtp);
  });

  it("unprotects libre's RTP and SRTCP", () => {
    const rx = new SrtpReceiver(keys);
    for (let i = 0; i < 3; i++) {
      const out = rx.unprotectRtp(hex(v.rtp[i] as string));
      expect(Buffer.isBuffer(out) && out.equals(CLEAR[i] as Buffer)).toBe(true);
    }
    const r = rx.unprotectRtcp(hex(v.rtcp));
    expect(Buffer.isBuffer(r) && r.equals(CLEAR_RTCP)).toBe(true);
  });

  it("SRTCP round trip, encrypted (E bit) and with the suite's tag; a replay is refused", () => {
    const k = keysFor(profile);
    const tx = createSrtpProtection({ kind: "sdes", send: k, receive: k, log: silentLogger });
    const rx = createSrtpProtection({ kind: "sdes", send: k, receive: k, log: silentLogger });
    const sent = tx.protectRtcp(Buffer.from(CLEAR_RTCP));
    const tagBytes = profile === "AEAD_AES_128_GCM" ? 16 : 10; // 80 bits for both HMAC suites
    expect(sent.length).toBe(CLEAR_RTCP.length + 4 + tagBytes);
    expect(sent.subarray(8, CLEAR_RTCP.length).equals(CLEAR_RTCP.subarray(8))).toBe(false);
    const copy = Buffer.from(sent);
    expect(rx.unprotectRtcp(sent)?.equals(CLEAR_RTCP)).toBe(true);
    expect(rx.unprotectRtcp(copy)).toBeNull();
    expect(rx.dropped).toEqual({ auth: 0, replay: 1 });
    // The next one is fresh.
    expect(rx.unprotectRtcp(tx.protectRtcp(Buffer.from(CLEAR_RTCP)))?.equals(CLEAR_RTCP)).toBe(true);
  });

  it("a stream starting at 65530 decrypts across the wrap, in order and reordered", () => {
    const k = keysFor(profile);
    const tx = createSrtpProtection({ kind: "sdes", send: k, receive: k, log: silentLogger });
    const rx = createSrtpProtection({ kind: "sdes", send: k, receive: k, log: silentLogger });
    const clear: Buffer[] = [];
    const sent: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const p = rtp(65530 + i, 0x1234, randomBytes(160));
      clear.push(Buffer.from(p));
      sent.push(tx.protectRtp(p));
    }
    // 65535 arrives after 0 and 1 (its ROC is the old one); 3 and 4 swapped.
    const order = [0, 1, 2, 3, 4, 6, 7, 5, 8, 10, 9, ...Array.from({ length: 29 }, (_, i) => 11 + i)];
    for (const i of order) {
      const out = rx.unprotectRtp(sent[i] as Buffer);
      expect(out?.equals(clear[i] as Buffer), `packet ${i} (seq ${(65530 + i) & 0xffff})`).toBe(true);
    }
    expect(rx.dropped).toEqual({ auth: 0, replay: 0 });
  });

  it("a replayed packet and one older than the window are refused and counted", () => {
    const k = keysFor(profile);
    const tx = createSrtpProtection({ kind: "sdes", send: k, receive: k, log: silentLogger });
    const rx = createSrtpProtection({ kind: "sdes", send: k, receive: k, log: silentLogger });
    const sent = Array.from({ length: 100 }, (_, i) => tx.protectRtp(rtp(1000 + i, 7, randomBytes(20))));
    const first = Buffer.from(sent[0] as Buffer);
    const late = Buffer.from(sent[20] as Buffer);
    for (let i = 0; i < 100; i++) if (i !== 20) expect(rx.unprotectRtp(sent[i] as Buffer)).not.toBeNull();
    expect(rx.unprotectRtp(first)).toBeNull(); // 99 behind: outside the 64-packet window
    expect(rx.unprotectRtp(late)).toBeNull(); // 79 behind
    expect(rx.dropped).toEqual({ auth: 0, replay: 2 });
    const again = tx.protectRtp(rtp(1100, 7, randomBytes(20)));
    const dup = Buffer.from(again);
    expect(rx.unprotectRtp(again)).not.toBeNull();
    expect(rx.unprotectRtp(dup)).toBeNull();
    expect(rx.dropped).toEqual({ auth: 0, replay: 3 });
  });

  it("a tampered packet is refused and counted, and the stream goes on", () => {
    const k = keysFor(profile);
    const tx = createSrtpProtection({ kind: "sdes", send: k, receive: k, log: silentLogger });
    const rx = createSrtpProtection({ kind: "sdes", send: k, receive: k, log: silentLogger });
    for (let i = 0; i < 30; i++) {
      const clear = rtp(500 + i, 99, randomBytes(160));
      const p = tx.protectRtp(Buffer.from(clear));
      if (i % 3 === 1) {
        p[12 + (i % 160)] = (p[12 + (i % 160)] as number) ^ 0x01; // a payload bit
        expect(rx.unprotectRtp(p)).toBeNull();
      } else if (i % 3 === 2) {
        p[5] = (p[5] as number) ^ 0x80; // a header bit (the timestamp)
        expect(rx.unprotectRtp(p)).toBeNull();
      } else expect(rx.unprotectRtp(p)?.equals(clear)).toBe(true);
    }
    expect(rx.dropped).toEqual({ auth: 20, replay: 0 });
    // A packet under another key and garbage count the same way.
    const other = createSrtpProtection({
      kind: "sdes",
      send: keysFor(profile),
      receive: k,
      log: silentLogger,
    });
    expect(rx.unprotectRtp(other.protectRtp(rtp(600, 99, randomBytes(20))))).toBeNull();
    expect(rx.unprotectRtp(randomBytes(5))).toBeNull();
    expect(rx.unprotectRtcp(randomBytes(30))).toBeNull();
    expect(rx.dropped.auth).toBe(23);
  });
});

describe("keys", () => {
  it("a key that does not fit its profile is refused with a message that says why", () => {
    const bad = {
      profile: "AES_CM_128_HMAC_SHA1_80" as const,
      masterKey: randomBytes(16),
      masterSalt: randomBytes(12),
    };
    const good = keysFor("AES_CM_128_HMAC_SHA1_80");
    expect(() => createSrtpProtection({ kind: "sdes", send: good, receive: bad, log: silentLogger })).toThrow(
      /master salt must be 14 bytes, got 12/,
    );
  });

  it("a protection says what it is", () => {
    const k = keysFor("AEAD_AES_128_GCM");
    expect(createSrtpProtection({ kind: "dtls", send: k, receive: k, log: silentLogger }).kind).toBe("dtls");
  });
});

describe("rollover counter guess (RFC 3711 Appendix A)", () => {
  it.each([
    // roc, s_l, seq → v
    [0, 100, 101, 0],
    [0, 65530, 2, 1],
    [1, 3, 65534, 0],
    [0, 40000, 7000, 1],
    [0, 40000, 7231, 1],
    [0, 40000, 7232, 0],
    [2, 10, 30000, 2],
  ])("roc %i, s_l %i, seq %i → %i", (roc, sl, seq, v) => {
    expect(guessRoc(roc, sl, seq)).toBe(v);
  });
});

describe("replay window", () => {
  it("accepts each index once, within 64 of the highest", () => {
    const w = new ReplayWindow();
    expect(w.fresh(1000)).toBe(true);
    w.accept(1000);
    expect(w.fresh(1000)).toBe(false);
    expect(w.fresh(999)).toBe(true);
    expect(w.fresh(937)).toBe(true); // 63 behind
    expect(w.fresh(936)).toBe(false); // 64 behind
    w.accept(937);
    expect(w.fresh(937)).toBe(false);
    w.accept(1033); // moves by 33: 1000 is now bit 33, 937 bit 96 (gone)
    expect(w.fresh(1000)).toBe(false);
    expect(w.fresh(1001)).toBe(true);
    expect(w.fresh(970)).toBe(true);
    expect(w.fresh(969)).toBe(false);
    w.accept(1033 + 64);
    expect(w.fresh(1033)).toBe(false); // 64 behind: too old
    expect(w.fresh(1034)).toBe(true);
  });
});

describe("rekey of the far end only", () => {
  it("keeps our sending context: the far end keeps accepting our packets, nothing counted as replayed", async () => {
    const { withReceiveKeys } = await import("../../../src/media/srtp/index.js");
    const ours = keysFor("AES_CM_128_HMAC_SHA1_80");
    const theirs1 = keysFor("AES_CM_128_HMAC_SHA1_80");
    const theirs2 = keysFor("AES_CM_128_HMAC_SHA1_80");
    const desk = createSrtpProtection({ kind: "sdes", send: ours, receive: theirs1, log: silentLogger });
    const far = createSrtpProtection({ kind: "sdes", send: theirs1, receive: ours, log: silentLogger });
    for (let i = 0; i < 5; i++)
      expect(far.unprotectRtp(desk.protectRtp(rtp(65534 + i, 1, randomBytes(20))))).not.toBeNull();
    expect(far.unprotectRtcp(desk.protectRtcp(Buffer.from(CLEAR_RTCP)))).not.toBeNull();
    const rekeyed = withReceiveKeys(desk, theirs2);
    const far2 = createSrtpProtection({ kind: "sdes", send: theirs2, receive: ours, log: silentLogger });
    for (let i = 5; i < 10; i++)
      expect(far.unprotectRtp(rekeyed.protectRtp(rtp(65534 + i, 1, randomBytes(20))))).not.toBeNull();
    // Same key, next SRTCP index: not a replay.
    expect(far.unprotectRtcp(rekeyed.protectRtcp(Buffer.from(CLEAR_RTCP)))).not.toBeNull();
    expect(far.dropped).toEqual({ auth: 0, replay: 0 });
    // The new far-end key is what the desk now accepts; the old one is refused.
    expect(rekeyed.unprotectRtp(far2.protectRtp(rtp(7, 2, randomBytes(20))))).not.toBeNull();
    expect(rekeyed.unprotectRtp(far.protectRtp(rtp(8, 2, randomBytes(20))))).toBeNull();
  });
});
