import { describe, expect, it } from "vitest";
import { DepthAdapt } from "../../src/audio/depth-adapt.js";

describe("DepthAdapt (the speaker's extra depth after underruns), on a fake clock", () => {
  it("a lone underrun adds nothing; two within 10 s add one period", () => {
    const a = new DepthAdapt({ ceiling: 2 });
    expect(a.underrun(1_000)).toBe(false);
    expect(a.underrun(12_000)).toBe(false); // 11 s after the first: still only one in the window
    expect(a.extra).toBe(0);
    expect(a.underrun(21_999)).toBe(true);
    expect(a.extra).toBe(1);
  });

  it("the count starts again after each step, and stops at the ceiling", () => {
    const a = new DepthAdapt({ ceiling: 2 });
    a.underrun(0);
    a.underrun(100);
    expect(a.extra).toBe(1);
    expect(a.underrun(200)).toBe(false); // the one that made the step is not counted twice
    expect(a.underrun(300)).toBe(true);
    expect(a.extra).toBe(2);
    for (let t = 400; t < 5_000; t += 100) expect(a.underrun(t)).toBe(false);
    expect(a.extra).toBe(2);
  });

  it("a clean minute takes one period back, one step per minute, down to none", () => {
    const a = new DepthAdapt({ ceiling: 2 });
    for (const t of [0, 10, 20, 30]) a.underrun(t);
    expect(a.extra).toBe(2);
    expect(a.tick(59_000)).toBe(false);
    expect(a.tick(60_030)).toBe(true);
    expect(a.extra).toBe(1);
    expect(a.tick(90_000)).toBe(false); // the next step needs another clean minute
    expect(a.tick(120_030)).toBe(true);
    expect(a.extra).toBe(0);
    expect(a.tick(600_000)).toBe(false);
    expect(a.extra).toBe(0);
  });

  it("an underrun restarts the clean minute", () => {
    const a = new DepthAdapt({ ceiling: 2 });
    a.underrun(0);
    a.underrun(10);
    a.underrun(50_000); // lone: no step, but the minute is not clean
    expect(a.tick(60_010)).toBe(false);
    expect(a.tick(110_000)).toBe(true);
    expect(a.extra).toBe(0);
  });

  it("with a ceiling of 0 (a profile whose buffer is all start threshold) it never adds", () => {
    const a = new DepthAdapt({ ceiling: 0 });
    for (let t = 0; t < 1_000; t += 10) expect(a.underrun(t)).toBe(false);
    expect(a.extra).toBe(0);
  });

  it("near misses count like underruns, at most one a second; a near miss also restarts the clean minute", () => {
    const a = new DepthAdapt({ ceiling: 2 });
    expect(a.nearMiss(0)).toBe(false);
    expect(a.nearMiss(20)).toBe(false); // the same late burst
    expect(a.nearMiss(999)).toBe(false);
    expect(a.nearMisses).toBe(1);
    expect(a.extra).toBe(0);
    expect(a.nearMiss(1_000)).toBe(true); // a second one, a second later: one period more
    expect(a.extra).toBe(1);
    expect(a.nearMisses).toBe(2);
    expect(a.underrun(5_000)).toBe(false);
    expect(a.nearMiss(6_000)).toBe(true); // an underrun and a near miss within 10 s
    expect(a.extra).toBe(2);
    expect(a.nearMiss(50_000)).toBe(false); // at the ceiling; the minute starts again
    expect(a.tick(100_000)).toBe(false);
    expect(a.tick(110_000)).toBe(true);
    expect(a.extra).toBe(1);
  });
});
