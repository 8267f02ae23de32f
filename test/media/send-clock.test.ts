import { describe, expect, it } from "vitest";
import {
  ALIGN_MS,
  FINE_MS,
  MERGE_MS,
  realTimers,
  SendClock,
  SLEW_MS,
  type TimerDeps,
  timerDelay,
} from "../../src/media/send-clock.js";

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
        t.advance(ms);
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

  describe("with the far end's packets arriving", () => {
    /**
     * Node-like timers (whole milliseconds, landing in the millisecond after their due time), a
     * sleep that advances virtual time, and far-end packets arriving every `periodMs` from
     * `phaseMs` with a deterministic jitter of up to ±`jitterMs`. Returns the tick times, the
     * arrival times and how many timer wake-ups the clock used.
     */
    function call(opts: { phaseMs: number; periodMs: number; jitterMs: number; seconds: number }) {
      let r = 0.61;
      const rand = () => {
        r = (r * 9.37 + 0.11) % 1;
        return r;
      };
      let exact = false; // arrivals are scheduled exactly; only the clock's timers are coarse
      const t = fakeTimers((due) => (exact ? 0 : Math.ceil(due) - due + rand()));
      let timerWakes = 0;
      const deps: TimerDeps = {
        ...t.deps,
        setTimeout: (fn, ms) =>
          t.deps.setTimeout(() => {
            timerWakes++;
            fn();
          }, ms),
        sleep: (ms) => {
          expect(ms).toBeLessThanOrEqual(MERGE_MS);
          t.advance(ms);
        },
      };
      const ticks: number[] = [];
      const c = new SendClock(20, () => ticks.push(t.now), deps);
      const arrivals: number[] = [];
      const end = opts.seconds * 1000;
      exact = true;
      for (let at = opts.phaseMs; at < end; at += opts.periodMs) {
        const jittered = at + (rand() * 2 - 1) * opts.jitterMs;
        t.deps.setTimeout(() => {
          arrivals.push(t.now);
          c.arrival();
        }, jittered);
      }
      exact = false;
      c.begin();
      t.run(end);
      c.stop();
      return { ticks, arrivals, timerWakes, clock: c };
    }

    it("moves its phase so that packets arrive just before its ticks, and sends from their wake-ups", () => {
      const { ticks, arrivals, timerWakes, clock } = call({
        phaseMs: 13.3,
        periodMs: 20,
        jitterMs: 1,
        seconds: 60,
      });
      // Every tick sent, in step with real time.
      expect(ticks.length).toBeGreaterThanOrEqual(2999);
      expect(clock.skipped).toBe(0);
      // The phase moves at most SLEW_MS per tick: no gap the far end would hear as jitter.
      for (let i = 1; i < ticks.length; i++) {
        expect(Math.abs((ticks[i] ?? 0) - (ticks[i - 1] ?? 0) - 20)).toBeLessThanOrEqual(SLEW_MS + 1e-9);
      }
      // Once aligned (after 5 s), packets land in the merge window before a tick...
      const late = arrivals.filter((a) => a > 5000);
      const inWindow = late.filter((a) => ticks.some((tk) => tk >= a && tk - a <= MERGE_MS)).length;
      expect(inWindow / late.length).toBeGreaterThan(0.95);
      // ...and the timer's own wake-ups are mostly saved: about one per 20 ms was needed before.
      expect(clock.merged).toBeGreaterThan(0.8 * ticks.length);
      expect(timerWakes).toBeLessThan(0.25 * ticks.length);
    });

    it("follows the far end across the wrap of the period", () => {
      // Packets first arrive just after the ticks (the worst phase), ALIGN_MS + 10 ms away.
      const { ticks, arrivals, clock } = call({
        phaseMs: ALIGN_MS + 10.2,
        periodMs: 20,
        jitterMs: 0.5,
        seconds: 30,
      });
      const late = arrivals.filter((a) => a > 5000);
      const inWindow = late.filter((a) => ticks.some((tk) => tk >= a && tk - a <= MERGE_MS)).length;
      expect(inWindow / late.length).toBeGreaterThan(0.95);
      expect(clock.merged).toBeGreaterThan(0.8 * ticks.length);
    });

    it("keeps its own phase when packets come at another rate (30 ms ptime)", () => {
      const { ticks, clock } = call({ phaseMs: 7, periodMs: 30, jitterMs: 0.5, seconds: 30 });
      for (const [n, at] of ticks.entries()) expect(at).toBeCloseTo(20 * n, 9);
      expect(clock.skipped).toBe(0);
    });
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
