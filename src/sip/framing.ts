/**
 * SIP message framing on a stream (TCP, TLS): RFC 3261 §18.3 — the header block ends at the
 * first empty line and Content-Length (compact form `l`, §7.3.3) gives the body's length in
 * bytes; it is mandatory on streams, a missing one is taken as 0. Between messages, RFC 5626
 * §4.4.1 keep-alives: a double CRLF is a ping (answered with one CRLF, the pong), a lone CRLF a
 * pong. A stream that cannot be framed (bad Content-Length, oversized message) cannot be
 * resynchronised: the caller closes the connection.
 */
export type Frame =
  | { readonly kind: "message"; readonly text: string }
  | { readonly kind: "ping" }
  | { readonly kind: "pong" };

export class FramingError extends Error {
  readonly code = "framing";
  constructor(message: string) {
    super(message);
    this.name = "FramingError";
  }
}

const CRLF = 0x0d0a;
const HEADER_END = Buffer.from("\r\n\r\n");

export class StreamFramer {
  private buffer: Buffer = Buffer.alloc(0);

  constructor(private readonly maxMessageBytes = 65_536) {}

  /** Feeds bytes; returns the complete frames they finish. Throws FramingError. */
  push(chunk: Buffer): Frame[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      // Keep-alives: count the CRLFs before the next message.
      let crlfs = 0;
      while (this.buffer.length >= 2 * (crlfs + 1) && this.buffer.readUInt16BE(2 * crlfs) === CRLF) crlfs++;
      if (crlfs > 0 && (this.buffer.length > 2 * crlfs || crlfs >= 2)) {
        // A lone CRLF at the end of the buffer may be the first half of a ping: wait for more.
        frames.push(crlfs >= 2 ? { kind: "ping" } : { kind: "pong" });
        this.buffer = this.buffer.subarray(2 * crlfs);
        continue;
      }
      if (crlfs > 0) return frames;
      const end = this.buffer.indexOf(HEADER_END);
      if (end < 0) {
        if (this.buffer.length > this.maxMessageBytes) throw new FramingError("header block too long");
        return frames;
      }
      const head = this.buffer.subarray(0, end).toString("latin1");
      const length = contentLength(head);
      const total = end + 4 + length;
      if (total > this.maxMessageBytes) throw new FramingError(`message of ${total} bytes exceeds the limit`);
      if (this.buffer.length < total) return frames;
      frames.push({ kind: "message", text: this.buffer.subarray(0, total).toString("utf8") });
      this.buffer = this.buffer.subarray(total);
    }
  }

  /** Bytes held while waiting for the rest of a message. */
  get pending(): number {
    return this.buffer.length;
  }
}

/** Content-Length from a header block (folded lines included); 0 when absent. Throws FramingError. */
export function contentLength(head: string): number {
  const lines = head.split("\r\n");
  let value: string | null = null;
  for (const line of lines.slice(1)) {
    const m = /^(content-length|l)[ \t]*:(.*)$/i.exec(line);
    if (m) {
      if (value !== null) throw new FramingError("more than one Content-Length");
      value = (m[2] ?? "").trim();
    }
  }
  if (value === null) return 0;
  if (!/^\d{1,9}$/.test(value)) throw new FramingError(`bad Content-Length "${value.slice(0, 20)}"`);
  return Number(value);
}
