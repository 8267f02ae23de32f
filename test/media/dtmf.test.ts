import { describe, expect, it } from "vitest";
import {
  digitToEvent,
  encodeTelephoneEvent,
  parseTelephoneEvent,
  planTelephoneEvent,
  TelephoneEventReceiver,
} from "../../src/media/dtmf.js";

describe("RFC 4733 telephone-events", () => {
  it("maps digits to events (§3.2 table 7)", () => {
    expect(["0", "9", "*", "#", "A", "d"].map(digitToEvent)).toEqual([0, 9, 10, 11, 12, 15]);
    expect(digitToEvent("x")).toBeNull();
  });

  it("encodes and parses the payload (§2.3)", () => {
    const b = encodeTelephoneEvent({ event: 11, end: true, volume: 10, duration: 800 });
    expect(Array.from(b)).toEqual([11, 0x8a, 0x03, 0x20]);
    expect(parseTelephoneEvent(b)).toEqual({ event: 11, end: true, volume: 10, duration: 800 });
    expect(parseTelephoneEvent(Uint8Array.from([1, 2]))).toBeNull();
  });

  it("plans start (marker), updates, and three end packets with the final duration (§2.5.1)", () => {
    const plan = planTelephoneEvent(5, { durationMs: 100, intervalMs: 20, clockRate: 8000 });
    expect(plan.map((p) => p.marker)).toEqual([true, false, false, false, false, false, false, false]);
    expect(plan.map((p) => p.payload.duration)).toEqual([160, 320, 480, 640, 800, 800, 800, 800]);
    expect(plan.filter((p) => p.payload.end)).toHaveLength(3);
    expect(plan.map((p) => p.atMs)).toEqual([0, 20, 40, 60, 80, 100, 120, 140]);
  });

  it("round-trips: the receiver reports each digit once, despite the repeated end packets", () => {
    const digits: string[] = [];
    const rx = new TelephoneEventReceiver((d) => digits.push(d));
    let ts = 1000;
    for (const d of "1#9") {
      const ev = digitToEvent(d) ?? 0;
      for (const p of planTelephoneEvent(ev, { durationMs: 100, intervalMs: 20, clockRate: 8000 })) {
        rx.receive(ts, encodeTelephoneEvent(p.payload));
      }
      ts += 2000;
    }
    expect(digits).toEqual(["1", "#", "9"]);
  });

  it("reports an event whose end packets were all lost when the next one starts (§2.5.2.2)", () => {
    const digits: string[] = [];
    const rx = new TelephoneEventReceiver((d) => digits.push(d));
    rx.receive(100, encodeTelephoneEvent({ event: 3, end: false, volume: 10, duration: 160 }));
    rx.receive(900, encodeTelephoneEvent({ event: 4, end: false, volume: 10, duration: 160 }));
    rx.receive(900, encodeTelephoneEvent({ event: 4, end: true, volume: 10, duration: 800 }));
    expect(digits).toEqual(["3", "4"]);
  });
});
