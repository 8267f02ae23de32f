/**
 * The media security policy (`rtp.encryption`, issue 14): what to do with an offer, and what to
 * offer, given the policy and whether the SIP signalling that carries the SDP is encrypted. Pure.
 *
 *  - `required`: media is SRTP or there is no call. A clear-only offer is refused with 488 and a
 *    Warning; we never place a clear call.
 *  - `preferred` (default): SRTP whenever the far end can, clear RTP otherwise (a plain PBX keeps
 *    working). Over TLS we offer best-effort SRTP (RTP/AVP with a=crypto) so a plain far end still
 *    answers; an offer with a=crypto is answered with SRTP, whatever its profile.
 *  - `off`: clear RTP only; an SRTP-only offer is refused with 488, a=crypto in RTP/AVP ignored.
 *
 * SDES keys travel in the SDP: over unencrypted signalling (tcp://, ws://) anyone on the path reads
 * them, so they are never sent nor accepted there (RFC 4568 §8.3). Only DTLS-SRTP (keys from a
 * handshake the SDP only fingerprints, RFC 5763) counts as encrypted media over such signalling.
 */
import type { CryptoLine } from "./sdp-crypto.js";

export type EncryptionPolicy = "required" | "preferred" | "off";

export const DEFAULT_ENCRYPTION: EncryptionPolicy = "preferred";

/** How a call's media is protected. */
export type MediaEncryption = "none" | "sdes" | "dtls";

export interface MediaSecurity {
  readonly encryption: EncryptionPolicy;
  /** The SIP signalling is encrypted (tls://, wss://): SDES keys may be sent and accepted. */
  readonly signallingSecure: boolean;
}

/** What an offer says about its security. */
export interface OfferSecurity {
  /** The audio stream's transport protocol (m= line). */
  readonly profile: string;
  /** Its acceptable a=crypto lines (sdp-crypto.ts), in the offer's order. */
  readonly crypto: readonly CryptoLine[];
  /** How many a=crypto lines it had in all (acceptable or not). */
  readonly cryptoOffered: number;
  /** Why the other lines were not acceptable (for the Warning). */
  readonly cryptoSkipped?: readonly string[];
  /** An a=fingerprint at session or media level. */
  readonly fingerprint: boolean;
}

export type AnswerDecision =
  | { readonly use: "sdes"; readonly crypto: CryptoLine }
  | { readonly use: "dtls" }
  | { readonly use: "none" }
  | { readonly use: "reject"; readonly warning: string };

const SUITES_TEXT = "AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32, AEAD_AES_128_GCM";

const isSavp = (p: string) => p === "RTP/SAVP" || p === "RTP/SAVPF";
const isDtls = (p: string) => p === "UDP/TLS/RTP/SAVP" || p === "UDP/TLS/RTP/SAVPF";
const isAvp = (p: string) => p === "RTP/AVP" || p === "RTP/AVPF";

/** The decision for a far end's offer (the Warning text says why when it is refused). */
export function decideAnswer(policy: MediaSecurity, offer: OfferSecurity): AnswerDecision {
  const p = offer.profile;
  const { encryption, signallingSecure } = policy;
  if (isDtls(p)) {
    if (encryption === "off")
      return reject("media encryption is off on this desk (rtp.encryption: off): offer RTP/AVP");
    if (!offer.fingerprint) return reject(`${p} offer without a=fingerprint`);
    return { use: "dtls" };
  }
  if (isSavp(p)) {
    if (encryption === "off")
      return reject("media encryption is off on this desk (rtp.encryption: off): offer RTP/AVP");
    if (!signallingSecure)
      return reject(
        "SDES-SRTP keys over unencrypted signalling refused: use sips/TLS for SDES, or DTLS-SRTP (UDP/TLS/RTP/SAVPF)",
      );
    const first = offer.crypto[0];
    if (!first) return reject(noSuite(offer));
    return { use: "sdes", crypto: first };
  }
  if (isAvp(p)) {
    // Best-effort SRTP (RTP/AVP with a=crypto, as baresip's `srtp` mode and many phones send it).
    const first = offer.crypto[0];
    if (encryption !== "off" && signallingSecure && first) return { use: "sdes", crypto: first };
    if (encryption !== "required") return { use: "none" };
    if (offer.cryptoOffered > 0 && !signallingSecure)
      return reject(
        "media encryption required: a=crypto ignored over unencrypted signalling; use sips/TLS or DTLS-SRTP",
      );
    if (offer.cryptoOffered > 0) return reject(`media encryption required: ${noSuite(offer)}`);
    return reject(
      "media encryption required (rtp.encryption: required): offer RTP/SAVP with a=crypto over TLS, or DTLS-SRTP",
    );
  }
  return reject(`transport ${p} not supported (RTP/AVP, RTP/SAVP, UDP/TLS/RTP/SAVPF)`);
}

function noSuite(offer: OfferSecurity): string {
  const why = offer.cryptoSkipped?.length ? ` (${offer.cryptoSkipped.join("; ")})` : "";
  return `no usable a=crypto line${why}: suites supported ${SUITES_TEXT}, inline key, no MKI`;
}

function reject(warning: string): AnswerDecision {
  return { use: "reject", warning };
}

export type OfferDecision =
  /** RTP/SAVP with a=crypto: the far end must do SDES. */
  | { readonly offer: "sdes" }
  /** RTP/AVP with a=crypto: SDES if the far end answers with a=crypto, clear otherwise. */
  | { readonly offer: "sdes-best-effort" }
  | { readonly offer: "none" }
  | { readonly offer: "refuse"; readonly reason: string };

/**
 * What to offer when we place a call. DTLS-SRTP offers (over ws/wss) belong to the ICE transport;
 * until it is there, `required` over unencrypted signalling refuses to place the call.
 */
export function decideOffer(policy: MediaSecurity): OfferDecision {
  if (policy.encryption === "off") return { offer: "none" };
  if (policy.signallingSecure)
    return { offer: policy.encryption === "required" ? "sdes" : "sdes-best-effort" };
  if (policy.encryption === "required")
    return {
      offer: "refuse",
      reason:
        "rtp.encryption is required but the SIP transport is not encrypted: SDES keys cannot be sent over it (use a tls:// or wss:// registrar)",
    };
  return { offer: "none" };
}

/** A far end's answer to our offer: whether it leaves us with media we may use. */
export function decideAnswerReceived(
  policy: MediaSecurity,
  answer: { readonly protected: boolean },
): { readonly ok: true } | { readonly ok: false; readonly reason: string } {
  if (policy.encryption === "required" && !answer.protected)
    return { ok: false, reason: "media encryption required but the answer has no usable a=crypto line" };
  return { ok: true };
}
