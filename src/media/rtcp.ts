/**
 * RTCP (RFC 3550 §6): sender and receiver reports, SDES CNAME, BYE; compound packets (§6.1)
 * and a parse that never throws. NTP time helpers for LSR/DLSR round-trip (§6.4.1).
 */

export interface ReportBlock {
  readonly ssrc: number;
  readonly fractionLost: number;
  readonly cumulativeLost: number;
  readonly extendedHighestSeq: number;
  readonly jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR received from this source, 0 if none. */
  readonly lsr: number;
  /** Delay since that SR, 1/65536 s. */
  readonly dlsr: number;
}

export interface SenderInfo {
  readonly ntpSec: number;
  readonly ntpFrac: number;
  readonly rtpTimestamp: number;
  readonly packetCount: number;
  readonly octetCount: number;
}

export type RtcpPacket =
  | {
      readonly type: "sr";
      readonly ssrc: number;
      readonly sender: SenderInfo;
      readonly reports: ReportBlock[];
    }
  | { readonly type: "rr"; readonly ssrc: number; readonly reports: ReportBlock[] }
  | { readonly type: "bye"; readonly ssrcs: number[] }
  | { readonly type: "other"; readonly packetType: number };

const SR = 200;
const RR = 201;
const SDES = 202;
const BYE = 203;

/** Seconds between the NTP epoch (1900) and the Unix epoch. */
const NTP_OFFSET = 2208988800;

export function ntpFromUnixMs(ms: number): { sec: number; frac: number } {
  const sec = Math.floor(ms / 1000);
  const frac = Math.floor(((ms - sec * 1000) / 1000) * 2 ** 32);
  return { sec: (sec + NTP_OFFSET) >>> 0, frac: frac >>> 0 };
}

/** The middle 32 bits of an NTP timestamp (§6.4.1 LSR), in 1/65536 s. */
export function ntpMiddle(sec: number, frac: number): number {
  return (((sec & 0xffff) << 16) | (frac >>> 16)) >>> 0;
}

/** §6.4.1: RTT = A - LSR - DLSR, all in 1/65536 s units, here returned in ms; null if no SR was echoed. */
export function roundTripMs(arrivalMiddle: number, lsr: number, dlsr: number): number | null {
  if (lsr === 0) return null;
  const rtt = (arrivalMiddle - lsr - dlsr) | 0;
  if (rtt < 0) return 0;
  return (rtt * 1000) / 65536;
}

function writeBlock(b: Buffer, off: number, r: ReportBlock): void {
  b.writeUInt32BE(r.ssrc >>> 0, off);
  b[off + 4] = r.fractionLost & 0xff;
  b.writeIntBE(Math.max(-0x800000, Math.min(0x7fffff, r.cumulativeLost)), off + 5, 3);
  b.writeUInt32BE(r.extendedHighestSeq >>> 0, off + 8);
  b.writeUInt32BE(r.jitter >>> 0, off + 12);
  b.writeUInt32BE(r.lsr >>> 0, off + 16);
  b.writeUInt32BE(r.dlsr >>> 0, off + 20);
}

function header(b: Buffer, count: number, type: number, bytes: number): void {
  b[0] = 0x80 | (count & 0x1f);
  b[1] = type;
  b.writeUInt16BE(bytes / 4 - 1, 2);
}

export function encodeSenderReport(ssrc: number, s: SenderInfo, reports: readonly ReportBlock[]): Buffer {
  const b = Buffer.alloc(28 + 24 * reports.length);
  header(b, reports.length, SR, b.length);
  b.writeUInt32BE(ssrc >>> 0, 4);
  b.writeUInt32BE(s.ntpSec >>> 0, 8);
  b.writeUInt32BE(s.ntpFrac >>> 0, 12);
  b.writeUInt32BE(s.rtpTimestamp >>> 0, 16);
  b.writeUInt32BE(s.packetCount >>> 0, 20);
  b.writeUInt32BE(s.octetCount >>> 0, 24);
  for (const [i, r] of reports.entries()) writeBlock(b, 28 + 24 * i, r);
  return b;
}

