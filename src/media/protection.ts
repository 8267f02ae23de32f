/**
 * The protection layer of one call's media (ARCHITECTURE § Media), between the transport and the
 * stream: SRTP/SRTCP (RFC 3711, keyed by SDES or DTLS) or nothing. The stream hands every packet
 * it builds to `protect*` before the transport sends it, and every datagram the transport
 * receives to `unprotect*` before it parses it. `noProtection` is plain RTP/AVP; SRTP is
 * `createSrtpProtection` (srtp/index.ts).
 *
 * Contract:
 *  - `protect*` returns the packet to send: the same buffer, or a new one when the protected
 *    form is longer (SRTP's authentication tag). It never throws.
 *  - `unprotect*` returns the clear packet, or null when the packet fails authentication or
 *    replay protection: the stream drops it (and counts it) without letting it latch, reset
 *    statistics or reach the jitter buffer.
 *  - Per packet, no allocation beyond what the cipher itself needs, no timers.
 */
export interface Protection {
  /** What the call's media is protected with (for logs and status): SRTP keyed by SDES or DTLS. */
  readonly kind: "none" | "sdes" | "dtls";
  /** Received packets refused so far (the call's statistics): failed authentication, replayed. */
  readonly dropped: { readonly auth: number; readonly replay: number };
  protectRtp(packet: Buffer): Buffer;
  protectRtcp(packet: Buffer): Buffer;
  unprotectRtp(packet: Buffer): Buffer | null;
  unprotectRtcp(packet: Buffer): Buffer | null;
}

const same = (packet: Buffer): Buffer => packet;

/** Plain RTP and RTCP: packets pass as they are. */
export const noProtection: Protection = {
  kind: "none",
  dropped: { auth: 0, replay: 0 },
  protectRtp: same,
  protectRtcp: same,
  unprotectRtp: same,
  unprotectRtcp: same,
};
