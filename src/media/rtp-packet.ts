/**
 * RTP packets (RFC 3550 §5.1): encode and a validating parse that never throws.
 *
 * Parsing handles CSRC lists (§5.1 CC), the header extension (§5.3.1) and padding (§5.1 P),
 * and reports garbage as `null` so the caller can count and drop it.
 */

export interface RtpPacket {
  readonly payloadType: number;
  readonly marker: boolean;
  readonly sequence: number;
  readonly timestamp: number;
  readonly ssrc: number;
  readonly csrcs: readonly number[];
  readonly payload: Uint8Array;
}

export const RTP_HEADER_BYTES = 12;

export function encodeRtp(p: {
  payloadType: number;
  marker: boolean;
  sequence: number;
  timestamp: number;
  ssrc: number;
  payload: Uint8Array;
}): Buffer {
  const out = Buffer.allocUnsafe(RTP_HEADER_BYTES + p.payload.length);
  writeRtpHeader(out, p.payloadType, p.marker, p.sequence, p.timestamp, p.ssrc);
  out.set(p.payload, RTP_HEADER_BYTES);
  return out;
}

/** Writes a 12-byte header (V=2, no padding, extension or CSRC) at the start of `out`. */
export function writeRtpHeader(
  out: Uint8Array,
  payloadType: number,
  marker: boolean,
  sequence: number,
  timestamp: number,
  ssrc: number,
): void {
  // Plain byte stores: this runs for every packet, Buffer's checked writers cost more.
  out[0] = 0x80; // V=2, P=0, X=0, CC=0
  out[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  out[2] = (sequence >>> 8) & 0xff;
  out[3] = sequence & 0xff;
  out[4] = timestamp >>> 24;
  out[5] = (timestamp >>> 16) & 0xff;
  out[6] = (timestamp >>> 8) & 0xff;
  out[7] = timestamp & 0xff;
  out[8] = ssrc >>> 24;
  out[9] = (ssrc >>> 16) & 0xff;
  out[10] = (ssrc >>> 8) & 0xff;
  out[11] = ssrc & 0xff;
}

const NO_CSRCS: readonly number[] = Object.freeze([]);

function u16(buf: Uint8Array, at: number): number {
  return ((buf[at] ?? 0) << 8) | (buf[at + 1] ?? 0);
}

function u32(buf: Uint8Array, at: number): number {
  return (
    (((buf[at] ?? 0) << 24) | ((buf[at + 1] ?? 0) << 16) | ((buf[at + 2] ?? 0) << 8) | (buf[at + 3] ?? 0)) >>>
    0
  );
}

/** Parses an RTP packet; `null` for anything that is not a well-formed version 2 RTP packet. */
export function parseRtp(buf: Uint8Array): RtpPacket | null {
  if (buf.length < RTP_HEADER_BYTES) return null;
  const b0 = buf[0] ?? 0;
  if (b0 >> 6 !== 2) return null;
  const padding = (b0 & 0x20) !== 0;
  const extension = (b0 & 0x10) !== 0;
  const cc = b0 & 0x0f;
  const b1 = buf[1] ?? 0;
  const payloadType = b1 & 0x7f;
  // RFC 5761 §4: PT 72-76 with the marker bit collide with RTCP SR/RR/SDES/BYE/APP.
  if (payloadType >= 72 && payloadType <= 76) return null;
  let offset = RTP_HEADER_BYTES + cc * 4;
  if (buf.length < offset) return null;
  let csrcs = NO_CSRCS;
  if (cc > 0) {
    const list: number[] = [];
    for (let i = 0; i < cc; i++) list.push(u32(buf, RTP_HEADER_BYTES + i * 4));
    csrcs = list;
  }
  if (extension) {
    if (buf.length < offset + 4) return null;
    const words = u16(buf, offset + 2);
    offset += 4 + words * 4;
    if (buf.length < offset) return null;
  }
  let end = buf.length;
  if (padding) {
    const pad = buf[buf.length - 1] ?? 0;
    if (pad === 0 || end - pad < offset) return null;
    end -= pad;
  }
  return {
    payloadType,
    marker: (b1 & 0x80) !== 0,
    sequence: u16(buf, 2),
    timestamp: u32(buf, 4),
    ssrc: u32(buf, 8),
    csrcs,
    payload: buf.subarray(offset, end),
  };
}
