/**
 * Whether an Opus stream on the wire is clear or encrypted. Compressed Opus looks random to an
 * entropy judge (wire.ts), but a clear Opus payload starts with its TOC byte (RFC 6716 §3.1),
 * which is the same packet after packet at a steady mode, bandwidth and frame size; under SRTP
 * that byte is keystream, spread over all 256 values.
 */
import type { Datagram } from "./wire.js";

/** RTP datagrams (RFC 7983 §7's range, RTCP packet types excluded) with a payload. */
export function rtpDatagrams(datagrams: readonly Datagram[]): Datagram[] {
  return datagrams.filter((d) => {
    const b0 = d.payload[0] ?? 0;
    const pt = (d.payload[1] ?? 0) & 0x7f;
    return b0 >= 128 && b0 <= 191 && !(pt >= 64 && pt <= 95) && d.payload.length > 12;
  });
}

/** The share of the packets whose first payload byte is the most common one (0..1). */
export function commonestFirstByteShare(rtp: readonly Datagram[]): number {
  const counts = new Map<number, number>();
  for (const d of rtp) {
    const cc = (d.payload[0] ?? 0) & 0x0f;
    const first = d.payload[12 + 4 * cc] ?? 0; // past the CSRCs (no header extension here)
    counts.set(first, (counts.get(first) ?? 0) + 1);
  }
  return rtp.length === 0 ? 0 : Math.max(...counts.values()) / rtp.length;
}
