import { describe, expect, it } from "vitest";
import { MediaWatchdog } from "../../src/media/media-watchdog.js";

const limits = { mediaMs: 30_000, holdMs: 300_000, unreachableMs: 5_000 };

describe("MediaWatchdog", () => {
  it("says nothing before media starts, however long", () => {
    expect(new MediaWatchdog(limits).check(1e9, false)).toBeNull();
  });

  it("silence: the media limit, or the hold limit while held; once", () => {
    const w = new MediaWatchdog(limits);
    w.start(1000);
    w.heard(2000);
    expect(w.check(31_999, false)).toBeNull();
    expect(w.check(200_000, true)).toBeNull();
    expect(w.check(302_000, true)).toBe("no RTP or RTCP for 300 s on hold");
    expect(w.check(400_000, true)).toBeNull(); // fired already
    const v = new MediaWatchdog(limits);
    v.start(0);
    expect(v.check(30_000, false)).toBe("no RTP or RTCP for 30 s");
  });

  it("0 turns a limit off (the ICMP rule with it)", () => {
    const w = new MediaWatchdog({ mediaMs: 0, holdMs: 0, unreachableMs: 5_000 });
    w.start(0);
    for (let t = 0; t <= 10_000; t += 20) w.unreachable(t);
    expect(w.check(10_000, false)).toBeNull();
    expect(w.check(1e9, true)).toBeNull();
  });

  it("ICMP unreachable for 5 s with nothing heard ends it sooner; a pause or a packet starts the run over", () => {
    const w = new MediaWatchdog(limits);
    w.start(0);
    expect(w.unreachable(1000)).toBe(true);
    for (let t = 1020; t < 3000; t += 20) expect(w.unreachable(t)).toBe(false);
    w.heard(3000); // the far end is alive after all
    expect(w.unreachable(3010)).toBe(true);
    for (let t = 3030; t < 5000; t += 20) w.unreachable(t);
    expect(w.unreachable(6500)).toBe(true); // after a 1.5 s pause
    for (let t = 6520; t < 11_500; t += 20) w.unreachable(t);
    expect(w.check(11_480, false)).toBeNull(); // 4.98 s of it
    w.unreachable(11_500);
    expect(w.check(11_510, false)).toBe("ICMP unreachable");
  });

  it("a run that has stopped does not fire", () => {
    const w = new MediaWatchdog(limits);
    w.start(0);
    for (let t = 0; t <= 6000; t += 20) w.unreachable(t);
    w.heard(6010);
    expect(w.check(6020, false)).toBeNull();
    expect(w.isUnreachable(6020)).toBe(true);
    expect(w.isUnreachable(7100)).toBe(false);
  });
});
