/**
 * How werift-dtls's records leave the box (RFC 6347 §4.1, §4.2.4): two corrections to werift-dtls
 * 0.5.8, made on its transport, so the library stays as installed.
 *
 *  - **One datagram per flight.** werift sends each record of a flight as its own datagram (the
 *    client's flight 5: Certificate, ClientKeyExchange, CertificateVerify, ChangeCipherSpec,
 *    Finished). A server that reads those datagrams on several threads (rtpengine: in the lab
 *    about one flight in three, none with `--num-threads=1`) can meet the ChangeCipherSpec before
 *    the CertificateVerify, and OpenSSL drops a CCS that comes before the messages it follows.
 *    Records written in one turn of the event loop are packed into as few datagrams as fit in
 *    `DTLS_DATAGRAM_MAX` bytes, in order (RFC 6347 §4.1.1 allows several records per datagram;
 *    OpenSSL sends its own flights so).
 *  - **A fresh record sequence number for a retransmitted record.** werift retransmits a flight
 *    byte for byte, so a copy carries the record sequence number the receiver's replay window
 *    already holds and is discarded (RFC 6347 §4.1.2.6): one dropped ChangeCipherSpec then stalls
 *    the handshake for good. Plaintext (epoch 0) records are renumbered so each one sent has a
 *    higher number than the last; encrypted records cannot be (the number is in the AEAD nonce)
 *    and need not be: the receiver keeps a next-epoch record it cannot read yet.
 */

/** The largest datagram records are packed into: well under any path MTU ICE can pick. */
export const DTLS_DATAGRAM_MAX = 1200;

const HEADER = 13;

/** The records of one datagram (each with its 13-byte header); a truncated tail is kept as is. */
export function dtlsRecords(datagram: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at + HEADER <= datagram.length) {
    const end = at + HEADER + datagram.readUInt16BE(at + 11);
    if (end > datagram.length) break;
    out.push(datagram.subarray(at, end));
    at = end;
  }
  if (at < datagram.length) out.push(datagram.subarray(at));
  return out;
}

/** One association's outgoing records: renumbers retransmitted plaintext records and packs each batch. */
export class DtlsDatagramWriter {
  /** The highest epoch-0 record sequence number sent (-1: none yet). */
  private lastPlain = -1;

  constructor(private readonly max = DTLS_DATAGRAM_MAX) {}

  /** The datagrams to send for the records werift wrote in one turn, in order. */
  pack(writes: readonly Buffer[]): Buffer[] {
    const records = writes.flatMap(dtlsRecords).map((r) => this.renumber(r));
    const datagrams: Buffer[] = [];
    let current: Buffer[] = [];
    let size = 0;
    for (const r of records) {
      if (size > 0 && size + r.length > this.max) {
        datagrams.push(Buffer.concat(current));
        current = [];
        size = 0;
      }
      current.push(r);
      size += r.length;
    }
    if (size > 0) datagrams.push(Buffer.concat(current));
    return datagrams;
  }

  private renumber(record: Buffer): Buffer {
    if (record.length < HEADER || record.readUInt16BE(3) !== 0) return record;
    const seq = record.readUIntBE(5, 6);
    if (seq > this.lastPlain) {
      this.lastPlain = seq;
      return record;
    }
    // werift keeps its flight's buffers for the next retransmission: write a copy
    const copy = Buffer.from(record);
    this.lastPlain += 1;
    copy.writeUIntBE(this.lastPlain, 5, 6);
    return copy;
  }
}
