/**
 * Report sequences, shaped like the devices' own (reference/hid-telephony.md §4), driving the
 * decoder on the real layouts: shared report (Jabra, EPOS) and Poly's report per control.
 */
import { describe, expect, it } from "vitest";
import type { HeadsetButton } from "../../src/core/types.js";
import { type HeadsetEvent, InputDecoder } from "../../src/headset/decoder.js";
import { ALL_OFF, type Indicators } from "../../src/headset/indicators.js";
import { DEFAULT_QUIRKS, type Quirks } from "../../src/headset/quirks.js";
import { fixtureMap } from "./helpers.js";

const RINGING: Indicators = { ...ALL_OFF, ring: true };
const ON_CALL: Indicators = { ...ALL_OFF, offHook: true };
const MUTED: Indicators = { ...ON_CALL, mute: true };
const HELD: Indicators = { ...ON_CALL, hold: true };

/** A decoder opened at t=0 whose baseline window has passed, plus a helper to feed reports. */
function rig(name: string, quirks: Partial<Quirks> = {}, mirrorPage?: number) {
  const d = new InputDecoder(fixtureMap(name, mirrorPage), { ...DEFAULT_QUIRKS, ...quirks });
  let now = 0;
  d.opened(now, ALL_OFF);
  const buttons = (events: HeadsetEvent[]): HeadsetButton[] =>
    events.flatMap((e) => (e.kind === "button" ? [e.button] : []));
  return {
    d,
    at(t: number) {
      now = t;
    },
    feed(t: number, ...bytes: number[]): HeadsetButton[] {
      now = t;
      return buttons(d.decode(Uint8Array.from(bytes), t).events);
    },
    host(t: number, ind: Indicators) {
      now = t;
      d.commanded(ind, t);
    },
    tick(t: number): HeadsetButton[] {
      return buttons(d.tick(t));
    },
    get now() {
      return now;
    },
  };
}

