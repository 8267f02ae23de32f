/**
 * The negotiation layer of one call's media: the offer/answer state (RFC 3264) above the pure
 * functions of sdp.ts. It remembers our o= session id and version, our last offer until its
 * answer arrives, and the description that concluded the last exchange (codec, payload types,
 * directions, the far end's address, the media's protection). No sockets, no clock: the session
 * applies what it returns.
 *
 * Media security (issue 14): the policy (security-policy.ts) judges each offer and decides what
 * we offer; SDES keys (sdp-crypto.ts) are made and kept here. Our key stays for the call while
 * the far end's stays; a far end that changes its key in a re-INVITE gets a fresh one of ours
 * too (RFC 4568 §7.1.4: the session then starts a new receiving context).
 */
import type { CodecName } from "./codecs.js";
import { type MediaDirection, MediaError } from "./media.js";
import {
  acceptAnswer,
  answerOffer,
  buildOffer,
  flow,
  type LocalDescription,
  type LocalIceProvider,
  type Negotiated,
  type NegotiatedSecurity,
  offerDirection,
  parseRemote,
} from "./sdp.js";
import {
  acceptableCrypto,
  type CryptoLine,
  cryptoAttribute,
  freshKeys,
  offerSecurity,
  sameKeys,
} from "./sdp-crypto.js";
import { DTLS_OFFER_PROFILE } from "./sdp-ice.js";
import {
  DEFAULT_ENCRYPTION,
  decideAnswer,
  decideAnswerReceived,
  decideOffer,
  type MediaSecurity,
} from "./security-policy.js";
import type { SrtpProfile } from "./srtp/index.js";

export interface NegotiationOptions {
  /** Address put in c=/o= (the ports are bound by the allocator, possibly to 0.0.0.0). */
  readonly address: string;
  /** Our RTP port (RTCP on the next one). */
  readonly port: number;
  /** Our codecs, most preferred first. */
  readonly codecs: readonly CodecName[];
  /** rtp.encryption and whether the signalling is encrypted; default preferred over clear signalling. */
  readonly security?: MediaSecurity;
  /**
   * ICE + DTLS-SRTP attributes (sdp-ice.ts) when this call's transport is ICE (the factory made
   * it so for a DTLS-SRTP offer, or to offer one): every exchange of the call is then DTLS-SRTP.
   */
  readonly ice?: LocalIceProvider | undefined;
}

/** The suites we offer, in our order of preference (one a=crypto line each, tags 1, 2, 3). */
const OFFER_SUITES: readonly SrtpProfile[] = [
  "AES_CM_128_HMAC_SHA1_80",
  "AEAD_AES_128_GCM",
  "AES_CM_128_HMAC_SHA1_32",
];

const CLEAR: NegotiatedSecurity = { kind: "none" };

/** What the last exchange settled about protection, for re-offers and rekeys. */
interface Settled {
  readonly security: NegotiatedSecurity;
  /** The a=crypto tag in use, and the m= profile of the exchange. */
  readonly tag: number;
  readonly protocol: string;
}

export class Negotiation {
  private readonly sessionId = String(Math.floor(Math.random() * 1e9) + 1e9);
  private version = 0;
  private lastOffer: {
    codecs: readonly CodecName[];
    direction: MediaDirection;
    protocol: string;
    crypto: readonly CryptoLine[];
  } | null = null;
  private remoteDir: MediaDirection = "sendrecv";
  private settled: Settled | null = null;
  private readonly security: MediaSecurity;

  constructor(private readonly o: NegotiationOptions) {
    this.security = o.security ?? { encryption: DEFAULT_ENCRYPTION, signallingSecure: false };
  }

  /** Direction the far end asked for in its last description. */
  get remoteDirection(): MediaDirection {
    return this.remoteDir;
  }

  private local(): LocalDescription {
    this.version++;
    return {
      address: this.o.address,
      port: this.o.port,
      sessionId: this.sessionId,
      version: this.version,
      codecs: this.o.codecs,
      ice: this.o.ice,
    };
  }

  /**
   * Our offer; `hold` offers sendonly (or inactive if the far end holds us). Throws MediaError
   * when the policy forbids the only offer we could make (`required` over clear signalling).
   */
  createOffer(hold: boolean): string {
    const direction = offerDirection(hold, this.remoteDir);
    let protocol = "RTP/AVP";
    let crypto: readonly CryptoLine[] = [];
    const s = this.settled;
    if (this.o.ice) {
      // DTLS-SRTP with ICE (the factory decided it from rtp.encryption and the SIP transport).
      protocol = DTLS_OFFER_PROFILE;
    } else if (s?.security.kind === "sdes") {
      // A re-offer inside an SDES call: the same profile and our same key (RFC 4568 §7.1.4).
      protocol = s.protocol;
      crypto = [{ tag: s.tag, keys: s.security.send }];
    } else {
      const d = decideOffer(this.security);
      if (d.offer === "refuse") throw new MediaError("incompatible", d.reason);
      if (d.offer === "sdes" || d.offer === "sdes-best-effort") {
        protocol = d.offer === "sdes" ? "RTP/SAVP" : "RTP/AVP";
        crypto = OFFER_SUITES.map((p, i) => ({ tag: i + 1, keys: freshKeys(p) }));
      }
    }
    this.lastOffer = { codecs: this.o.codecs, direction, protocol, crypto };
    return buildOffer(
      { ...this.local(), protocol, crypto: crypto.map((c) => cryptoAttribute(c.tag, c.keys)) },
      direction,
    );
  }

