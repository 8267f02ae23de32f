/** The HidHeadset side on the fake backend: open, project, buttons, unplug and replug. */
import { describe, expect, it } from "vitest";
import type { Emit } from "../../src/core/side.js";
import type { DeskInput } from "../../src/core/types.js";
import { HeadsetError } from "../../src/headset/hid-device.js";
import { HidHeadset } from "../../src/headset/hid-headset.js";
import type { HeadsetOptions } from "../../src/headset/options.js";
import type { Profile } from "../../src/headset/profiles.js";
import { memoryLogger } from "../../src/log/logger.js";
import { FakeHidBackend } from "../fakes/fake-hid-device.js";
import { desk, fixtureBytes, ManualClock, settle } from "./helpers.js";

const JABRA = {
  vendorId: 0x0b0e,
  productId: 0x0307,
  product: "Jabra EVOLVE LINK MS",
  manufacturer: "GN",
  serial: "A1",
  interface: 3,
};
const POLY = {
  vendorId: 0x047f,
  productId: 0x02e6,
  product: "Poly BT700",
  manufacturer: "Plantronics",
  serial: null,
  interface: 3,
};
const H540 = {
  vendorId: 0x046d,
  productId: 0x0a37,
  product: "Logitech USB Headset H540",
  manufacturer: "Logitech",
  serial: null,
  interface: 3,
};

function rig(options: Partial<HeadsetOptions> = {}, profiles: Profile[] = []) {
  const backend = new FakeHidBackend();
  const clock = new ManualClock();
  const { log, lines } = memoryLogger("debug");
  const inputs: DeskInput[] = [];
  const emit: Emit = (input) => {
    inputs.push(input);
    return { ok: true };
  };
  const side = new HidHeadset({
    options: { match: "auto", ringer: false, pollMs: 1000, ...options },
    log,
    devices: backend,
    clock,
    profiles,
  });
  const buttons = () => inputs.flatMap((i) => (i.type === "button" ? [i.button] : []));
  const presence = () => inputs.flatMap((i) => (i.type === "health" && "up" in i ? [i.up] : []));
  return { backend, clock, side, emit, inputs, lines, buttons, presence };
}

describe("HidHeadset (shared report: Jabra)", () => {
  it("opens the headset, pushes the full state, lights Ring for a ringing desk, emits hook_off", async () => {
    const r = rig();
    r.backend.plug("/dev/hidraw2", JABRA, fixtureBytes("jabra-evolve-link-ms"), [
      [0x0b, 0x05],
      [0xff00, 0x05],
      [0x0c, 0x01],
    ]);
    await r.side.start(r.emit);
    await settle();
    expect(r.presence()).toEqual([true]);
    expect(r.backend.opened).toHaveLength(1); // one handle for all collections of the interface
    const dev = r.backend.last!;
    expect(dev.writtenHex()).toEqual(["02 00 00"]); // complete known state on open
    r.side.project(desk("ringing"));
    await settle();
    expect(dev.writtenHex().at(-1)).toBe("02 04 00"); // Ring b2
    r.side.project(desk("ringing")); // same state: nothing written
    await settle();
    expect(dev.writes).toHaveLength(2);
    await r.clock.advance(2000);
    dev.send([0x02, 0x01, 0x00]); // boom lifted
    expect(r.buttons()).toEqual(["hook_off"]);
    r.side.project(desk("on_call"));
    await settle();
    expect(dev.writtenHex().at(-1)).toBe("02 01 00"); // answer: Off-Hook, Ring cleared, one write
    dev.send([0x02, 0x03, 0x00]); // the headset's acknowledgement
    expect(r.buttons()).toEqual(["hook_off"]);
    await r.side.stop();
    expect(dev.closed).toBe(true);
  });

  it("unplug mid-call emits present:false (the call is not touched); replug re-pushes every LED", async () => {
    const r = rig();
    r.backend.plug("/dev/hidraw2", JABRA, fixtureBytes("jabra-evolve-link-ms"));
    await r.side.start(r.emit);
    r.side.project(desk("on_call", { muted: true }));
    await settle();
    const first = r.backend.last!;
    expect(first.writtenHex().at(-1)).toBe("02 03 00");

    r.backend.unplug("/dev/hidraw2");
    await settle();
    expect(r.presence()).toEqual([true, false]);
    expect(r.buttons()).toEqual([]); // no hook_on: unplugging never hangs up
    expect(first.closed).toBe(true);
    r.side.project(desk("on_hold", { muted: true })); // state moves on while absent
    await settle();

    // Plugged back under a new hidraw number; seen on two polls before opening (debounce).
    r.backend.plug("/dev/hidraw5", JABRA, fixtureBytes("jabra-evolve-link-ms"));
    await r.clock.advance(1000);
    expect(r.backend.opened).toHaveLength(1);
    await r.clock.advance(1000);
    expect(r.backend.opened).toHaveLength(2);
    expect(r.presence()).toEqual([true, false, true]);
    const second = r.backend.last!;
    expect(second.path).toBe("/dev/hidraw5");
    expect(second.writtenHex()).toEqual(["02 0b 00"]); // Off-Hook + Mute + Hold, all at once
    second.send([0x02, 0x01, 0x00]); // baseline after open: not a second answer
    expect(r.buttons()).toEqual([]);
    await r.side.stop();
  });

  it("a write failure is an unplug too", async () => {
    const r = rig();
    r.backend.plug("/dev/hidraw2", JABRA, fixtureBytes("jabra-evolve-link-ms"));
    await r.side.start(r.emit);
    await settle();
    r.backend.last!.failWrites = true;
    r.side.project(desk("ringing"));
    await settle();
    expect(r.presence()).toEqual([true, false]);
    await r.side.stop();
  });

  it("headset_resync re-pushes the whole state", async () => {
    const r = rig();
    r.backend.plug("/dev/hidraw2", JABRA, fixtureBytes("jabra-evolve-link-ms"));
    await r.side.start(r.emit);
    r.side.project(desk("on_call"));
    await settle();
    const dev = r.backend.last!;
    const before = dev.writes.length;
    r.side.execute({ type: "headset_resync" });
    await settle();
    expect(dev.writtenHex().slice(before)).toEqual(["02 01 00"]);
    await r.side.stop();
  });

  it("the Jabra profile's double tap is timed by the injected clock", async () => {
    const profiles: Profile[] = [
      {
        vendor: { id: 0x0b0e, name: "Jabra" },
        source: "test",
        quirks: { reject_gesture: "double-tap", double_tap_ms: 500, mic_led_is_mute: true },
        models: [],
      },
    ];
    const r = rig({}, profiles);
    r.backend.plug("/dev/hidraw2", JABRA, fixtureBytes("jabra-evolve-link-ms"));
    await r.side.start(r.emit);
    await r.clock.advance(2000);
    r.side.project(desk("ringing"));
    const dev = r.backend.last!;
    dev.send([0x02, 0x01, 0x00]);
    expect(r.buttons()).toEqual([]);
    await r.clock.advance(600);
    expect(r.buttons()).toEqual(["hook_off"]);
    r.side.project(desk("on_call", { muted: true }));
    await settle();
    expect(dev.writtenHex().at(-1)).toBe("02 13 00"); // Microphone mirrors Mute on Jabra
    await r.side.stop();
  });
});

