/** Indicator projection and output bytes, per layout (shared report vs one report per LED). */
import { describe, expect, it } from "vitest";
import { IndicatorEncoder } from "../../src/headset/encoder.js";
import { ALL_OFF, indicators } from "../../src/headset/indicators.js";
import { desk, fixtureMap, hex } from "./helpers.js";

describe("indicators(state)", () => {
  it.each([
    ["idle", desk("idle"), {}],
    ["ringing", desk("ringing"), { ring: true }],
    ["on call", desk("on_call", { answeredAt: 2 }), { offHook: true }],
    ["muted", desk("on_call", { muted: true }), { offHook: true, mute: true }],
    ["held (Off-Hook kept)", desk("on_hold"), { offHook: true, hold: true }],
    ["held and muted", desk("on_hold", { muted: true }), { offHook: true, hold: true, mute: true }],
    ["outbound", desk("outbound", { direction: "outbound" }), { offHook: true }],
    ["wrap-up", desk("wrap_up"), {}],
    ["not responding", desk("not_responding"), {}],
  ])("%s", (_name, state, on) => {
    expect(indicators(state)).toEqual({ ...ALL_OFF, ...on });
  });

  it("Ringer only when configured; Microphone mirrors mute only where the profile says", () => {
    expect(indicators(desk("ringing"), { ringer: true })).toEqual({ ...ALL_OFF, ring: true, ringer: true });
    expect(indicators(desk("on_call", { muted: true }), { micLedIsMute: true })).toEqual({
      ...ALL_OFF,
      offHook: true,
      mute: true,
      microphone: true,
    });
    expect(indicators(desk("on_call"), { onLineLed: true })).toEqual({
      ...ALL_OFF,
      offHook: true,
      onLine: true,
    });
  });

  it("never shows mute while on-hook (headsets ignore it there)", () => {
    expect(indicators(desk("ringing", { muted: true })).mute).toBe(false);
  });
});

describe("IndicatorEncoder, shared report (Jabra report 0x02, 2 payload bytes)", () => {
  const opts = { ringer: true, micLedIsMute: true };

  it("writes whole reports, only when they change, full state after reset", () => {
    const enc = new IndicatorEncoder(fixtureMap("jabra-evolve-link-ms"));
    expect(enc.encode(ALL_OFF).map(hex)).toEqual(["02 00 00"]); // open: full state
    expect(enc.encode(ALL_OFF)).toEqual([]);
    expect(enc.encode(indicators(desk("ringing"), opts)).map(hex)).toEqual(["02 24 00"]); // Ring b2 + Ringer b5
    // Answer in one write: Off-Hook set, Ring and Ringer cleared.
    expect(enc.encode(indicators(desk("on_call"), opts)).map(hex)).toEqual(["02 01 00"]);
    // Mute keeps Off-Hook in the same report (writing Mute alone would drop the call).
    expect(enc.encode(indicators(desk("on_call", { muted: true }), opts)).map(hex)).toEqual(["02 13 00"]);
    expect(enc.encode(indicators(desk("on_hold", { muted: true }), opts)).map(hex)).toEqual(["02 1b 00"]);
    expect(enc.encode(indicators(desk("idle"), opts)).map(hex)).toEqual(["02 00 00"]);
    enc.reset();
    expect(enc.encode(ALL_OFF).map(hex)).toEqual(["02 00 00"]);
  });

  it("EPOS IMPACT D1: report 0x03, Off-Hook b0, Microphone b1, Ring b2, Mute b3, Hold b5", () => {
    const enc = new IndicatorEncoder(fixtureMap("epos-impact-d1"));
    expect(enc.encode(indicators(desk("ringing"))).map(hex)).toEqual(["03 04"]);
    expect(enc.encode(indicators(desk("on_call", { muted: true }))).map(hex)).toEqual(["03 09"]);
    expect(enc.encode(indicators(desk("on_hold"))).map(hex)).toEqual(["03 21"]);
  });
});

describe("IndicatorEncoder, one report per LED (Poly BT700: Ring 0x21, Speaker 0x22, Mute 0x23, Off-Hook 0x24, Hold 0x25)", () => {
  it("full state on open, then only the changed LEDs; Off-Hook before clearing Ring", () => {
    const enc = new IndicatorEncoder(fixtureMap("poly-bt700"));
    expect(enc.encode(ALL_OFF).map(hex)).toEqual(["21 00", "22 00", "23 00", "24 00", "25 00"]);
    expect(enc.encode(indicators(desk("ringing"))).map(hex)).toEqual(["21 01"]);
    expect(enc.encode(indicators(desk("on_call"))).map(hex)).toEqual(["24 01", "21 00"]);
    expect(enc.encode(indicators(desk("on_call", { muted: true }))).map(hex)).toEqual(["23 01"]);
    expect(enc.encode(indicators(desk("on_hold", { muted: true }))).map(hex)).toEqual(["25 01"]);
    expect(enc.encode(indicators(desk("wrap_up"))).map(hex)).toEqual(["23 00", "24 00", "25 00"]);
  });

  it("Blackwire C5220 (Mute 0x09, Off-Hook 0x17, Ring 0x18, Speaker 0x1A, Hold 0x20, On-Line 0x2A)", () => {
    const enc = new IndicatorEncoder(fixtureMap("plantronics-blackwire-c5220"));
    expect(enc.encode(ALL_OFF).map(hex)).toEqual(["09 00", "17 00", "18 00", "1a 00", "20 00", "2a 00"]);
    expect(enc.encode(indicators(desk("ringing"), { ringer: true })).map(hex)).toEqual(["18 01"]); // no Ringer usage
    expect(enc.encode(indicators(desk("on_call"), { onLineLed: true })).map(hex)).toEqual([
      "17 01",
      "18 00",
      "2a 01",
    ]);
  });
});
