import { describe, expect, it } from "vitest";
import { XRUN_WINDOW_MS, XrunWindow } from "../../src/media/xrun-window.js";

describe("XrunWindow", () => {
  it("reports the call's counts once, then only when they change", () => {
    const w = new XrunWindow("c1");
    expect(w.reported).toBe(false);
    expect(w.update(0, 0, 0)).toEqual({ callId: "c1", underruns: 0, overruns: 0, lastMinute: 0 });
    expect(w.reported).toBe(true);
    expect(w.update(500, 0, 0)).toBeNull();
    expect(w.update(1000, 2, 1)).toEqual({ callId: "c1", underruns: 2, overruns: 1, lastMinute: 3 });
    expect(w.update(1500, 2, 1)).toBeNull();
  });

  it("counts the last minute only, and says so when it is clean again", () => {
    const w = new XrunWindow("c1");
    w.update(0, 0, 0);
    w.update(10_000, 4, 0); // 4 at 10 s
    expect(w.update(30_000, 5, 0)?.lastMinute).toBe(5); // 1 more at 30 s
    expect(w.update(60_000, 5, 0)).toBeNull();
    // At 70 s the four of 10 s have left the window; the one of 30 s has not.
    expect(w.update(10_000 + XRUN_WINDOW_MS, 5, 0)).toEqual({
      callId: "c1",
      underruns: 5,
      overruns: 0,
      lastMinute: 1,
    });
    expect(w.update(30_000 + XRUN_WINDOW_MS, 5, 0)?.lastMinute).toBe(0);
    expect(w.update(200_000, 5, 0)).toBeNull();
  });

  it("counts xruns that came before the first look", () => {
    const w = new XrunWindow("c1");
    expect(w.update(500, 1, 2)?.lastMinute).toBe(3);
  });
});
