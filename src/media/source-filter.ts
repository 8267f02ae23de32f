/**
 * Which source a call's RTP may come from (symmetric RTP, RFC 4961, with latching that cannot be
 * hijacked: the "RTP Bleed" class, where any datagram reaching the port before the far end's
 * first packet took the stream and received the call's audio).
 *
 * The session calls `check` only for packets that parse as RTP version 2 with a payload type
 * negotiated for the call (the codec's or telephone-event's); anything else never latches.
 *
 *  - The address:port of the far end's SDP is always accepted and preferred: a packet from it
 *    latches (back) to it at once.
 *  - Another source is adopted only when it is NAT-like (the SDP's IP on another port, or any
 *    source when the SDP carries a private, CGNAT or unspecified address), it sends
 *    `adoptPackets` consecutive valid packets (same SSRC, sequence moving forward), and either
 *    (a) nothing is latched yet and the SDP's source has sent nothing valid (a NAT'd peer), or
 *    (b) the latched source has been silent for `silenceMs` (a peer whose NAT binding moved).
 *  - Once latched, every packet from elsewhere is rejected (and counted by the caller), and only
 *    the latched source receives our audio.
 *  - RTCP is accepted from the latched source's address on its port + 1 or the SDP's RTCP port
 *    (a=rtcp, RFC 3605); before latching, from the SDP's address on those ports.
 *
 * Allocation-free per packet: only a latch change creates an object.
 */

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export type FilterVerdict = "accept" | "reject";

const PRIVATE = [
  /^10\./,
  /^192\.168\./,
  /^172\.(1[6-9]|2\d|3[01])\./,
  /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./,
];

export function isPrivateIpv4(address: string): boolean {
  return PRIVATE.some((r) => r.test(address));
}

export interface SourceFilterOptions {
  /** Consecutive valid packets a new source must send before it is adopted (default 3). */
  readonly adoptPackets?: number;
  /** How long the latched source must have been silent before another may take over, ms (default 1000). */
  readonly silenceMs?: number;
}

/** A sequence step a candidate's next packet may take and still count as consecutive. */
const MAX_SEQ_STEP = 100;

export class SourceFilter {
  private expected: Endpoint | null = null;
  private expectedRtcpPort = 0;
  /** The SDP's source has sent a valid packet since the last remote description. */
  private expectedSpoke = false;
  /** A NAT-like source may be learnt (the SDP's address is private, unspecified, ...). */
  private anyIpLearnable = false;
  private latchedTo: Endpoint | null = null;
  private lastLatchedAt = 0;
  private candAddress = "";
  private candPort = -1;
  private candSsrc = 0;
  private candSeq = 0;
  private candCount = 0;
  private readonly adoptPackets: number;
  private readonly silenceMs: number;

  constructor(options: SourceFilterOptions = {}) {
    this.adoptPackets = Math.max(1, options.adoptPackets ?? 3);
    this.silenceMs = options.silenceMs ?? 1000;
  }

  get latched(): Endpoint | null {
    return this.latchedTo;
  }

  /** The SDP's address and port (the same object until a remote description moves it). */
  get expectedEndpoint(): Endpoint | null {
    return this.expected;
  }

  /**
   * The far end's SDP address (and RTCP port: a=rtcp, else port + 1). A changed address or port
   * (a re-INVITE moving the stream) unlatches; the same one keeps the latch.
   */
  setExpected(e: Endpoint, rtcpPort = e.port + 1): void {
    this.expectedRtcpPort = rtcpPort;
    if (this.expected && this.expected.address === e.address && this.expected.port === e.port) return;
    this.expected = e;
    this.expectedSpoke = false;
    this.anyIpLearnable = isPrivateIpv4(e.address) || e.address === "0.0.0.0";
    this.latchedTo = null;
    this.candCount = 0;
  }

  /** Whether packets from here belong to the call (the latched or the SDP source): its garbage is garbage, not a stranger's. */
  isKnown(address: string, port: number): boolean {
    const l = this.latchedTo;
    const x = this.expected;
    return (
      (l !== null && l.port === port && l.address === address) ||
      (x !== null && x.port === port && x.address === address)
    );
  }

  /** The latched source sent a packet we do not play (comfort noise): it is not silent. */
  touch(address: string, port: number, now: number): void {
    const l = this.latchedTo;
    if (l !== null && l.port === port && l.address === address) this.lastLatchedAt = now;
  }

  /** Milliseconds since the latched source last sent a valid packet (Infinity when none is latched). */
  latchedSilentFor(now: number): number {
    return this.latchedTo ? now - this.lastLatchedAt : Number.POSITIVE_INFINITY;
  }

  /** Whether another source could be adopted now (so the session lets its packets reach us). */
  isLearning(now: number): boolean {
    return this.latchedTo === null || now - this.lastLatchedAt >= this.silenceMs;
  }

  /** A valid RTP packet (negotiated payload type) from `address:port`, at monotonic time `now`. */
  check(address: string, port: number, ssrc: number, sequence: number, now: number): FilterVerdict {
    const l = this.latchedTo;
    if (l !== null && l.port === port && l.address === address) {
      this.lastLatchedAt = now;
      if (!this.expectedSpoke && this.expected?.port === port && this.expected.address === address)
        this.expectedSpoke = true;
      return "accept";
    }
    const x = this.expected;
    if (x === null) return "reject";
    if (x.port === port && x.address === address) {
      // The SDP's own source: preferred over any learnt one.
      this.expectedSpoke = true;
      this.latchedTo = x;
      this.lastLatchedAt = now;
      this.candCount = 0;
      return "accept";
    }
    if (!(this.anyIpLearnable || address === x.address)) return "reject";
    const mayAdopt = l === null ? !this.expectedSpoke : now - this.lastLatchedAt >= this.silenceMs;
    if (!mayAdopt) {
      this.candCount = 0;
      return "reject";
    }
    const step = (sequence - this.candSeq) & 0xffff;
    if (
      this.candCount > 0 &&
      this.candPort === port &&
      this.candAddress === address &&
      this.candSsrc === ssrc &&
      step > 0 &&
      step <= MAX_SEQ_STEP
    ) {
      this.candCount++;
    } else {
      this.candAddress = address;
      this.candPort = port;
      this.candSsrc = ssrc;
      this.candCount = 1;
    }
    this.candSeq = sequence;
    if (this.candCount < this.adoptPackets) return "reject";
    this.latchedTo = { address, port };
    this.lastLatchedAt = now;
    this.candCount = 0;
    return "accept";
  }

  /** RTCP from the latched source's address, on its port + 1 or the SDP's RTCP port. */
  checkControl(address: string, port: number): FilterVerdict {
    const src = this.latchedTo ?? this.expected;
    if (src === null || src.address !== address) return "reject";
    return port === src.port + 1 || port === this.expectedRtcpPort ? "accept" : "reject";
  }
}
