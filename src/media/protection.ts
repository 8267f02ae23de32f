/**
 * The protection layer of one call's media (ARCHITECTURE § Media), between the transport and the
 * stream: SRTP/SRTCP (RFC 3711, keyed by SDES or DTLS) or nothing. The stream hands every packet
 * it builds to `protect*` before the transport sends it, and every datagram the transport
 * receives to `unprotect*` before it parses it. Today's implementation is `noProtection` (plain
 * RTP/AVP).
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
  /** What the call's media is protected with (for logs and status). */
  readonly kind: "none";
  protectRtp(packet: Buffer): Buffer;
  protectRtcp(packet: Buffer): Buffer;
  unprotectRtp(packet: Buffer): Buffer | null;
  unprotectRtcp(packet: Buffer): Buffer | null;
}

const same = (packet: Buffer): Buffer => packet;

/** Plain RTP and RTCP: packets pass as they are. */
export const noProtection: Protection = {
  kind: "none",
  protectRtp: same,
  protectRtcp: same,
  unprotectRtp: same,
  unprotectRtcp: same,
};