export function encodeReceiverReport(ssrc: number, reports: readonly ReportBlock[]): Buffer {
  const b = Buffer.alloc(8 + 24 * reports.length);
  header(b, reports.length, RR, b.length);
  b.writeUInt32BE(ssrc >>> 0, 4);
  for (const [i, r] of reports.entries()) writeBlock(b, 8 + 24 * i, r);
  return b;
}

/** SDES with one CNAME item (§6.5.1), required in every compound packet (§6.1). */
export function encodeSdesCname(ssrc: number, cname: string): Buffer {
  const text = Buffer.from(cname, "utf8").subarray(0, 255);
  const itemBytes = 4 + 2 + text.length + 1; // ssrc, type+len, text, END
  const padded = Math.ceil(itemBytes / 4) * 4;
  const b = Buffer.alloc(4 + padded);
  header(b, 1, SDES, b.length);
  b.writeUInt32BE(ssrc >>> 0, 4);
  b[8] = 1; // CNAME
  b[9] = text.length;
  text.copy(b, 10);
  return b;
}

export function encodeBye(ssrc: number): Buffer {
  const b = Buffer.alloc(8);
  header(b, 1, BYE, 8);
  b.writeUInt32BE(ssrc >>> 0, 4);
  return b;
}

function readBlocks(b: Buffer, off: number, count: number): ReportBlock[] {
  const out: ReportBlock[] = [];
  for (let i = 0; i < count; i++) {
    const o = off + 24 * i;
    out.push({
      ssrc: b.readUInt32BE(o),
      fractionLost: b[o + 4] ?? 0,
      cumulativeLost: b.readIntBE(o + 5, 3),
      extendedHighestSeq: b.readUInt32BE(o + 8),
      jitter: b.readUInt32BE(o + 12),
      lsr: b.readUInt32BE(o + 16),
      dlsr: b.readUInt32BE(o + 20),
    });
  }
  return out;
}

/** Parses a compound RTCP packet; `null` if it is not valid RTCP (§6.1, A.2 validity checks). */
export function parseRtcp(data: Uint8Array): RtcpPacket[] | null {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < 8) return null;
  // A.2: the first packet is SR or RR, without padding.
  const firstType = b[1] ?? 0;
  if ((firstType !== SR && firstType !== RR) || ((b[0] ?? 0) & 0x20) !== 0) return null;
  const out: RtcpPacket[] = [];
  let off = 0;
  while (off < b.length) {
    if (b.length - off < 4) return null;
    const b0 = b[off] ?? 0;
    if (b0 >> 6 !== 2) return null;
    const count = b0 & 0x1f;
    const type = b[off + 1] ?? 0;
    const bytes = (b.readUInt16BE(off + 2) + 1) * 4;
    if (off + bytes > b.length) return null;
    if (type === SR) {
      if (bytes < 28 + 24 * count) return null;
      out.push({
        type: "sr",
        ssrc: b.readUInt32BE(off + 4),
        sender: {
          ntpSec: b.readUInt32BE(off + 8),
          ntpFrac: b.readUInt32BE(off + 12),
          rtpTimestamp: b.readUInt32BE(off + 16),
          packetCount: b.readUInt32BE(off + 20),
          octetCount: b.readUInt32BE(off + 24),
        },
        reports: readBlocks(b, off + 28, count),
      });
    } else if (type === RR) {
      if (bytes < 8 + 24 * count) return null;
      out.push({ type: "rr", ssrc: b.readUInt32BE(off + 4), reports: readBlocks(b, off + 8, count) });
    } else if (type === BYE) {
      if (bytes < 4 + 4 * count) return null;
      const ssrcs: number[] = [];
      for (let i = 0; i < count; i++) ssrcs.push(b.readUInt32BE(off + 4 + 4 * i));
      out.push({ type: "bye", ssrcs });
    } else {
      out.push({ type: "other", packetType: type });
    }
    off += bytes;
  }
  return out;
}