describe("Jabra EVOLVE LINK MS (shared report 0x02: hook b0 Abs, busy b1, mute b2 Rel, flash b3)", () => {
  it("answer, mute on and off with the host's echo, hold, resume, hang up", () => {
    const r = rig("jabra-evolve-link-ms");
    expect(r.feed(100, 0x02, 0x00, 0x00)).toEqual([]); // first report: baseline
    r.host(2000, RINGING);
    expect(r.feed(3000, 0x02, 0x01, 0x00)).toEqual(["hook_off"]); // boom lifted
    r.host(3010, ON_CALL); // host confirms with Off-Hook
    expect(r.feed(3030, 0x02, 0x03, 0x00)).toEqual([]); // device echoes hook + Line Busy
    expect(r.feed(5000, 0x02, 0x07, 0x00)).toEqual(["mute"]); // mute pulse: the 1
    expect(r.feed(5080, 0x02, 0x03, 0x00)).toEqual([]); // the 0 is ignored
    expect(r.feed(5090, 0x02, 0x07, 0x00)).toEqual([]); // the same press reported twice
    expect(r.feed(5095, 0x02, 0x03, 0x00)).toEqual([]);
    r.host(5100, MUTED);
    expect(r.feed(7000, 0x02, 0x07, 0x00)).toEqual(["mute"]); // unmute
    expect(r.feed(7050, 0x02, 0x03, 0x00)).toEqual([]);
    r.host(7060, ON_CALL);
    expect(r.feed(8000, 0x02, 0x0b, 0x00)).toEqual(["flash"]); // hold
    expect(r.feed(8050, 0x02, 0x03, 0x00)).toEqual([]);
    r.host(8060, HELD);
    expect(r.feed(9000, 0x02, 0x0b, 0x00)).toEqual(["flash"]); // resume
    expect(r.feed(9050, 0x02, 0x03, 0x00)).toEqual([]);
    r.host(9060, ON_CALL);
    expect(r.feed(12000, 0x02, 0x00, 0x00)).toEqual(["hook_on"]); // hang up
    r.host(12010, ALL_OFF);
    expect(r.feed(12040, 0x02, 0x00, 0x00)).toEqual([]); // duplicate level
  });

  it("the device's report of our own Off-Hook write is an acknowledgement, not the user", () => {
    const r = rig("jabra-evolve-link-ms");
    r.feed(100, 0x02, 0x00, 0x00);
    r.host(2000, RINGING);
    r.host(3000, ON_CALL); // answered from the CLI
    expect(r.feed(3100, 0x02, 0x03, 0x00)).toEqual([]); // headset follows: not a hook_off
    r.host(9000, ALL_OFF); // far end hung up
    expect(r.feed(9100, 0x02, 0x00, 0x00)).toEqual([]); // headset follows: not a hook_on
    expect(r.feed(11000, 0x02, 0x01, 0x00)).toEqual(["hook_off"]); // the user lifts again
  });

  it("one stale contrary level right after the host's change does not hang up (radio lag)", () => {
    const r = rig("jabra-evolve-link-ms");
    r.feed(100, 0x02, 0x00, 0x00);
    r.host(2000, RINGING);
    expect(r.feed(3000, 0x02, 0x01, 0x00)).toEqual(["hook_off"]);
    r.host(3010, ON_CALL);
    expect(r.feed(3060, 0x02, 0x00, 0x00)).toEqual([]); // stale report inside the echo guard
    expect(r.feed(3200, 0x02, 0x01, 0x00)).toEqual([]);
    expect(r.feed(6000, 0x02, 0x00, 0x00)).toEqual(["hook_on"]);
  });

  it("after the baseline window, the first report is compared with the state pushed on open", () => {
    const r = rig("jabra-evolve-link-ms");
    r.d.opened(0, ON_CALL); // replugged during a call
    expect(r.feed(5000, 0x02, 0x01, 0x00)).toEqual([]);
    expect(r.feed(6000, 0x02, 0x00, 0x00)).toEqual(["hook_on"]);
    r.d.opened(10000, ALL_OFF);
    r.host(11000, RINGING);
    expect(r.feed(12000, 0x02, 0x01, 0x00)).toEqual(["hook_off"]); // first report ever, after the window
  });

  it("a replug during a call takes the first report as the baseline (no second answer)", () => {
    const r = rig("jabra-evolve-link-ms");
    r.feed(100, 0x02, 0x00, 0x00);
    r.host(2000, RINGING);
    expect(r.feed(3000, 0x02, 0x01, 0x00)).toEqual(["hook_off"]);
    r.host(3010, ON_CALL);
    r.d.opened(20000, ON_CALL); // unplugged and plugged back
    expect(r.feed(20100, 0x02, 0x01, 0x00)).toEqual([]);
    expect(r.feed(25000, 0x02, 0x00, 0x00)).toEqual(["hook_on"]);
  });

  it("the programmable key (Button 7) rejects while ringing, is 'programmable' otherwise", () => {
    const r = rig("jabra-evolve-link-ms");
    r.feed(100, 0x02, 0x00, 0x00);
    r.host(2000, RINGING);
    expect(r.feed(3000, 0x02, 0x40, 0x00)).toEqual(["reject"]);
    expect(r.feed(3100, 0x02, 0x00, 0x00)).toEqual([]);
    r.host(3110, ALL_OFF);
    expect(r.feed(5000, 0x02, 0x40, 0x00)).toEqual(["programmable"]);
  });

  it("double tap rejects, a single tap answers once the window has passed (Jabra profile)", () => {
    const r = rig("jabra-evolve-link-ms", { rejectGesture: "double-tap", doubleTapMs: 500 });
    r.feed(100, 0x02, 0x00, 0x00);
    r.host(2000, RINGING);
    expect(r.feed(3000, 0x02, 0x01, 0x00)).toEqual([]);
    expect(r.d.nextDeadline()).toBe(3500);
    expect(r.feed(3250, 0x02, 0x00, 0x00)).toEqual(["reject"]);
    expect(r.d.nextDeadline()).toBeNull();
    r.host(3260, ALL_OFF);
    r.host(6000, RINGING);
    expect(r.feed(7000, 0x02, 0x01, 0x00)).toEqual([]);
    expect(r.tick(7499)).toEqual([]);
    expect(r.tick(7500)).toEqual(["hook_off"]);
    r.host(7510, ON_CALL);
    expect(r.feed(9000, 0x02, 0x00, 0x00)).toEqual(["hook_on"]); // not delayed outside ringing
  });

  it("a 2-byte report (ID + one byte) is decoded as far as it goes", () => {
    const r = rig("jabra-evolve-link-ms");
    r.feed(100, 0x02, 0x00);
    r.host(2000, RINGING);
    expect(r.feed(3000, 0x02, 0x01)).toEqual(["hook_off"]);
  });

  it("garbage and foreign reports give notes, never a crash", () => {
    const r = rig("jabra-evolve-link-ms");
    expect(r.d.decode(new Uint8Array(0), 10).notes).toEqual(["empty report"]);
    expect(r.d.decode(Uint8Array.from([0x02]), 20).events).toEqual([]);
    expect(r.d.decode(Uint8Array.from([0x05, ...new Array(32).fill(0xff)]), 30)).toEqual({
      events: [],
      notes: ["report 0x5 carries no call control"],
    });
    expect(r.d.decode(Uint8Array.from([0x99, 0xff, 0xff, 0xff]), 40).events).toEqual([]);
  });

  it("GN vendor mirror report 0x04 is decoded when the profile names page 0xFF30", () => {
    const r = rig("jabra-evolve-link-ms", {}, 0xff30);
    r.feed(100, 0x04, 0x00, 0x00);
    r.host(2000, RINGING);
    expect(r.feed(3000, 0x04, 0x01, 0x00)).toEqual(["hook_off"]);
    expect(r.feed(3005, 0x02, 0x01, 0x00)).toEqual([]); // the same change on the standard report
    r.host(3010, ON_CALL);
    expect(r.feed(5000, 0x04, 0x05, 0x00)).toEqual(["mute"]);
    expect(r.feed(5010, 0x02, 0x05, 0x00)).toEqual([]); // duplicate of the same press
  });
});

