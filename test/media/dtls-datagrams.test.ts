/**
 * DtlsDatagramWriter (src/media/dtls-datagrams.ts): werift-dtls's records leave packed one flight
 * per datagram, in order, and a retransmitted plaintext record gets a fresh sequence number
 * (RFC 6347 §4.1.2.6: the receiver's replay window drops a copy). Records are built by hand in the
 * wire format; the writer is also checked against werift-dtls's own record parser.
 */
import { describe, expect, it } from "vitest";
import { parsePacket } from "werift-dtls/lib/dtls/src/record/receive.js";
import { DTLS_DATAGRAM_MAX, DtlsDatagramWriter, dtlsRecords } from "../../src/media/dtls-datagrams.js";

/** One DTLS 1.2 record: type, epoch, sequence number, body. */
function record(type: number, epoch: number, seq: number, body: Buffer | number): Buffer {
  const data = typeof body === "number" ? Buffer.alloc(body, seq & 0xff) : body;
  const h = Buffer.alloc(13);
  h[0] = type;
  h.writeUInt16BE(0xfefd, 1);
  h.writeUInt16BE(epoch, 3);
  h.writeUIntBE(seq, 5, 6);
  h.writeUInt16BE(data.length, 11);
  return Buffer.concat([h, data]);
}
const seqOf = (r: Buffer) => r.readUIntBE(5, 6);
const epochOf = (r: Buffer) => r.readUInt16BE(3);

/** A client's flight 5 as werift writes it: one send per record, the Finished in epoch 1. */
function flight5(): Buffer[] {
  return [
    record(22, 0, 2, 416), // Certificate
    record(22, 0, 3, 78), // ClientKeyExchange
    record(22, 0, 4, 87), // CertificateVerify
    record(20, 0, 5, Buffer.from([1])), // ChangeCipherSpec
    record(22, 1, 6, 48), // Finished (encrypted)
  ];
}

describe("dtlsRecords", () => {
  it("splits a datagram into its records and keeps a truncated tail whole", () => {
    const a = record(22, 0, 1, 10);
    const b = record(20, 0, 2, 1);
    expect(dtlsRecords(Buffer.concat([a, b]))).toEqual([a, b]);
    const cut = Buffer.concat([a, b.subarray(0, 5)]);
    expect(dtlsRecords(cut)).toEqual([a, b.subarray(0, 5)]);
  });
});

describe("DtlsDatagramWriter", () => {
  it("packs a flight's records into one datagram, in order, unchanged", () => {
    const writes = flight5();
    const out = new DtlsDatagramWriter().pack(writes);
    expect(out).toHaveLength(1);
    expect(out[0]).toEqual(Buffer.concat(writes));
    // werift's own parser reads the five records back in order
    const parsed = parsePacket(out[0] as Buffer);
    expect(parsed.map((p) => p.recordLayerHeader.contentType)).toEqual([22, 22, 22, 20, 22]);
    expect(parsed.map((p) => p.recordLayerHeader.sequenceNumber)).toEqual([2, 3, 4, 5, 6]);
  });

  it("starts a new datagram before one would pass the size limit, never splitting a record", () => {
    const big = [record(22, 0, 1, 700), record(22, 0, 2, 700), record(22, 0, 3, 10)];
    const out = new DtlsDatagramWriter().pack(big);
    expect(out.map((d) => d.length)).toEqual([713, 713 + 23]);
    expect(out.every((d) => d.length <= DTLS_DATAGRAM_MAX)).toBe(true);
    // a record larger than the limit still goes, alone
    const huge = new DtlsDatagramWriter().pack([record(22, 0, 1, 1500), record(20, 0, 2, 1)]);
    expect(huge.map((d) => d.length)).toEqual([1513, 14]);
  });

  it("gives a retransmitted flight's plaintext records fresh sequence numbers and leaves werift's buffers alone", () => {
    const w = new DtlsDatagramWriter();
    const writes = flight5();
    const before = writes.map((b) => Buffer.from(b));
    const first = dtlsRecords(w.pack(writes)[0] as Buffer);
    expect(first.map(seqOf)).toEqual([2, 3, 4, 5, 6]);
    const again = dtlsRecords(w.pack(writes)[0] as Buffer);
    // epoch 0: 6, 7, 8, 9 (after the highest plaintext number sent, 5); the Finished is encrypted
    // under its number (the AEAD nonce and additional data hold it), so it keeps it
    expect(again.map(seqOf)).toEqual([6, 7, 8, 9, 6]);
    expect(again.map(epochOf)).toEqual([0, 0, 0, 0, 1]);
    // only the header changed
    expect(again.map((r) => r.subarray(13))).toEqual(first.map((r) => r.subarray(13)));
    const third = dtlsRecords(w.pack(writes)[0] as Buffer);
    expect(third.map(seqOf)).toEqual([10, 11, 12, 13, 6]);
    expect(writes).toEqual(before);
  });

  it("keeps werift's numbers while they rise, and renumbers a new record that falls behind a renumbered one", () => {
    const w = new DtlsDatagramWriter();
    expect(dtlsRecords(w.pack([record(22, 0, 0, 100)])[0] as Buffer).map(seqOf)).toEqual([0]);
    expect(dtlsRecords(w.pack([record(22, 0, 0, 100)])[0] as Buffer).map(seqOf)).toEqual([1]); // a ClientHello resent
    expect(dtlsRecords(w.pack([record(22, 0, 1, 100)])[0] as Buffer).map(seqOf)).toEqual([2]); // werift's next, behind
    expect(dtlsRecords(w.pack([record(22, 0, 7, 100)])[0] as Buffer).map(seqOf)).toEqual([7]);
  });
});
