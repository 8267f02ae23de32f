/**
 * The RTCP side of one session (RFC 3550 §6): what goes into our SR/RR, and what the far
 * end's reports tell us (round trip via LSR/DLSR, §6.4.1). Pure: the session supplies times.
 */
import { ReceiverStats } from "./receiver-stats.js";
import {
  encodeBye,
  encodeReceiverReport,
  encodeSdesCname,
  encodeSenderReport,
  ntpFromUnixMs,
  ntpMiddle,
  parseRtcp,
  type ReportBlock,
  roundTripMs,
} from "./rtcp.js";

export interface SenderCounters {
  readonly packets: number;
  readonly octets: number;
  /** RTP timestamp matching `nowMs` (§6.4.1: same instant as the NTP timestamp). */
  readonly rtpTimestamp: number;
  /** Whether we sent RTP since the last report (§6.4: SR only then). */
  readonly sentSinceLastReport: boolean;
}

export class RtcpReporter {
  remoteSsrc: number | null = null;
  receiver: ReceiverStats | null = null;
  roundTrip: number | null = null;
  private lastSr: { middle: number; atMs: number } | null = null;

  constructor(
    readonly ssrc: number,
    private readonly cname: string,
  ) {}

  /** A new source (first packet or an SSRC change): statistics start over (§8.2). */
  resetSource(ssrc: number, clockRate: number): void {
    this.remoteSsrc = ssrc;
    this.receiver = new ReceiverStats(clockRate);
    this.lastSr = null;
  }

  private block(nowMs: number): ReportBlock[] {
    if (this.remoteSsrc === null || !this.receiver) return [];
    const f = this.receiver.report();
    const lsr = this.lastSr?.middle ?? 0;
    const dlsr = this.lastSr ? Math.round(((nowMs - this.lastSr.atMs) / 1000) * 65536) : 0;
    return [{ ssrc: this.remoteSsrc, ...f, lsr, dlsr: dlsr >>> 0 }];
  }

  /** A compound report (§6.1): SR or RR, SDES CNAME, and BYE when leaving. */
  report(wallMs: number, s: SenderCounters, bye = false): Buffer {
    const blocks = this.block(wallMs);
    const ntp = ntpFromUnixMs(wallMs);
    const first = s.sentSinceLastReport
      ? encodeSenderReport(
          this.ssrc,
          {
            ntpSec: ntp.sec,
            ntpFrac: ntp.frac,
            rtpTimestamp: s.rtpTimestamp,
            packetCount: s.packets,
            octetCount: s.octets,
          },
          blocks,
        )
      : encodeReceiverReport(this.ssrc, blocks);
    const parts = [first, encodeSdesCname(this.ssrc, this.cname)];
    if (bye) parts.push(encodeBye(this.ssrc));
    return Buffer.concat(parts);
  }

  /** Digests a received compound packet; returns "bye" when the far end left, null if invalid. */
  receive(data: Uint8Array, wallMs: number): "ok" | "bye" | null {
    const packets = parseRtcp(data);
    if (!packets) return null;
    let result: "ok" | "bye" = "ok";
    const ntp = ntpFromUnixMs(wallMs);
    const arrival = ntpMiddle(ntp.sec, ntp.frac);
    for (const p of packets) {
      if (p.type === "sr") {
        this.lastSr = { middle: ntpMiddle(p.sender.ntpSec, p.sender.ntpFrac), atMs: wallMs };
      }
      if (p.type === "sr" || p.type === "rr") {
        for (const b of p.reports) {
          if (b.ssrc !== this.ssrc) continue;
          const rtt = roundTripMs(arrival, b.lsr, b.dlsr);
          if (rtt !== null) this.roundTrip = rtt;
        }
      }
      if (p.type === "bye") result = "bye";
    }
    return result;
  }
}
