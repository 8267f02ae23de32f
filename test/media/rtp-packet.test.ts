import { describe, expect, it } from "vitest";
import { encodeRtp, parseRtp } from "../../src/media/rtp-packet.js";

describe("RTP packets (RFC 3550 §5.1)", () => {
  const payload = Uint8Array.from([1, 2, 3, 4]);

  it("round-trips the fixed header", () => {
    const b = encodeRtp({
      payloadType: 8,
      marker: true,
      sequence: 65535,
      timestamp: 0xfffffff0,
      ssrc: 0xdeadbeef,
      payload,
    });
    expect(b[0]).toBe(0x80);
    const p = parseRtp(b);
    expect(p).toMatchObject({
      payloadType: 8,
      marker: true,
      sequence: 65535,
      timestamp: 0xfffffff0,
      ssrc: 0xdeadbeef,
    });
    expect(Array.from(p?.payload ?? [])).toEqual([1, 2, 3, 4]);
  });

  it("skips CSRCs, a header extension and padding", () => {
    const b = Buffer.from([
      0xb2,
      0x00,
      0x00,
      0x01,
      0,
      0,
      0,
      160,
      0,
      0,
      0,
      7, // V=2 P=1 X=1 CC=2, PT 0
      0,
      0,
      0,
      1,
      0,
      0,
      0,
      2, // CSRCs
      0xbe,
      0xde,
      0x00,
      0x01,
      0x10,
      0xaa,
      0,
      0, // extension, one word
      9,
      8,
      7, // payload
      0,
      0,
      3, // padding of 3
    ]);
    const p = parseRtp(b);
    expect(p?.csrcs).toEqual([1, 2]);
    expect(Array.from(p?.payload ?? [])).toEqual([9, 8, 7]);
  });

  it.each([
    ["empty", []],
    ["too short", [0x80, 0, 0]],
    ["version 1", [0x40, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]],
    ["CSRC count beyond the end", [0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]],
    ["extension beyond the end", [0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9]],
    ["padding larger than the packet", [0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 200]],
    ["zero padding count", [0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0]],
    ["an RTCP RR (PT 201 = 0x80|73)", [0x80, 201, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]],
  ])("rejects %s without throwing", (_name, bytes) => {
    expect(parseRtp(Uint8Array.from(bytes))).toBeNull();
  });

  it("never throws on random bytes", () => {
    let seed = 42;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed & 0xff;
    };
    for (let i = 0; i < 5000; i++) {
      const b = Uint8Array.from({ length: rnd() % 64 }, rnd);
      expect(() => parseRtp(b)).not.toThrow();
    }
  });
});
