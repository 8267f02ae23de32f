import { describe, expect, it } from "vitest";
import { backoffDelay, POLICIES } from "../../src/supervise/backoff.js";
import { type ReconnectClock, Reconnector } from "../../src/supervise/reconnector.js";

describe("backoffDelay: capped, full jitter", () => {
  const o = { baseMs: 1000, capMs: 30_000 };
  it("grows then caps", () => {
    expect(backoffDelay(o, 0, () => 1)).toBe(1000);
    expect(backoffDelay(o, 3, () => 1)).toBe(8000);
    expect(backoffDelay(o, 10, () => 1)).toBe(30_000);
    expect(backoffDelay(o, 1000, () => 1)).toBe(30_000);
  });
  it("spreads over [min, ceiling)", () => {
    expect(backoffDelay(o, 3, () => 0)).toBe(0);
    expect(backoffDelay(o, 3, () => 0.5)).toBe(4000);
    expect(backoffDelay({ ...o, minMs: 500 }, 3, () => 0)).toBe(500);
    expect(backoffDelay({ ...o, minMs: 500 }, 0, () => 0.5)).toBe(750);
  });
  it("a floor above the ceiling is a fixed delay", () => {
    expect(backoffDelay(POLICIES.sipRefusedEverywhere, 0, () => 0)).toBe(300_000);
    expect(backoffDelay(POLICIES.sipRefusedEverywhere, 7, () => 0.999)).toBe(300_000);
  });
});

describe("POLICIES", () => {
  it("mqtt: the first retry of a fleet falls within a second, later ones under a minute", () => {
    expect(backoffDelay(POLICIES.mqtt, 0, () => 0.999)).toBe(999);
    expect(backoffDelay(POLICIES.mqtt, 2, () => 0)).toBe(0);
    expect(backoffDelay(POLICIES.mqtt, 50, () => 0.999)).toBe(59_940);
  });
  it("mqtt refused: at least 10 s, under 30 s at first and under 5 minutes later", () => {
    expect(backoffDelay(POLICIES.mqttRefused, 0, () => 0)).toBe(10_000);
    expect(backoffDelay(POLICIES.mqttRefused, 0, () => 0.999)).toBeLessThan(30_000);
    expect(backoffDelay(POLICIES.mqttRefused, 40, () => 0.999)).toBeLessThan(300_000);
  });
  it("audio: never sooner than 200 ms", () => {
    expect(backoffDelay(POLICIES.audio, 0, () => 0)).toBe(200);
    expect(backoffDelay(POLICIES.audio, 0, () => 0.999)).toBeLessThan(250);
  });
});

class FakeClock implements ReconnectClock {
  t = 0;
  timers = new Map<number, { at: number; fn: () => void }>();
  #id = 0;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    this.#id++;
    this.timers.set(this.#id, { at: this.t + ms, fn });
    return this.#id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = [...this.timers.entries()].sort((a, b) => a[1].at - b[1].at)[0];
      if (!next || next[1].at > end) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}

function setup(policy = { baseMs: 100, capMs: 1000, stableMs: 5000 }) {
  const clock = new FakeClock();
  let retries = 0;
  const r = new Reconnector({ policy, clock, random: () => 0.999_999, retry: () => retries++ });
  return { clock, r, retries: () => retries };
}

describe("Reconnector", () => {
  it("retries after the policy's delay, growing while the attempts fail", () => {
    const { clock, r, retries } = setup();
    expect(r.state).toBe("idle");
    expect(r.down("ENOENT")).toBe(99);
    expect([r.state, r.reason]).toEqual(["waiting", "ENOENT"]);
    clock.advance(98);
    expect(retries()).toBe(0);
    clock.advance(1);
    expect([retries(), r.state]).toEqual([1, "retrying"]);
    expect([r.down("ENOENT"), r.down("ENOENT"), r.attempt]).toEqual([199, null, 2]);
    clock.advance(199);
    expect(retries()).toBe(2);
    expect(r.down("ENOENT")).toBe(399);
  });

  it("a down while a retry is pending keeps that retry", () => {
    const { clock, r, retries } = setup();
    r.down("a");
    expect(r.down("b")).toBeNull();
    clock.advance(1000);
    expect(retries()).toBe(1);
  });

  it("a link up for stableMs starts again from the first delay; a flapping one keeps backing off", () => {
    const { clock, r } = setup();
    for (let i = 0; i < 3; i++) {
      r.down("x");
      clock.advance(1000);
    }
    r.up();
    expect([r.state, r.reason]).toEqual(["up", null]);
    clock.advance(100);
    expect(r.down("flap")).toBe(799);
    clock.advance(1000);
    r.up();
    clock.advance(5000);
    expect(r.down("lost after a stable run")).toBe(99);
  });

  it("a failure-specific policy for one down", () => {
    const { r } = setup();
    expect(r.down("refused", POLICIES.sipRefusedEverywhere)).toBe(300_000);
  });

  it("stop cancels the pending retry and refuses new ones", () => {
    const { clock, r, retries } = setup();
    r.down("x");
    r.stop();
    expect(clock.timers.size).toBe(0);
    expect(r.down("y")).toBeNull();
    clock.advance(10_000);
    expect([retries(), r.state]).toEqual([0, "stopped"]);
  });
});