describe("Poly BT700 (report 0x20: hook b0 Abs, mute b1 Rel, flash b2 Abs, redial b3, key b4)", () => {
  it("answer, mute, absolute flash on its rising edge, redial, hang up", () => {
    const r = rig("poly-bt700");
    expect(r.feed(200, 0x20, 0x00)).toEqual([]);
    r.host(2000, RINGING);
    expect(r.feed(3000, 0x20, 0x01)).toEqual(["hook_off"]);
    r.host(3010, ON_CALL);
    expect(r.feed(4000, 0x20, 0x03)).toEqual(["mute"]);
    expect(r.feed(4030, 0x20, 0x01)).toEqual([]);
    expect(r.feed(4060, 0x20, 0x03)).toEqual([]); // Plantronics duplicate within ~50 ms
    expect(r.feed(4090, 0x20, 0x01)).toEqual([]);
    r.host(4100, MUTED);
    expect(r.feed(5000, 0x20, 0x05)).toEqual(["flash"]); // Flash is Absolute here: edge only
    expect(r.feed(5400, 0x20, 0x05)).toEqual([]); // still held
    expect(r.feed(5500, 0x20, 0x01)).toEqual([]);
    r.host(5510, { ...HELD, mute: true });
    expect(r.feed(6000, 0x20, 0x09)).toEqual(["redial"]);
    expect(r.feed(6100, 0x20, 0x01)).toEqual([]);
    expect(r.feed(8000, 0x20, 0x00)).toEqual(["hook_on"]);
  });

  it("the programmable key (Tel 0x07 / Button 1) rejects while ringing", () => {
    const r = rig("poly-bt700");
    r.feed(200, 0x20, 0x00);
    r.host(2000, RINGING);
    expect(r.feed(3000, 0x20, 0x10)).toEqual(["reject"]);
  });
});

