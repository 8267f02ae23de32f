import { describe, expect, it } from "vitest";
import { FINE_MS, realTimers, SendClock, type TimerDeps, timerDelay } from "../../src/media/send-clock.js";

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
    advance(ms: number) {
      now += ms;
    },
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

  it("with a precise sleep, sends every tick exactly on time although the timer lands early and coarse", () => {
    // Whole-millisecond timers landing anywhere in the millisecond after their (early) due time,
    // as Node's loop clock does; the sleep ends the wait.
    let r = 0.37;
    const t = fakeTimers((due) => {
      r = (r * 7.13) % 1;
      return Math.ceil(due) - due + r;
    });
    let slept = 0;
    let sleeps = 0;
    const deps: TimerDeps = {
      ...t.deps,
      sleep: (ms) => {
        expect(ms).toBeGreaterThan(0);
        expect(ms).toBeLessThanOrEqual(FINE_MS);
        slept += ms;
        sleeps++;
        (t as unknown as { advance(ms: number): void }).advance(ms);
      },
    };
    const fired: number[] = [];
    const c = new SendClock(20, () => fired.push(t.now), deps);
    c.begin();
    t.run(10_000);
    c.stop();
    expect(fired.length).toBe(501);
    for (const [n, at] of fired.entries()) expect(at).toBeCloseTo(20 * n, 9);
    expect(sleeps).toBeGreaterThan(400);
    expect(slept / sleeps).toBeLessThan(FINE_MS);
  });

  it("sets the timer up to FINE_MS early in whole milliseconds", () => {
    expect(timerDelay(18.37)).toBe(17);
    expect(timerDelay(20)).toBe(18);
    expect(timerDelay(1.5)).toBe(0);
    expect(timerDelay(-3)).toBe(0);
  });

  it("the real sleep waits a fraction of a millisecond without returning early", () => {
    const sleep = realTimers.sleep;
    expect(sleep).toBeDefined();
    const t0 = performance.now();
    sleep?.(0.4);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(0.4);
  });
});
