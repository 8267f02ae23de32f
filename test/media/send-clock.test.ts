import { describe, expect, it } from "vitest";
import {
  ALIGN_MS,
  CAPTURE_ALIGN_MS,
  CAPTURE_GRACE_MS,
  CAPTURE_SLEW_MS,
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

  describe("with a live source (a sound card) completing frames", () => {
    /**
     * As above, with a card completing a frame every `periodMs` from `phaseMs` (±`jitterMs`), until
     * `stopAt` (an unplugged card), and the far end's packets at another phase. Returns each tick
     * with the capture it read (the last one before it).
     */
    function call(opts: {
      phaseMs: number;
      periodMs: number;
      jitterMs: number;
      seconds: number;
      stopAt?: number;
      frameReady?: () => boolean;
      /** How late (ms) the i-th capture comes beyond its jitter: a loaded host. */
      late?: (i: number) => number;
    }) {
      let r = 0.29;
      const rand = () => {
        r = (r * 9.37 + 0.11) % 1;
        return r;
      };
      let exact = false;
      const t = fakeTimers((due) => (exact ? 0 : Math.ceil(due) - due + rand()));
      const deps: TimerDeps = {
        ...t.deps,
        sleep: (ms) => {
          expect(ms).toBeLessThanOrEqual(MERGE_MS);
          t.advance(ms);
        },
      };
      const captures: number[] = [];
      const ticks: Array<{ at: number; capture: number }> = [];
      const c = new SendClock(20, () => ticks.push({ at: t.now, capture: captures.at(-1) ?? -1 }), deps, {
        ...(opts.frameReady ? { frameReady: opts.frameReady } : {}),
      });
      const end = opts.seconds * 1000;
      exact = true;
      let i = 0;
      for (let at = opts.phaseMs; at < Math.min(end, opts.stopAt ?? end); at += opts.periodMs) {
        t.deps.setTimeout(
          () => {
            captures.push(t.now);
            c.captured();
          },
          at + (rand() * 2 - 1) * opts.jitterMs + (opts.late?.(i++) ?? 0),
        );
      }
      for (let at = 7.5; at < end; at += 20) t.deps.setTimeout(() => c.arrival(), at);
      exact = false;
      c.begin();
      t.run(end);
      c.stop();
      return { ticks, captures, clock: c };
    }

    it("sends each frame within a few ms of the capture that completed it", () => {
      const { ticks, clock } = call({ phaseMs: 11.3, periodMs: 20, jitterMs: 0.7, seconds: 30 });
      expect(ticks.length).toBeGreaterThanOrEqual(1499);
      expect(clock.skipped).toBe(0);
      expect(clock.followsCapture).toBe(true);
      // The card's phase, not the far end's: once aligned (after 2 s) every tick comes at most
      // MERGE_MS after the capture it reads; before, a frame waited up to 20 ms.
      const late = ticks.filter((k) => k.at > 2000);
      for (const k of late) {
        expect(k.at - k.capture).toBeGreaterThanOrEqual(0);
        expect(k.at - k.capture).toBeLessThanOrEqual(MERGE_MS);
      }
      const mean = late.reduce((a, k) => a + k.at - k.capture, 0) / late.length;
      expect(mean).toBeLessThan(CAPTURE_ALIGN_MS + 1);
      expect(clock.capturedTicks).toBeGreaterThan(0.9 * ticks.length);
      // While converging a capture may come after its tick was due (it is sent at once, up to
      // CAPTURE_GRACE_MS late); once aligned the phase moves at most CAPTURE_SLEW_MS per tick.
      for (let i = 1; i < ticks.length; i++) {
        const gap = (ticks[i]?.at ?? 0) - (ticks[i - 1]?.at ?? 0);
        const limit = (ticks[i]?.at ?? 0) > 2000 ? CAPTURE_SLEW_MS : CAPTURE_GRACE_MS + CAPTURE_SLEW_MS;
        expect(Math.abs(gap - 20)).toBeLessThanOrEqual(limit + 1e-9);
      }
    });

    it("keeps sending when the card stops, each tick at most CAPTURE_GRACE_MS late", () => {
      const { ticks, clock } = call({ phaseMs: 3, periodMs: 20, jitterMs: 0.5, seconds: 10, stopAt: 4000 });
      const after = ticks.filter((k) => k.at > 4100);
      expect(after.length).toBeGreaterThanOrEqual(290);
      expect(clock.skipped).toBe(0);
      for (let i = 1; i < after.length; i++)
        // the timer alone, without a sleep: Node lands it up to a millisecond after its due time
        expect(Math.abs((after[i]?.at ?? 0) - (after[i - 1]?.at ?? 0) - 20)).toBeLessThanOrEqual(2 + 1e-9);
      const due = ticks.length - 1; // the last tick's index is its due slot, shifted by the phase
      expect(due).toBeGreaterThanOrEqual(498);
      expect(CAPTURE_GRACE_MS).toBeLessThan(20 - MERGE_MS);
    });

    it("under load, sends a frame whose capture comes late when it completes, never two at once, on the card's phase", () => {
      // One capture in five comes 3-14 ms late (the host woke arecord or the desk late).
      const { ticks, clock } = call({
        phaseMs: 11.3,
        periodMs: 20,
        jitterMs: 0.7,
        seconds: 30,
        late: (i) => (i % 5 === 2 ? 3 + ((i * 7) % 12) : 0),
      });
      expect(ticks.length).toBeGreaterThanOrEqual(1499);
      expect(clock.skipped).toBe(0);
      expect(clock.followsCapture).toBe(true);
      const aligned = ticks.filter((k) => k.at > 2000);
      // Each frame leaves with the capture that completed it (before: a capture more than 5 ms
      // late left its frame for the next tick, 20 ms more)...
      for (const k of aligned) {
        expect(k.at - k.capture).toBeGreaterThanOrEqual(0);
        expect(k.at - k.capture).toBeLessThanOrEqual(MERGE_MS);
      }
      // ...and every capture was read by its own tick: none waited a tick in the ring.
      expect(new Set(aligned.map((k) => k.capture)).size).toBe(aligned.length);
      // Two packets are never closer than 20 - CAPTURE_GRACE_MS: no burst toward the far end.
      for (let i = 1; i < ticks.length; i++)
        expect((ticks[i]?.at ?? 0) - (ticks[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(
          20 - CAPTURE_GRACE_MS - 1e-9,
        );
      // The stragglers did not drag the phase: the on-time captures still land just before their tick.
      const onTime = aligned.filter((k) => k.at - k.capture <= MERGE_MS && k.at - k.capture >= 0);
      expect(onTime.length).toBe(aligned.length);
    });

    it("does not follow captures that come at no steady phase", () => {
      // 10 ms periods reported on both halves: two phases, too scattered to follow.
      const { clock } = call({ phaseMs: 4, periodMs: 10, jitterMs: 0.5, seconds: 10 });
      expect(clock.followsCapture).toBe(false);
      expect(clock.capturedTicks).toBe(0);
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
