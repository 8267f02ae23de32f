import { describe, expect, it } from "vitest";
import { DepthAdapt } from "../../src/audio/depth-adapt.js";

describe("DepthAdapt (the speaker's extra depth after underruns and near misses), on a fake clock", () => {
  it("each underrun adds one period, up to the ceiling", () => {
    const a = new DepthAdapt({ ceiling: 2 });
    expect(a.underrun(1_000)).toBe(true);
    expect(a.extra).toBe(1);
    expect(a.underrun(40_000)).toBe(true); // alone, 39 s later: still one more
    expect(a.extra).toBe(2);
    for (let t = 40_100; t < 45_000; t += 100) expect(a.underrun(t)).toBe(false);
    expect(a.extra).toBe(2);
  });

  it("three clean minutes take one period back, one step per three minutes, down to none", () => {
    const a = new DepthAdapt({ ceiling: 2 });
    a.underrun(0);
    a.underrun(10);
    expect(a.extra).toBe(2);
    expect(a.tick(179_000)).toBe(false);
    expect(a.tick(180_010)).toBe(true);
    expect(a.extra).toBe(1);
    expect(a.tick(300_000)).toBe(false); // the next step needs another clean three minutes
    expect(a.tick(360_010)).toBe(true);
    expect(a.extra).toBe(0);
    expect(a.tick(3_600_000)).toBe(false);
    expect(a.extra).toBe(0);
  });

  it("an underrun restarts the clean time, even at the ceiling", () => {
    const a = new DepthAdapt({ ceiling: 2 });
    a.underrun(0);
    a.underrun(10);
    expect(a.underrun(150_000)).toBe(false); // at the ceiling: nothing added, but not clean
    expect(a.tick(180_010)).toBe(false);
    expect(a.tick(330_000)).toBe(true);
    expect(a.extra).toBe(1);
  });

  it("with a ceiling of 0 (a profile whose buffer is all start threshold) it never adds", () => {
    const a = new DepthAdapt({ ceiling: 0 });
    for (let t = 0; t < 1_000; t += 10) expect(a.underrun(t)).toBe(false);
    for (let t = 0; t < 100_000; t += 1_000) expect(a.nearMiss(t)).toBe(false);
    expect(a.extra).toBe(0);
  });

  it("near misses: two within 10 s add a period, at most one counted a second; they restart the clean time", () => {
    const a = new DepthAdapt({ ceiling: 2 });
    expect(a.nearMiss(0)).toBe(false);
    expect(a.nearMiss(20)).toBe(false); // the same late burst
    expect(a.nearMiss(999)).toBe(false);
    expect(a.nearMisses).toBe(1);
    expect(a.extra).toBe(0);
    expect(a.nearMiss(1_000)).toBe(true); // a second one, a second later: one period more
    expect(a.extra).toBe(1);
    expect(a.nearMiss(5_000)).toBe(false); // the count starts again after a step
    expect(a.nearMiss(16_000)).toBe(false); // 11 s later: still only one in the window
    expect(a.nearMiss(20_000)).toBe(true);
    expect(a.extra).toBe(2);
    expect(a.nearMiss(100_000)).toBe(false); // at the ceiling; the clean time starts again
    expect(a.tick(270_000)).toBe(false);
    expect(a.tick(280_000)).toBe(true);
    expect(a.extra).toBe(1);
  });
});
