/**
 * SRTP and SRTCP (RFC 3711, RFC 7714) as the media stack's protection layer (protection.ts),
 * keyed by SDES (RFC 4568, sdp-crypto.ts) or by a DTLS-SRTP handshake (RFC 5764, the ICE
 * transport). AES and HMAC-SHA1 run in OpenSSL (node:crypto); see context.ts.
 *
 * A Protection holds one sending and one receiving context. A rekey (a new SDES key in a
 * re-INVITE, a DTLS handshake finishing) is a new Protection swapped into the stream
 * (RtpStream.setProtection): the receiving side then starts with fresh rollover and replay state.
 */
import type { Logger } from "../../log/logger.js";
import type { Protection } from "../protection.js";
import { AUTH_FAILED, type SrtpKeys, SrtpReceiver, SrtpSender } from "./context.js";

export type { SrtpKeys } from "./context.js";
export { isSrtpProfile, SRTP_PROFILES, type SrtpProfile, SUITES } from "./suites.js";

export interface SrtpProtectionOptions {
  readonly kind: "sdes" | "dtls";
  readonly send: SrtpKeys;
  readonly receive: SrtpKeys;
  readonly log: Logger;
}

/** A refused packet of ours never goes out in clear: an empty datagram is sent in its place. */
const NOTHING = Buffer.alloc(0);

class SrtpProtection implements Protection {
  readonly kind: "sdes" | "dtls";
  readonly dropped = { auth: 0, replay: 0 };
  private readonly sender: SrtpSender;
  private readonly receiver: SrtpReceiver;
  private readonly log: Logger;

  constructor(o: Omit<SrtpProtectionOptions, "send"> & { readonly send: SrtpKeys | SrtpSender }) {
    this.kind = o.kind;
    this.log = o.log;
    this.sender = o.send instanceof SrtpSender ? o.send : new SrtpSender(o.send);
    this.receiver = new SrtpReceiver(o.receive);
  }

  /** The same sending context (its rollover counters and SRTCP index go on), a new receiving one. */
  withReceiveKeys(receive: SrtpKeys): SrtpProtection {
    return new SrtpProtection({ kind: this.kind, send: this.sender, receive, log: this.log });
  }

  protectRtp(packet: Buffer): Buffer {
    const out = this.sender.protectRtp(packet);
    if (out !== null) return out;
    this.log.error({ bytes: packet.length }, "SRTP: not an RTP packet of ours, not sent");
    return NOTHING;
  }

  protectRtcp(packet: Buffer): Buffer {
    const out = this.sender.protectRtcp(packet);
    if (out !== null) return out;
    this.log.error({ bytes: packet.length }, "SRTCP: RTCP packet too short, not sent");
    return NOTHING;
  }

  unprotectRtp(packet: Buffer): Buffer | null {
    const r = this.receiver.unprotectRtp(packet);
    return typeof r === "number" ? this.refused(r, "SRTP") : r;
  }

  unprotectRtcp(packet: Buffer): Buffer | null {
    const r = this.receiver.unprotectRtcp(packet);
    return typeof r === "number" ? this.refused(r, "SRTCP") : r;
  }

  private refused(why: number, what: string): null {
    if (why === AUTH_FAILED) {
      // The first of a run is worth a line; the rest are counted in the call's statistics.
      if (this.dropped.auth++ === 0)
        this.log.warn(
          { kind: this.kind },
          `${what} packet failed authentication (dropped; further ones are counted)`,
        );
    } else if (this.dropped.replay++ === 0) {
      this.log.info(
        { kind: this.kind },
        `${what} packet replayed or too old (dropped; further ones are counted)`,
      );
    }
    return null;
  }
}

/**
 * The protection layer for SRTP keyed with `send` (our master key and salt) and `receive` (the far
 * end's). Throws an Error naming the problem when a key does not fit its profile.
 */
export function createSrtpProtection(o: SrtpProtectionOptions): Protection {
  return new SrtpProtection(o);
}

/**
 * A rekey of the far end only (its new key in a re-INVITE while ours stays): a fresh receiving
 * context (new replay and rollover state, RFC 4568 §7.1.4) and the same sending one. Our key must
 * not start its packet indices over: the same key and index twice is the same keystream twice.
 */
export function withReceiveKeys(p: Protection, receive: SrtpKeys): Protection {
  if (!(p instanceof SrtpProtection)) throw new Error(`cannot rekey a ${p.kind} protection`);
  return p.withReceiveKeys(receive);
}
