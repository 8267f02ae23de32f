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
  out[0] = 0x80; // V=2, P=0, X=0, CC=0
  out[1] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f);
  out.writeUInt16BE(p.sequence & 0xffff, 2);
  out.writeUInt32BE(p.timestamp >>> 0, 4);
  out.writeUInt32BE(p.ssrc >>> 0, 8);
  out.set(p.payload, RTP_HEADER_BYTES);
  return out;
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
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let offset = RTP_HEADER_BYTES + cc * 4;
  if (buf.length < offset) return null;
  const csrcs: number[] = [];
  for (let i = 0; i < cc; i++) csrcs.push(view.getUint32(RTP_HEADER_BYTES + i * 4));
  if (extension) {
    if (buf.length < offset + 4) return null;
    const words = view.getUint16(offset + 2);
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
    sequence: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    csrcs,
    payload: buf.subarray(offset, end),
  };
}
