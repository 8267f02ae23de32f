/** SDES in the negotiation layer (RFC 4568): which line is answered, with which key, and rekeys. */
import { describe, expect, it } from "vitest";
import { Negotiation } from "../../src/media/negotiation.js";
import { freshKeys } from "../../src/media/sdp-crypto.js";
import type { EncryptionPolicy } from "../../src/media/security-policy.js";

const b64 = (k: ReturnType<typeof freshKeys>) =>
  Buffer.concat([k.masterKey, k.masterSalt]).toString("base64");

function offer(profile: string, lines: string[], version = 1): string {
  return [
    "v=0",
    `o=pbx 1 ${version} IN IP4 192.0.2.10`,
    "s=-",
    "c=IN IP4 192.0.2.10",
    "t=0 0",
    `m=audio 4000 ${profile} 0 101`,
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:101 telephone-event/8000",
    ...lines,
    "",
  ].join("\r\n");
}

const neg = (encryption: EncryptionPolicy = "preferred", signallingSecure = true) =>
  new Negotiation({
    address: "127.0.0.1",
    port: 20000,
    codecs: ["PCMU"],
    security: { encryption, signallingSecure },
  });

const cryptoOf = (sdp: string) => /^a=crypto:(\d+) (\S+) inline:(\S+)$/m.exec(sdp);

describe("answering SDES", () => {
  it("answers the first acceptable line with its tag, our own fresh key, and the offer's profile", () => {
    const theirs = freshKeys("AEAD_AES_128_GCM");
    const n = neg();
    const { sdp, negotiated } = n.answer(
      offer("RTP/SAVP", [
        `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${b64(freshKeys("AES_CM_128_HMAC_SHA1_80"))}|2^20|1:4`,
        `a=crypto:5 AEAD_AES_128_GCM inline:${b64(theirs)}`,
      ]),
      false,
    );
    expect(sdp).toMatch(/^m=audio 20000 RTP\/SAVP 0 101/m);
    const c = cryptoOf(sdp);
    expect(c?.[1]).toBe("5");
    expect(c?.[2]).toBe("AEAD_AES_128_GCM");
    expect(c?.[3]).not.toBe(b64(theirs));
    expect(negotiated.security?.kind).toBe("sdes");
    if (negotiated.security?.kind !== "sdes") return;
    expect(negotiated.security.receive.masterKey.equals(theirs.masterKey)).toBe(true);
    expect(b64(negotiated.security.send)).toBe(c?.[3]);
  });

  it("rekey on re-INVITE: the same far-end key keeps ours; a new one gets a new one of ours", () => {
    const k1 = freshKeys("AES_CM_128_HMAC_SHA1_80");
    const k2 = freshKeys("AES_CM_128_HMAC_SHA1_80");
    const n = neg();
    const line = (k: typeof k1) => [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${b64(k)}`];
    const first = cryptoOf(n.answer(offer("RTP/SAVP", line(k1)), false).sdp)?.[3];
    const again = n.answer(offer("RTP/SAVP", [...line(k1), "a=sendonly"], 2), false);
    expect(cryptoOf(again.sdp)?.[3]).toBe(first);
    const rekeyed = n.answer(offer("RTP/SAVP", line(k2), 3), false);
    expect(cryptoOf(rekeyed.sdp)?.[3]).not.toBe(first);
    expect(
      rekeyed.negotiated.security?.kind === "sdes" &&
        rekeyed.negotiated.security.receive.masterKey.equals(k2.masterKey),
    ).toBe(true);
  });

  it("a clear call may become SDES by a re-INVITE (preferred over TLS)", () => {
    const n = neg();
    expect(n.answer(offer("RTP/AVP", []), false).negotiated.security?.kind).toBe("none");
    const k = freshKeys("AES_CM_128_HMAC_SHA1_80");
    const up = n.answer(offer("RTP/AVP", [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${b64(k)}`], 2), false);
    expect(up.negotiated.security?.kind).toBe("sdes");
  });

  it("an encrypted call does not go clear by a re-INVITE (the status would lie)", () => {
    const k = freshKeys("AES_CM_128_HMAC_SHA1_80");
    const n = neg();
    n.answer(offer("RTP/AVP", [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${b64(k)}`]), false);
    expect(() => n.answer(offer("RTP/AVP", [], 2), false)).toThrow(/re-offer without SRTP is refused/);
    // Still encrypted: a later re-offer with the key is answered as before.
    expect(
      n.answer(offer("RTP/AVP", [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${b64(k)}`], 3), false).negotiated
        .security?.kind,
    ).toBe("sdes");
    // Our own re-offer answered without a=crypto: refused too.
    n.createOffer(true);
    expect(() => n.acceptAnswer(offer("RTP/AVP", [], 4))).toThrow(/answer without SRTP is refused/);
  });

  it("refuses with the policy's reason: SDES over clear signalling, SAVP under off", () => {
    const line = [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${b64(freshKeys("AES_CM_128_HMAC_SHA1_80"))}`];
    expect(() => neg("preferred", false).answer(offer("RTP/SAVP", line), false)).toThrow(
      /unencrypted signalling/,
    );
    expect(() => neg("off").answer(offer("RTP/SAVP", line), false)).toThrow(/encryption is off/);
    // Best effort over clear signalling: answered clear, a=crypto ignored.
    const clear = neg("preferred", false).answer(offer("RTP/AVP", line), false);
    expect(clear.sdp).not.toMatch(/a=crypto/);
    expect(clear.negotiated.security?.kind).toBe("none");
  });
});

describe("offering SDES", () => {
  it("picks our key by the answer's tag; re-offers keep the profile and our key", () => {
    const n = neg("required");
    const o = n.createOffer(false);
    expect(o).toMatch(/^m=audio 20000 RTP\/SAVP /m);
    const ours = [...o.matchAll(/^a=crypto:(\d+) (\S+) inline:(\S+)$/gm)];
    expect(ours.map((m) => m[2])).toEqual([
      "AES_CM_128_HMAC_SHA1_80",
      "AEAD_AES_128_GCM",
      "AES_CM_128_HMAC_SHA1_32",
    ]);
    const theirs = freshKeys("AEAD_AES_128_GCM");
    const n2 = n.acceptAnswer(offer("RTP/SAVP", [`a=crypto:2 AEAD_AES_128_GCM inline:${b64(theirs)}`]));
    expect(n2.security?.kind).toBe("sdes");
    if (n2.security?.kind !== "sdes") return;
    expect(b64(n2.security.send)).toBe(ours[1]?.[3]);
    const re = n.createOffer(true);
    expect(re).toMatch(/^m=audio 20000 RTP\/SAVP /m);
    expect(cryptoOf(re)?.slice(1)).toEqual(["2", "AEAD_AES_128_GCM", ours[1]?.[3]]);
  });

  it("an answer without our tag: clear under preferred (best effort), refused under required", () => {
    const p = neg("preferred");
    p.createOffer(false);
    expect(p.acceptAnswer(offer("RTP/AVP", [])).security?.kind).toBe("none");
    const r = neg("required");
    r.createOffer(false);
    const k = freshKeys("AES_CM_128_HMAC_SHA1_32");
    // Tag 1 is our _80 line: a _32 key under it does not match.
    expect(() =>
      r.acceptAnswer(offer("RTP/SAVP", [`a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:${b64(k)}`])),
    ).toThrow(/no usable a=crypto/);
  });
});