  /** Our answer to the far end's offer, and what it concludes. Throws MediaError only. */
  answer(remoteSdp: string, hold: boolean): { readonly sdp: string; readonly negotiated: Negotiated } {
    // Only a successful negotiation uses up an o= version (RFC 3264 §8: it changes per new SDP).
    const version = this.version;
    try {
      const remote = parseRemote(remoteSdp);
      const d = decideAnswer(this.security, offerSecurity(remote));
      if (d.use === "reject") throw new MediaError("incompatible", d.warning);
      if (d.use === "dtls" && !this.o.ice)
        throw new MediaError("incompatible", `DTLS-SRTP (${remote.protocol}) is not available on this call`);
      if (d.use !== "dtls" && this.o.ice)
        throw new MediaError("incompatible", `this call's media is DTLS-SRTP: ${remote.protocol} refused`);
      // An encrypted call never goes clear by a re-INVITE: the status would still say encrypted.
      if (d.use === "none" && this.settled && this.settled.security.kind !== "none")
        throw new MediaError(
          "incompatible",
          "the call's media is encrypted: a re-offer without SRTP is refused",
        );
      let security: NegotiatedSecurity = d.use === "dtls" ? { kind: "dtls" } : CLEAR;
      let tag = 0;
      if (d.use === "sdes") {
        const s = this.settled?.security;
        const send =
          s?.kind === "sdes" && sameKeys(s.receive, d.crypto.keys)
            ? s.send
            : freshKeys(d.crypto.keys.profile);
        security = { kind: "sdes", send, receive: d.crypto.keys };
        tag = d.crypto.tag;
      }
      const local: LocalDescription = {
        ...this.local(),
        protocol: remote.protocol,
        ...(security.kind === "sdes" ? { crypto: [cryptoAttribute(tag, security.send)] } : {}),
      };
      const r = answerOffer(local, remoteSdp, hold);
      this.remoteDir = r.negotiated.remoteDirection;
      this.settled = { security, tag, protocol: remote.protocol };
      return { sdp: r.sdp, negotiated: { ...r.negotiated, security } };
    } catch (e) {
      this.version = version;
      throw asMediaError(e);
    }
  }

  /** What the far end's answer to our last offer concludes. Throws MediaError only. */
  acceptAnswer(remoteSdp: string): Negotiated {
    const offer = this.lastOffer;
    if (!offer) throw new MediaError("incompatible", "no offer of ours is pending");
    let n: Negotiated;
    let security = CLEAR;
    let tag = 0;
    try {
      n = acceptAnswer(offer.codecs, offer.direction, remoteSdp, offer.protocol === DTLS_OFFER_PROFILE);
      if (offer.protocol === DTLS_OFFER_PROFILE) security = { kind: "dtls" };
      else if (offer.crypto.length > 0) {
        // RFC 4568 §7.1.3: the answer's line carries one of our tags, with the same suite.
        for (const line of acceptableCrypto(parseRemote(remoteSdp).crypto).lines) {
          const ours = offer.crypto.find((c) => c.tag === line.tag && c.keys.profile === line.keys.profile);
          if (ours) {
            security = { kind: "sdes", send: ours.keys, receive: line.keys };
            tag = line.tag;
            break;
          }
        }
      }
      if (security.kind === "none") {
        if (this.settled && this.settled.security.kind !== "none")
          throw new MediaError(
            "incompatible",
            "the call's media is encrypted: an answer without SRTP is refused",
          );
        if (offer.protocol !== "RTP/AVP")
          throw new MediaError(
            "incompatible",
            `the answer to our ${offer.protocol} offer has no usable a=crypto line`,
          );
        const ok = decideAnswerReceived(this.security, { protected: false });
        if (!ok.ok) throw new MediaError("incompatible", ok.reason);
      }
    } catch (e) {
      throw asMediaError(e);
    }
    this.lastOffer = null;
    this.remoteDir = n.remoteDirection;
    this.settled = { security, tag, protocol: offer.protocol };
    return { ...n, security };
  }
}

/**
 * Whether either side holds (or the far end sends nothing by its description): the watchdog's
 * hold limit applies then.
 */
export function isHeld(n: Negotiated): boolean {
  const d = n.remoteDirection;
  return !flow(n).receive || d === "sendonly" || d === "inactive" || n.remoteAddress === "0.0.0.0";
}

function asMediaError(e: unknown): MediaError {
  return e instanceof MediaError ? e : new MediaError("malformed", (e as Error).message);
}
