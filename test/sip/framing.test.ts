import { describe, expect, it } from "vitest";
import { contentLength, FramingError, StreamFramer } from "../../src/sip/framing.js";

const msg = (body: string) =>
  `OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP x;branch=z9hG4bK1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

describe("StreamFramer (RFC 3261 §18.3)", () => {
  it("frames back-to-back messages split anywhere", () => {
    const stream = Buffer.from(msg("héllo") + msg("") + msg("x"));
    for (const cut of [1, 7, 50, stream.length - 1]) {
      const f = new StreamFramer();
      const frames = [...f.push(stream.subarray(0, cut)), ...f.push(stream.subarray(cut))];
      expect(frames.map((x) => (x.kind === "message" ? x.text : x.kind))).toEqual([
        msg("héllo"),
        msg(""),
        msg("x"),
      ]);
      expect(f.pending).toBe(0);
    }
  });

  it("tells pings (double CRLF) from pongs (single CRLF), RFC 5626 §4.4.1", () => {
    const f = new StreamFramer();
    expect(f.push(Buffer.from("\r\n\r\n"))).toEqual([{ kind: "ping" }]);
    expect(f.push(Buffer.from("\r\n"))).toEqual([]); // may be half a ping
    expect(f.push(Buffer.from(msg("")))).toEqual([{ kind: "pong" }, { kind: "message", text: msg("") }]);
  });

  it("takes the compact form and a missing Content-Length as 0", () => {
    expect(contentLength("INVITE x SIP/2.0\r\nl: 12")).toBe(12);
    expect(contentLength("INVITE x SIP/2.0\r\nVia: a")).toBe(0);
  });

  it("refuses a stream it cannot resynchronise", () => {
    expect(() => contentLength("X x SIP/2.0\r\nContent-Length: -1")).toThrow(FramingError);
    expect(() => contentLength("X x SIP/2.0\r\nContent-Length: 1\r\nl: 2")).toThrow(FramingError);
    expect(() => new StreamFramer(100).push(Buffer.from(msg("x".repeat(200))))).toThrow(FramingError);
    expect(() => new StreamFramer(100).push(Buffer.alloc(200, 0x41))).toThrow(FramingError);
  });
});
