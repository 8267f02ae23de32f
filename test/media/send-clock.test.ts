import { describe, expect, it } from "vitest";
import { SendClock, type TimerDeps } from "../../src/media/send-clock.js";

/** Virtual time: timers fire `lateness(ms)` after their due time. */
function fakeTimers(lateness: (due: number) => number) {
  let now = 0;
  const queue: Array<{ at: number; fn: () => void; id: number }> = [];
  let ids = 0;
  const deps: TimerDeps = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const due = now + ms;
      queue.push({ at: due + lateness(due), fn, id: ++ids });
      return ids;
    },
    clearTimeout: (h) => {
      const i = queue.findIndex((q) => q.id === h);
      if (i >= 0) queue.splice(i, 1);
    },
  };
  return {
    deps,
    run(until: number, stall?: { at: number; ms: number }) {
      while (queue.length > 0) {
        queue.sort((a, b) => a.at - b.at);
        const q = queue.shift();
        if (!q || q.at > until) break;
        now = q.at;
        if (stall && now >= stall.at && stall.ms > 0) {
          now += stall.ms; // the event loop was blocked
          stall.ms = 0;
        }
        q.fn();
      }
    },
    get now() {
      return now;
    },
  };
}

describe("SendClock", () => {
  it("does not drift: late timers never accumulate (tick n at start + n×20)", () => {
    const t = fakeTimers(() => 1.7); // every timer 1.7 ms late
    const fired: number[] = [];
    const c = new SendClock(20, () => fired.push(t.now), t.deps);
    c.begin();
    t.run(60_000);
    c.stop();
    // A chained setTimeout(20) would have drifted by 1.7 ms × 3000 ticks; here tick n is at 20n + 1.7.
    expect(fired.length).toBeGreaterThanOrEqual(2999);
    const last = fired.length - 1;
    expect((fired[last] ?? 0) - 20 * last).toBeCloseTo(1.7, 6);
  });

  it("after a stall sends at most one catch-up tick, skipping the rest", () => {
    const t = fakeTimers(() => 0);
    const ticks: Array<{ n: number; at: number }> = [];
    const c = new SendClock(20, (n) => ticks.push({ n, at: t.now }), t.deps);
    c.begin();
    t.run(1000, { at: 200, ms: 150 });
    c.stop();
    const perInstant = new Map<number, number>();
    for (const k of ticks) perInstant.set(k.at, (perInstant.get(k.at) ?? 0) + 1);
    expect(Math.max(...perInstant.values())).toBe(2);
    expect(c.skipped).toBeGreaterThan(0);
    // tick indices keep real time: the last tick index matches the elapsed time
    const lastTick = ticks[ticks.length - 1];
    expect(lastTick?.n).toBe(Math.floor((lastTick?.at ?? 0) / 20));
  });

  it("stops", () => {
    const t = fakeTimers(() => 0);
    let n = 0;
    const c = new SendClock(20, () => n++, t.deps);
    c.begin();
    t.run(100);
    c.stop();
    const at = n;
    t.run(1000);
    expect(n).toBe(at);
  });
});
