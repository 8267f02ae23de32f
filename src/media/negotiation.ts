/**
 * The negotiation layer of one call's media: the offer/answer state (RFC 3264) above the pure
 * functions of sdp.ts. It remembers our o= session id and version, our last offer until its
 * answer arrives, and the description that concluded the last exchange (codec, payload types,
 * directions, the far end's address). No sockets, no clock: the session applies what it returns.
 *
 * This is where SRTP keys (a=crypto) and ICE candidates will be negotiated (ARCHITECTURE § Media).
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
  offerDirection,
} from "./sdp.js";

export interface NegotiationOptions {
  /** Address put in c=/o= (the ports are bound by the allocator, possibly to 0.0.0.0). */
  readonly address: string;
  /** Our RTP port (RTCP on the next one). */
  readonly port: number;
  /** Our codecs, most preferred first. */
  readonly codecs: readonly CodecName[];
  /** ICE + DTLS-SRTP attributes (sdp-ice.ts) when this call's transport is ICE. */
  readonly ice?: LocalIceProvider | undefined;
}

export class Negotiation {
  private readonly sessionId = String(Math.floor(Math.random() * 1e9) + 1e9);
  private version = 0;
  private lastOffer: { codecs: readonly CodecName[]; direction: MediaDirection; ice: boolean } | null = null;
  private remoteDir: MediaDirection = "sendrecv";

  constructor(private readonly o: NegotiationOptions) {}

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

  /** Our offer; `hold` offers sendonly (or inactive if the far end holds us). */
  createOffer(hold: boolean): string {
    const direction = offerDirection(hold, this.remoteDir);
    this.lastOffer = { codecs: this.o.codecs, direction, ice: this.o.ice !== undefined };
    return buildOffer(this.local(), direction);
  }

  /** Our answer to the far end's offer, and what it concludes. Throws MediaError only. */
  answer(remoteSdp: string, hold: boolean): { readonly sdp: string; readonly negotiated: Negotiated } {
    // Only a successful negotiation uses up an o= version (RFC 3264 §8: it changes per new SDP).
    const version = this.version;
    try {
      const r = answerOffer(this.local(), remoteSdp, hold);
      this.remoteDir = r.negotiated.remoteDirection;
      return r;
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
    try {
      n = acceptAnswer(offer.codecs, offer.direction, remoteSdp, offer.ice);
    } catch (e) {
      throw asMediaError(e);
    }
    this.lastOffer = null;
    this.remoteDir = n.remoteDirection;
    return n;
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
