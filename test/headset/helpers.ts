/** Shared helpers for the headset tests: fixtures, desk states and a manual clock. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Activity, Call, DeskState, Line } from "../../src/core/types.js";
import { parseHexBytes } from "../../src/headset/descriptor.js";
import type { HeadsetClock } from "../../src/headset/options.js";
import { type TelephonyMap, telephonyMapFromBytes } from "../../src/headset/telephony-map.js";
import { baseState, sampleCall, sampleHealth, samplePolicy } from "../samples.js";

export const FIXTURES = fileURLToPath(new URL("../fixtures/hid/", import.meta.url));

export function fixtureBytes(name: string): Uint8Array {
  return parseHexBytes(readFileSync(`${FIXTURES}${name}.hex`, "utf8"));
}

export function fixtureMap(name: string, mirrorPage?: number): TelephonyMap {
  const r = telephonyMapFromBytes(fixtureBytes(name), mirrorPage !== undefined ? { mirrorPage } : {});
  if (!r.ok) throw new Error(`${name}: ${r.message}`);
  return r.map;
}

export function desk(activity: Activity, call: Partial<Call> | null = null): DeskState {
  const c = sampleCall(1000, {
    number: "+390612345",
    language: "it",
    service: null,
    offeredAt: 1000,
    ...(call ?? {}),
  });
  const lines: Record<Activity, Line> = {
    idle: { kind: "idle", since: 0 },
    ringing: { kind: "ringing", since: 0, call: c },
    outbound: { kind: "outbound", since: 0, call: c },
    on_call: { kind: "on_call", since: 0, call: c, hold: { local: "off", remote: false } },
    on_hold: { kind: "on_call", since: 0, call: c, hold: { local: "held", remote: false } },
    wrap_up: { kind: "wrap_up", since: 0, until: 30_000 },
    not_responding: { kind: "not_responding", since: 0 },
  };
  return baseState(1000, {
    statusSince: 0,
    line: lines[activity],
    queues: null,
    health: { ...sampleHealth, lcd: null, mqtt: null },
    policy: {
      ...samplePolicy,
      pauseReasons: ["break"],
      autoPauseAfterMissed: 0,
      ringTimeoutSeconds: 0,
      sides: { sip: true, headset: true, lcd: false, mqtt: false },
    },
  });
}

/** Timers that run only when the test advances the clock. */
export class ManualClock implements HeadsetClock {
  t = 1_000_000;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private seq = 0;

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }

  get pending(): number {
    return this.timers.length;
  }

  /** Advances time, running due timers in order and letting their promises settle. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

/** Lets queued promise chains (the write queue, scans) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}