describe("EPOS IMPACT D1 (report 2: hook b0, flash b1, redial b2, mute b3, Drop b4, key array b5)", () => {
  it("Drop rejects while ringing and hangs up on a call", () => {
    const r = rig("epos-impact-d1");
    r.feed(100, 0x02, 0x00);
    r.host(2000, RINGING);
    expect(r.feed(3000, 0x02, 0x10)).toEqual(["reject"]);
    expect(r.feed(3100, 0x02, 0x00)).toEqual([]);
    r.host(3110, ALL_OFF);
    r.host(5000, RINGING);
    expect(r.feed(6000, 0x02, 0x01)).toEqual(["hook_off"]);
    r.host(6010, ON_CALL);
    expect(r.feed(7000, 0x02, 0x09)).toEqual(["mute"]);
    expect(r.feed(7100, 0x02, 0x01)).toEqual([]);
    expect(r.feed(9000, 0x02, 0x11)).toEqual(["hook_on"]); // Drop on a call
  });

  it("the 1-bit array key: index 1 (Button 1) is a press, index 0 is nothing", () => {
    const r = rig("epos-impact-d1");
    r.feed(100, 0x02, 0x00);
    r.host(2000, RINGING);
    expect(r.feed(3000, 0x02, 0x20)).toEqual(["reject"]);
    expect(r.feed(3100, 0x02, 0x00)).toEqual([]);
  });
});

describe("relative hook and timed gestures", () => {
  it("pulse hook: each press toggles; pulses inside the echo guard are acknowledgements", () => {
    const r = rig("jabra-evolve-link-ms", { hookMode: "pulse" });
    expect(r.feed(2000, 0x02, 0x01, 0x00)).toEqual(["hook_off"]);
    expect(r.feed(2100, 0x02, 0x00, 0x00)).toEqual([]); // release: skipped
    r.host(2110, ON_CALL);
    expect(r.feed(2300, 0x02, 0x01, 0x00)).toEqual([]); // echo of our Off-Hook write
    expect(r.feed(2350, 0x02, 0x00, 0x00)).toEqual([]);
    expect(r.feed(5000, 0x02, 0x01, 0x00)).toEqual(["hook_on"]);
  });

  it("long press while ringing rejects at the threshold; a short press answers on release", () => {
    const r = rig("jabra-evolve-link-ms", {
      hookMode: "pulse",
      rejectGesture: "long-press",
      longPressMs: 1000,
    });
    r.host(1000, RINGING);
    expect(r.feed(3000, 0x02, 0x01, 0x00)).toEqual([]);
    expect(r.tick(3999)).toEqual([]);
    expect(r.tick(4000)).toEqual(["reject"]);
    expect(r.feed(4500, 0x02, 0x00, 0x00)).toEqual([]);
    r.host(4510, ALL_OFF);
    r.host(6000, RINGING);
    expect(r.feed(7000, 0x02, 0x01, 0x00)).toEqual([]);
    expect(r.feed(7200, 0x02, 0x00, 0x00)).toEqual(["hook_off"]);
  });

  it("Yealink's vendor bit (0x40 of report 0x04) rejects while ringing", () => {
    const r = rig("yealink-wh66", { rejectGesture: "vendor-bit", rejectVendorBit: { reportId: 4, bit: 6 } });
    expect(r.feed(2000, 0x04, 0x40, 0x00)).toEqual([]); // not ringing
    expect(r.feed(2100, 0x04, 0x00, 0x00)).toEqual([]);
    r.host(3000, RINGING);
    expect(r.feed(4000, 0x04, 0x40, 0x00)).toEqual(["reject"]);
  });

  it("Line (Yealink mirror 0xFF30:0x2A) reports the dongle's link", () => {
    const r = rig("yealink-wh66", {}, 0xff30);
    const links = (bytes: number[]) =>
      r.d.decode(Uint8Array.from(bytes), 5000).events.flatMap((e) => (e.kind === "link" ? [e.up] : []));
    expect(links([0x04, 0x00, 0x08])).toEqual([]); // up at first: normal
    expect(links([0x04, 0x00, 0x00])).toEqual([false]);
    expect(links([0x04, 0x00, 0x08])).toEqual([true]);
  });
});
