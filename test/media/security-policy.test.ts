/** The media security policy (rtp.encryption) as a table: policy × signalling × offer → decision. */
import { describe, expect, it } from "vitest";
import { acceptableCrypto, cryptoAttribute, freshKeys, parseCryptoLine } from "../../src/media/sdp-crypto.js";
import {
  decideAnswer,
  decideAnswerReceived,
  decideOffer,
  type EncryptionPolicy,
  type OfferSecurity,
} from "../../src/media/security-policy.js";

const line = { tag: 1, keys: freshKeys("AES_CM_128_HMAC_SHA1_80") };

function offer(profile: string, crypto: "good" | "bad" | "none", fingerprint = false): OfferSecurity {
  return {
    profile,
    crypto: crypto === "good" ? [line] : [],
    cryptoOffered: crypto === "none" ? 0 : 1,
    fingerprint,
  };
}

type Row = [EncryptionPolicy, "tls" | "ws", string, "good" | "bad" | "none", boolean, string];

describe("decideAnswer", () => {
  it.each<Row>([
    // policy, signalling, profile, a=crypto, fingerprint → decision (or the Warning's gist)
    ["preferred", "tls", "RTP/AVP", "none", false, "none"],
    ["preferred", "tls", "RTP/AVP", "good", false, "sdes"], // best effort → SRTP
    ["preferred", "ws", "RTP/AVP", "good", false, "none"], // keys over ws:// ignored
    ["preferred", "tls", "RTP/SAVP", "good", false, "sdes"],
    ["preferred", "tls", "RTP/SAVPF", "good", false, "sdes"],
    ["preferred", "tls", "RTP/SAVP", "bad", false, "no usable a=crypto"],
    ["preferred", "ws", "RTP/SAVP", "good", false, "unencrypted signalling"],
    ["preferred", "ws", "UDP/TLS/RTP/SAVPF", "none", true, "dtls"],
    ["preferred", "tls", "UDP/TLS/RTP/SAVP", "none", true, "dtls"],
    ["preferred", "ws", "UDP/TLS/RTP/SAVPF", "none", false, "without a=fingerprint"],
    ["required", "tls", "RTP/AVP", "none", false, "media encryption required"],
    ["required", "tls", "RTP/AVP", "good", false, "sdes"],
    ["required", "tls", "RTP/AVP", "bad", false, "no usable a=crypto"],
    ["required", "ws", "RTP/AVP", "good", false, "ignored over unencrypted signalling"],
    ["required", "ws", "RTP/AVP", "none", false, "media encryption required"],
    ["required", "tls", "RTP/SAVP", "good", false, "sdes"],
    ["required", "ws", "UDP/TLS/RTP/SAVPF", "none", true, "dtls"],
    ["off", "tls", "RTP/AVP", "good", false, "none"], // a=crypto ignored
    ["off", "tls", "RTP/AVP", "none", false, "none"],
    ["off", "tls", "RTP/SAVP", "good", false, "encryption is off"],
    ["off", "ws", "UDP/TLS/RTP/SAVPF", "none", true, "encryption is off"],
    ["preferred", "tls", "RTP/XYZ", "none", false, "transport RTP/XYZ not supported"],
  ])("%s over %s, %s with a=crypto %s, fingerprint %s → %s", (encryption, sig, profile, crypto, fp, want) => {
    const d = decideAnswer({ encryption, signallingSecure: sig === "tls" }, offer(profile, crypto, fp));
    if (d.use === "reject") expect(d.warning).toContain(want);
    else expect(d.use).toBe(want);
    if (d.use === "sdes") expect(d.crypto).toBe(line);
  });
});

describe("decideOffer", () => {
  it.each<[EncryptionPolicy, boolean, string]>([
    ["required", true, "sdes"],
    ["preferred", true, "sdes-best-effort"],
    ["off", true, "none"],
    ["preferred", false, "none"],
    ["off", false, "none"],
    ["required", false, "refuse"],
  ])("%s, signalling secure %s → %s", (encryption, signallingSecure, want) => {
    const d = decideOffer({ encryption, signallingSecure });
    expect(d.offer).toBe(want);
    if (d.offer === "refuse") expect(d.reason).toMatch(/not encrypted/);
  });

  it("required refuses a clear answer; preferred takes it", () => {
    expect(
      decideAnswerReceived({ encryption: "required", signallingSecure: true }, { protected: false }).ok,
    ).toBe(false);
    expect(
      decideAnswerReceived({ encryption: "preferred", signallingSecure: true }, { protected: false }).ok,
    ).toBe(true);
  });
});

describe("a=crypto lines (RFC 4568)", () => {
  const b64 = Buffer.alloc(30, 7).toString("base64");
  it.each([
    [{ id: 1, suite: "AES_CM_128_HMAC_SHA1_80", config: `inline:${b64}` }, null],
    [{ id: 1, suite: "AES_CM_128_HMAC_SHA1_80", config: `inline:${b64}|2^31` }, null],
    [{ id: 1, suite: "AES_CM_128_HMAC_SHA1_80", config: `inline:${b64}|2^20` }, "lifetime"],
    [{ id: 1, suite: "AES_CM_128_HMAC_SHA1_80", config: `inline:${b64}|2^31|1:4` }, "MKI"],
    [{ id: 1, suite: "AES_CM_128_HMAC_SHA1_80", config: `inline:${b64}|1:4` }, "MKI"],
    [
      { id: 1, suite: "AES_CM_128_HMAC_SHA1_80", config: `inline:${b64}`, sessionConfig: "KDR=1" },
      "session parameters",
    ],
    [{ id: 1, suite: "AES_CM_128_HMAC_SHA1_80", config: `inline:${b64};inline:${b64}` }, "more than one key"],
    [{ id: 1, suite: "AES_256_CM_HMAC_SHA1_80", config: `inline:${b64}` }, "not supported"],
    [{ id: 1, suite: "AEAD_AES_128_GCM", config: `inline:${b64}` }, "must be 28 bytes, got 30"],
    [{ id: 1, suite: "AES_CM_128_HMAC_SHA1_80", config: "uri:http://x" }, "inline"],
  ])("%j → %s", (attr, refused) => {
    const r = parseCryptoLine(attr);
    if (refused === null) expect("keys" in r && r.keys.masterKey.length).toBe(16);
    else expect("refused" in r && r.refused).toContain(refused);
  });

  it("our attribute reads back as the same keys; the first acceptable line of an offer is first", () => {
    const k = freshKeys("AEAD_AES_128_GCM");
    const attr = cryptoAttribute(7, k);
    const r = acceptableCrypto([{ id: 1, suite: "F8_128_HMAC_SHA1_80", config: `inline:${b64}` }, attr]);
    expect(r.skipped).toEqual(["crypto:1 suite F8_128_HMAC_SHA1_80 not supported"]);
    expect(r.lines[0]?.tag).toBe(7);
    expect(r.lines[0]?.keys.masterKey.equals(k.masterKey)).toBe(true);
    expect(r.lines[0]?.keys.masterSalt.equals(k.masterSalt)).toBe(true);
  });
});
