/**
 * sip.js's SessionDescriptionHandler on top of one MediaSession (sip-lab.md: "supply
 * sessionDescriptionHandlerFactory"). sip.js drives offer/answer (RFC 3264) through it:
 *  incoming INVITE:  setDescription(offer) → getDescription() → 200 OK
 *  outgoing INVITE:  getDescription() → INVITE; 200 OK → setDescription(answer)
 *  re-INVITE either way, offerless INVITE (offer in our 200 OK, answer in the ACK).
 * The SIP agent may negotiate the first answer itself before accepting (`prepare`) so that an
 * incompatible offer is refused with 488 (RFC 3261 §21.4.26) instead of sip.js's generic 480.
 */
import type { SessionDescriptionHandler, SessionDescriptionHandlerOptions } from "sip.js";
import type { MediaStats } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import { type MediaDirection, MediaError, type MediaSession } from "../media/media.js";

export interface HoldOptions extends SessionDescriptionHandlerOptions {
  readonly hold?: boolean;
}

type Signalling = "stable" | "have-local-offer" | "have-remote-offer";

export class MediaSdh implements SessionDescriptionHandler {
  /** Whether we hold the far end: offers and answers say sendonly/inactive while true. */
  hold = false;
  private signalling: Signalling = "stable";
  private pendingAnswer: string | null = null;
  private prepared: { readonly offer: string; readonly answer: string } | null = null;
  private closing: Promise<MediaStats> | null = null;
  /**
   * The call's MediaSession, let go once it is closed: sip.js keeps a session and its SDH for up
   * to 32 s after the call (its transaction timers), and the media (stream, jitter buffer, audio
   * bridge, sockets) would stay in memory as long, for every call of a busy half-minute.
   */
  private live: MediaSession | null;

  constructor(
    media: MediaSession,
    private readonly log: Logger,
    /** Told the far end's direction after each of its descriptions is applied. */
    private readonly onRemoteDirection: (direction: MediaDirection) => void = () => {},
  ) {
    this.live = media;
  }

  /** The MediaSession; throws MediaError "closed" once it has been closed and let go. */
  get media(): MediaSession {
    if (this.live === null) throw new MediaError("closed", "media session is closed");
    return this.live;
  }

  /** Negotiates the answer to `offer` now; the matching setDescription() will reuse it. Throws MediaError. */
  prepare(offer: string): void {
    const answer = this.media.answer(offer, { hold: this.hold });
    this.prepared = { offer, answer };
  }

  getDescription(options?: HoldOptions): Promise<{ body: string; contentType: string }> {
    try {
      if (this.signalling === "have-remote-offer" && this.pendingAnswer !== null) {
        const body = this.pendingAnswer;
        this.pendingAnswer = null;
        this.signalling = "stable";
        return Promise.resolve({ body, contentType: "application/sdp" });
      }
      const hold = options?.hold ?? this.hold;
      const body = this.media.createOffer({ hold });
      this.signalling = "have-local-offer";
      return Promise.resolve({ body, contentType: "application/sdp" });
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  setDescription(sdp: string): Promise<void> {
    try {
      if (this.signalling === "have-local-offer") {
        this.media.acceptAnswer(sdp);
        this.signalling = "stable";
      } else {
        const prepared = this.prepared;
        this.prepared = null;
        this.pendingAnswer =
          prepared !== null && prepared.offer === sdp
            ? prepared.answer
            : this.media.answer(sdp, { hold: this.hold });
        this.signalling = "have-remote-offer";
      }
      this.onRemoteDirection(this.media.remoteDirection);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  hasDescription(contentType: string): boolean {
    return contentType.split(";")[0]?.trim().toLowerCase() === "application/sdp";
  }

  rollbackDescription(): Promise<void> {
    this.signalling = "stable";
    this.pendingAnswer = null;
    return Promise.resolve();
  }

  /** RFC 4733 events through the MediaSession (sip.js's own INFO fallback is not used). */
  sendDtmf(tones: string): boolean {
    const failed = (error: unknown) => this.log.warn({ error: String(error) }, "DTMF failed");
    try {
      this.media.sendDtmf(tones).catch(failed);
    } catch (error) {
      failed(error);
    }
    return true;
  }

  close(): void {
    void this.closeMedia();
  }

  /** Closes the MediaSession once; resolves with its final statistics (null if closing failed). */
  closeMedia(): Promise<MediaStats> {
    this.closing ??= this.media.close().finally(() => {
      this.live = null;
    });
    return this.closing;
  }
}

/** SIP status for a media failure while answering: 488 Not Acceptable Here (RFC 3261 §21.4.26). */
export function statusForMediaError(error: unknown): 488 | 500 {
  return error instanceof MediaError && (error.code === "incompatible" || error.code === "malformed")
    ? 488
    : 500;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
