/**
 * Which source address a call's RTP may come from (symmetric RTP, RFC 4961, with latching).
 *
 *  - A packet from exactly the address and port the far end's SDP gave latches at once.
 *  - A NAT'd peer sends from another port (same IP), or from a public address while its SDP
 *    carries a private (RFC 1918) one: within the first `learnPackets` packets after a new
 *    remote description such a source is learnt and latched.
 *  - Once latched, every packet from elsewhere is rejected (and counted by the caller): no
 *    stranger can inject audio or steal the stream.
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

export class SourceFilter {
  private expected: Endpoint | null = null;
  private latchedTo: Endpoint | null = null;
  private seen = 0;

  constructor(private readonly learnPackets = 10) {}

  get latched(): Endpoint | null {
    return this.latchedTo;
  }

  /** The far end's SDP address. A changed address (re-INVITE moving the stream) unlatches. */
  setExpected(e: Endpoint): void {
    if (this.expected && this.expected.address === e.address && this.expected.port === e.port) return;
    this.expected = e;
    this.latchedTo = null;
    this.seen = 0;
  }

  check(address: string, port: number): FilterVerdict {
    const l = this.latchedTo;
    if (l) return l.address === address && l.port === port ? "accept" : "reject";
    const x = this.expected;
    if (!x) return "reject";
    this.seen++;
    if (x.address === address && x.port === port) {
      this.latchedTo = { address, port };
      return "accept";
    }
    const natLike = address === x.address || isPrivateIpv4(x.address) || x.address === "0.0.0.0";
    if (natLike && this.seen <= this.learnPackets) {
      this.latchedTo = { address, port };
      return "accept";
    }
    return "reject";
  }

  /** RTCP comes from the latched (or expected) IP, on whatever port (RFC 3605 / NAT). */
  checkControl(address: string): FilterVerdict {
    const ip = this.latchedTo?.address ?? this.expected?.address;
    return ip === address ? "accept" : "reject";
  }
}
