import { describe, expect, it } from "vitest";
import { S16leAssembler, SampleRing } from "../../src/audio/sample-ring.js";

describe("SampleRing", () => {
  it("reads back what was written, across the wrap", () => {
    const r = new SampleRing(5);
    r.write(Int16Array.from([1, 2, 3]));
    const out = new Int16Array(2);
    expect(r.read(out)).toBe(2);
    r.write(Int16Array.from([4, 5, 6]));
    const all = new Int16Array(10);
    expect(r.read(all)).toBe(4);
    expect(Array.from(all.subarray(0, 4))).toEqual([3, 4, 5, 6]);
  });

  it("drops the oldest samples when full, and counts them", () => {
    const r = new SampleRing(4);
    r.write(Int16Array.from([1, 2, 3]));
    r.write(Int16Array.from([4, 5, 6]));
    expect(r.dropped).toBe(2);
    const out = new Int16Array(4);
    r.read(out);
    expect(Array.from(out)).toEqual([3, 4, 5, 6]);
    r.write(new Int16Array(100).fill(7));
    expect(r.length).toBe(4);
    expect(r.dropped).toBe(98);
  });

  it("stays capped under a producer much faster than the reader", () => {
    const r = new SampleRing(1600);
    const chunk = new Int16Array(4096).fill(1);
    const frame = new Int16Array(160);
    for (let i = 0; i < 10_000; i++) {
      r.write(chunk); // 40 MB of samples in total
      if (i % 100 === 0) r.read(frame);
      expect(r.length).toBeLessThanOrEqual(1600);
    }
    expect(r.dropped).toBeGreaterThan(40_000_000);
  });
});

describe("S16leAssembler", () => {
  it("joins odd-length chunks", () => {
    const a = new S16leAssembler();
    expect(Array.from(a.push(Uint8Array.from([0x01, 0x00, 0xff])))).toEqual([1]);
    expect(Array.from(a.push(Uint8Array.from([0xff, 0x00, 0x80])))).toEqual([-1, -32768]);
  });
});
