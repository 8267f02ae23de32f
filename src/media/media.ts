/**
 * The role the SIP side drives for each call's audio. The SIP side's SessionDescriptionHandler
 * wraps one MediaSession per call; nothing of sip.js reaches this folder, and nothing of
 * node:dgram leaves it.
 *
 * Life of a session:
 *  inbound:  create() → answer(offerSdp) → [answer(reofferSdp) | createOffer({hold}) + acceptAnswer()]* → close()
 *  outbound: create() → createOffer({hold:false}) → acceptAnswer(answerSdp) → ... → close()
 * RTP starts flowing as soon as a remote description with a usable codec has been applied.
 */
import type { MediaStats } from "../core/types.js";

export type MediaDirection = "sendrecv" | "sendonly" | "recvonly" | "inactive";

export class MediaError extends Error {
  constructor(
    /** incompatible: no common codec or transport (answer 488); malformed: unparsable SDP (400/488). */
    readonly code: "incompatible" | "malformed" | "closed",
    message: string,
  ) {
    super(message);
    this.name = "MediaError";
  }
}

export interface MediaSession {
  /** Our SDP offer (INVITE or re-INVITE). `hold: true` offers a=sendonly (or inactive if the far end holds us). */
  createOffer(options: { readonly hold: boolean }): string;
  /** Applies the far end's offer and returns our answer. Throws MediaError. */
  answer(remoteSdp: string, options: { readonly hold: boolean }): string;
  /** Applies the far end's answer to our last offer. Throws MediaError. */
  acceptAnswer(remoteSdp: string): void;
  /** How the media is protected now: SRTP keyed by SDES or DTLS, or not at all (absent: not known). */
  readonly encryption?: "none" | "sdes" | "dtls";
  /** Direction the far end asked for in its last description: `sendonly`/`inactive` = it holds us. */
  readonly remoteDirection: MediaDirection;
  /** Muted: send silence (keeps NAT bindings and the far end's jitter buffer alive). */
  setMuted(muted: boolean): void;
  /** RFC 4733 events, one digit after the other (0-9 * # A-D). */
  sendDtmf(digits: string): Promise<void>;
  /** Digits received as RFC 4733 events (one call per digit, at the end of the event). */
  onDtmf(listener: (digit: string) => void): void;
  /**
   * The far end's media is gone: nothing (no valid RTP, no RTCP) received for the configured
   * media timeout (a longer one while either side holds), or ICMP port-unreachable repeatedly.
   * Fired at most once per session; the SIP side ends the call with `media_timeout`.
   */
  onMediaTimeout(listener: (detail: string) => void): void;
  stats(): MediaStats;
  /** Stops RTP and RTCP (sends an RTCP BYE), frees the ports, returns the final statistics. Idempotent. */
  close(): Promise<MediaStats>;
}

/** What a factory knows of a call when it makes its session. */
export interface MediaCreateOptions {
  readonly callId: string;
  /**
   * Inbound: the far end's offer ("" for an offerless INVITE); a DTLS-SRTP offer makes the session
   * ICE + DTLS. Absent: we make the first offer (outbound), as the factory's config says.
   */
  readonly offer?: string | undefined;
}

export interface MediaSessionFactory {
  create(options: MediaCreateOptions): Promise<MediaSession>;
  /**
   * Judges a far end's offer as `answer()` would, without binding anything: throws MediaError
   * ("malformed" / "incompatible") when no session of this factory could answer it. The SIP side
   * refuses such an INVITE with 488 before the desk rings.
   */
  checkOffer?(remoteSdp: string): void;
  /**
   * Loads and binds ahead what this desk's calls will need and that is not loaded at start (a
   * desk that offers DTLS-SRTP: the ICE/DTLS library, its certificate, the next call's ICE
   * sockets, Opus), so that its first call does not wait for them. Called once the desk is
   * registered, in idle time; never throws (a failure is logged, and the call loads it again).
   */
  prepare?(): void;
  /** Frees what the factory holds between calls (ports bound ahead); sessions stay open. */
  close?(): Promise<void>;
}