describe("HidHeadset (one report per LED: Poly BT700)", () => {
  it("ringing lights the Ring report; answering writes Off-Hook before clearing Ring", async () => {
    const r = rig({ match: { vendorId: 0x047f, productId: 0x02e6 } });
    r.backend.plug("/dev/hidraw7", POLY, fixtureBytes("poly-bt700"), [
      [0xffa0, 0x03],
      [0x0c, 0x01],
      [0x0b, 0x05],
    ]);
    await r.side.start(r.emit);
    await settle();
    const dev = r.backend.last!;
    expect(dev.writtenHex()).toEqual(["21 00", "22 00", "23 00", "24 00", "25 00"]);
    await r.clock.advance(1500);
    r.side.project(desk("ringing"));
    await settle();
    expect(dev.writtenHex().slice(5)).toEqual(["21 01"]);
    dev.send([0x20, 0x01]);
    expect(r.buttons()).toEqual(["hook_off"]);
    r.side.project(desk("on_call"));
    await settle();
    expect(dev.writtenHex().slice(6)).toEqual(["24 01", "21 00"]);
    dev.send([0x20, 0x03]);
    dev.send([0x20, 0x01]);
    expect(r.buttons()).toEqual(["hook_off", "mute"]);
    await r.side.stop();
  });
});

describe("HidHeadset without a usable headset", () => {
  it("no headset: present:false at start, keeps looking, nothing thrown", async () => {
    const r = rig();
    await r.side.start(r.emit);
    expect(r.presence()).toEqual([false]);
    await r.clock.advance(3000);
    expect(r.backend.enumerations).toBeGreaterThanOrEqual(3);
    await r.side.stop();
    expect(r.clock.pending).toBe(0);
  });

  it("a device without a telephony collection is declined once, by name", async () => {
    const r = rig({ match: { path: "/dev/hidraw1" } });
    r.backend.plug("/dev/hidraw1", H540, fixtureBytes("logitech-h540"), [[0x0c, 0x01]]);
    await r.side.start(r.emit);
    await r.clock.advance(5000);
    const declined = r.lines.filter((l) => String(l.msg).includes("has no HID telephony collection"));
    expect(declined).toHaveLength(1);
    expect(declined[0]?.msg).toMatch(
      /^Logitech USB Headset H540 \(046d:0a37\) has no HID telephony collection/,
    );
    expect(r.backend.opened).toHaveLength(0);
    expect(r.presence()).toEqual([false]);
    await r.side.stop();
  });

  it("EACCES is explained with the udev rule file and the group, and retried", async () => {
    const r = rig();
    r.backend.plug("/dev/hidraw2", JABRA, fixtureBytes("jabra-evolve-link-ms"));
    r.backend.openErrors.set(
      "/dev/hidraw2",
      new HeadsetError(
        "EACCES",
        "permission denied on /dev/hidraw2: install /etc/udev/rules.d/70-cuffia-headsets.rules ... group plugdev",
      ),
    );
    await r.side.start(r.emit);
    expect(r.presence()).toEqual([false]);
    const err = r.lines.find((l) => l.level === "error");
    expect(err?.code).toBe("EACCES");
    expect(String(err?.err)).toContain("70-cuffia-headsets.rules");
    r.backend.openErrors.delete("/dev/hidraw2"); // udev applied the group
    await r.clock.advance(2000);
    expect(r.presence()).toEqual([false, true]);
    await r.side.stop();
  });
});
