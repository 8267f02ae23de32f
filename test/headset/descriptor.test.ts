/**
 * The parser on the real descriptors of test/fixtures/hid: every layout of the fixtures README
 * (report ids, bit offsets inside the payload, Abs/Rel flags, output report sizes).
 */
import { describe, expect, it } from "vitest";
import { capabilities } from "../../src/headset/capabilities.js";
import { DescriptorError, parseDescriptor, parseHexBytes } from "../../src/headset/descriptor.js";
import { type TelephonyMap, telephonyMapFromBytes } from "../../src/headset/telephony-map.js";
import { BUTTON_1, BUTTON_7, TEL } from "../../src/headset/usages.js";
import { fixtureBytes, fixtureMap } from "./helpers.js";

type Layout = Record<string, [reportId: number, bit: number, flags: "A" | "R"]>;

function inputsOf(map: TelephonyMap): Layout {
  const out: Layout = {};
  for (const [role, f] of map.inputs) out[role] = [f.reportId, f.bit, f.relative ? "R" : "A"];
  return out;
}

function outputsOf(map: TelephonyMap): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (const [role, f] of map.outputs) out[role] = [f.reportId, f.bit];
  return out;
}

const JABRA_OUT = {
  offHook: [2, 0],
  mute: [2, 1],
  ring: [2, 2],
  hold: [2, 3],
  microphone: [2, 4],
  ringer: [2, 5],
};

describe("descriptor parser on the fixtures (README tables)", () => {
  it("Jabra EVOLVE LINK MS: shared report 0x02 in and out (2 payload bytes)", () => {
    const map = fixtureMap("jabra-evolve-link-ms");
    expect(map.tlc).toBe(TEL.headset);
    expect(inputsOf(map)).toEqual({
      hookSwitch: [2, 0, "A"],
      lineBusy: [2, 1, "A"],
      phoneMute: [2, 2, "R"],
      flash: [2, 3, "R"],
      redial: [2, 4, "R"],
      speedDial: [2, 5, "R"],
      programmable: [2, 6, "A"],
      keypad: [2, 7, "A"],
    });
    // Id 0x07 declared on page 0x0B, then Usage Page (Button): Button 7 by both readings.
    expect(map.inputs.get("programmable")?.usage).toBe(BUTTON_7);
    expect(map.inputs.get("programmable")?.alt).toBeUndefined();
    expect(map.inputs.get("keypad")?.size).toBe(4);
    expect(outputsOf(map)).toEqual(JABRA_OUT);
    expect([...map.outputReports]).toEqual([[2, 2]]);
    expect(map.otherCollections).toEqual([0xff000005, 0x000c0001]);
  });

  it("Poly BT700: telephony is the last of 5 TLCs; one 1-byte report per LED", () => {
    const map = fixtureMap("poly-bt700");
    expect(inputsOf(map)).toEqual({
      hookSwitch: [0x20, 0, "A"],
      phoneMute: [0x20, 1, "R"],
      flash: [0x20, 2, "A"],
      redial: [0x20, 3, "R"],
      programmable: [0x20, 4, "R"],
    });
    // Spec reading Button 7, Linux reading Telephony 0x07 (reference §3.2): both recorded.
    expect(map.inputs.get("programmable")?.usage).toBe(BUTTON_7);
    expect(map.inputs.get("programmable")?.alt).toBe(TEL.programmableButton);
    expect(outputsOf(map)).toEqual({
      ring: [0x21, 0],
      speaker: [0x22, 0],
      mute: [0x23, 0],
      offHook: [0x24, 0],
      hold: [0x25, 0],
    });
    expect([...map.outputReports].sort((a, b) => a[0] - b[0])).toEqual([
      [0x21, 1],
      [0x22, 1],
      [0x23, 1],
      [0x24, 1],
      [0x25, 1],
    ]);
    expect(map.otherCollections).toHaveLength(4);
  });

  it("Plantronics Blackwire C5220: mute b0, hook b1; per-LED reports (Speaker is 0x1A)", () => {
    const map = fixtureMap("plantronics-blackwire-c5220");
    expect(inputsOf(map)).toEqual({
      phoneMute: [8, 0, "R"],
      hookSwitch: [8, 1, "A"],
      flash: [8, 2, "A"],
      redial: [8, 3, "R"],
      programmable: [8, 4, "A"],
    });
    expect(outputsOf(map)).toEqual({
      mute: [0x09, 0],
      offHook: [0x17, 0],
      ring: [0x18, 0],
      speaker: [0x1a, 0],
      hold: [0x20, 0],
      onLine: [0x2a, 0],
    });
    for (const bytes of map.outputReports.values()) expect(bytes).toBe(1);
  });

  it("Plantronics Blackwire 3220 (telephony TLC only): hook and flash from one main item", () => {
    const map = fixtureMap("plantronics-blackwire-3220-tlc-telephony");
    expect(inputsOf(map)).toEqual({ phoneMute: [8, 0, "R"], hookSwitch: [8, 1, "A"], flash: [8, 2, "A"] });
    expect(outputsOf(map)).toEqual({
      mute: [0x09, 0],
      offHook: [0x17, 0],
      ring: [0x18, 0],
      speaker: [0x1e, 0],
      hold: [0x20, 0],
      onLine: [0x2a, 0],
    });
    expect(map.otherCollections).toEqual([]);
  });

  it("EPOS IMPACT D1: hook Abs with preferred state; nested Application collection; shared report 0x03", () => {
    const map = fixtureMap("epos-impact-d1");
    expect(inputsOf(map)).toEqual({
      hookSwitch: [2, 0, "A"],
      flash: [2, 1, "R"],
      redial: [2, 2, "R"],
      phoneMute: [2, 3, "R"],
      drop: [2, 4, "R"],
      programmable: [2, 5, "A"],
    });
    expect(map.inputs.get("hookSwitch")?.preferred).toBe(true);
    const prog = map.inputs.get("programmable");
    expect(prog?.array?.usages).toEqual([BUTTON_7, BUTTON_1]);
    expect(prog?.array?.altUsages).toEqual([TEL.programmableButton, BUTTON_1]);
    expect(outputsOf(map)).toEqual({
      offHook: [3, 0],
      microphone: [3, 1],
      ring: [3, 2],
      mute: [3, 3],
      onLine: [3, 4],
      hold: [3, 5],
    });
    expect([...map.outputReports]).toEqual([[3, 1]]);
    // The nested Application collection does not start a TLC: 6 TLCs in all.
    expect(parseDescriptor(fixtureBytes("epos-impact-d1")).collections).toHaveLength(6);
  });

  it("EPOS D1's vendor mirror (0xFF13 hook in report 0x04) is not taken for the telephony hook", () => {
    const map = fixtureMap("epos-impact-d1");
    expect(map.inputs.get("hookSwitch")?.reportId).toBe(2);
    expect([...map.outputs.values()].every((f) => f.reportId === 3)).toBe(true);
  });

  it.each([
    ["jabra-biz-2400-ii", { hookSwitch: [2, 0, "A"], phoneMute: [2, 2, "R"] }, JABRA_OUT, [[2, 2]]],
    ["jabra-speak-810", { hookSwitch: [2, 0, "A"], phoneMute: [2, 2, "R"] }, JABRA_OUT, [[2, 2]]],
    ["yealink-wh66", { hookSwitch: [2, 0, "A"], phoneMute: [2, 2, "R"] }, JABRA_OUT, [[2, 2]]],
    [
      "poly-voyager-base-cd",
      { hookSwitch: [1, 0, "A"], phoneMute: [1, 1, "R"] },
      { ring: [1, 0], speaker: [2, 0], mute: [3, 0], offHook: [4, 0], hold: [5, 0] },
      [
        [1, 1],
        [2, 1],
        [3, 1],
        [4, 1],
        [5, 1],
      ],
    ],
    [
      "sennheiser-sc660-anc-usb",
      { hookSwitch: [8, 1, "A"], phoneMute: [8, 0, "R"] },
      { mute: [9, 0], offHook: [9, 1], ring: [9, 2], microphone: [9, 3], onLine: [9, 4], hold: [9, 5] },
      [[9, 1]],
    ],
    [
      "epos-impact-dw",
      { hookSwitch: [2, 2, "A"], phoneMute: [2, 5, "R"] },
      {
        ringer: [3, 0],
        offHook: [3, 1],
        microphone: [3, 2],
        ring: [3, 3],
        mute: [3, 4],
        onLine: [3, 5],
        hold: [3, 6],
      },
      [[3, 1]],
    ],
    [
      "epos-impact-d",
      { hookSwitch: [2, 2, "A"], phoneMute: [2, 5, "R"] },
      {
        ringer: [3, 0],
        offHook: [3, 1],
        microphone: [3, 2],
        ring: [3, 3],
        mute: [3, 4],
        onLine: [3, 5],
        hold: [3, 6],
      },
      [[3, 1]],
    ],
  ] as const)("%s: hook/mute and LED outputs as the README lists", (name, hm, outs, reports) => {
    const map = fixtureMap(name);
    const ins = inputsOf(map);
    expect({ hookSwitch: ins.hookSwitch, phoneMute: ins.phoneMute }).toEqual(hm);
    expect(outputsOf(map)).toEqual(outs);
    expect([...map.outputReports].sort((a, b) => a[0] - b[0])).toEqual(reports);
  });

  it.each([
    "logitech-h540",
    "logitech-g535",
    "plantronics-blackwire-3220-tlc-consumer",
    "plantronics-blackwire-3220-tlc-vendor-ffa0",
  ])("%s is declined with a clear message", (name) => {
    const r = telephonyMapFromBytes(fixtureBytes(name));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe("no_telephony");
    expect(r.message).toMatch(
      /^no HID telephony collection .*call buttons and call indicators are not available; audio still works/,
    );
  });

  it("Logitech H540's message names what was found instead", () => {
    const r = telephonyMapFromBytes(fixtureBytes("logitech-h540"));
    expect(r.ok === false && r.message).toContain("Consumer Control (0x000C:0x0001)");
  });

  it("capability JSON follows the contract (absent usages are absent keys)", () => {
    const caps = capabilities(fixtureMap("jabra-evolve-link-ms"));
    expect(caps.telephony).toBe(true);
    expect(caps.inputs.hookSwitch).toMatchObject({ reportId: 2, bit: 0, relative: false });
    expect(caps.inputs.phoneMute).toMatchObject({ reportId: 2, bit: 2, relative: true });
    expect(caps.inputs.button7).toMatchObject({ reportId: 2, bit: 6 });
    expect(caps.outputs.offHook).toMatchObject({ reportId: 2, bit: 0 });
    expect(caps.outputs.ringer).toMatchObject({ reportId: 2, bit: 5, usage: "0x000B:0x009E" });
    expect(caps.outputs.onLine).toBeUndefined();
    expect(caps.outputLayout).toBe("shared");
    expect(capabilities(fixtureMap("poly-bt700")).outputLayout).toBe("per-led");
    expect(capabilities(fixtureMap("epos-impact-d1")).inputs.programmableButton).toMatchObject({
      bit: 5,
      array: true,
    });
  });
});

describe("descriptor parser rules", () => {
  const tel = (...body: number[]) => Uint8Array.from([0x05, 0x0b, 0x09, 0x05, 0xa1, 0x01, ...body, 0xc0]);

  it("no Report ID items: id 0, and Phone (0x0B:0x01) is a telephony TLC too", () => {
    const bytes = Uint8Array.from([
      0x05, 0x0b, 0x09, 0x01, 0xa1, 0x01, 0x09, 0x20, 0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x01, 0x81,
      0x22, 0x95, 0x07, 0x81, 0x01, 0x05, 0x08, 0x09, 0x17, 0x95, 0x01, 0x91, 0x22, 0x95, 0x07, 0x91, 0x01,
      0xc0,
    ]);
    const r = telephonyMapFromBytes(bytes);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.map.tlc).toBe(TEL.phone);
    expect(r.map.usesReportIds).toBe(false);
    expect(r.map.inputs.get("hookSwitch")).toMatchObject({ reportId: 0, bit: 0 });
    expect([...r.map.outputReports]).toEqual([[0, 1]]);
  });

  it("Push/Pop restore the global table; long items are skipped; extended usages keep their page", () => {
    const bytes = tel(
      0x85,
      0x05,
      0x15,
      0x00,
      0x25,
      0x01,
      0x75,
      0x01,
      0x95,
      0x01,
      0xa4, // Push
      0x05,
      0x09,
      0x75,
      0x03,
      0x19,
      0x01,
      0x29,
      0x02,
      0x95,
      0x02,
      0x81,
      0x02, // 2 × 3-bit buttons, bits 0..5
      0xb4, // Pop: page 0x0B, size 1, count 1 again
      0xfe,
      0x02,
      0x10,
      0xaa,
      0xbb, // long item
      0x0b,
      0x2f,
      0x00,
      0x0b,
      0x00,
      0x81,
      0x06, // extended usage 0x000B002F, bit 6
      0x09,
      0x20,
      0x81,
      0x22, // Hook Switch bit 7
    );
    const r = telephonyMapFromBytes(bytes);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.map.inputs.get("programmable")).toMatchObject({ reportId: 5, bit: 0, size: 3, usage: BUTTON_1 });
    expect(r.map.inputs.get("phoneMute")).toMatchObject({ reportId: 5, bit: 6, size: 1, relative: true });
    expect(r.map.inputs.get("hookSwitch")).toMatchObject({ reportId: 5, bit: 7, relative: false });
  });

  it("Logical Min is signed by item size; Max unsigned when Min ≥ 0", () => {
    const p = parseDescriptor(
      tel(
        0x09,
        0x20,
        0x15,
        0xff,
        0x25,
        0x01,
        0x75,
        0x02,
        0x95,
        0x01,
        0x81,
        0x06,
        0x15,
        0x00,
        0x26,
        0xff,
        0x00,
        0x75,
        0x08,
        0x81,
        0x00,
      ),
    );
    expect(p.items[0]).toMatchObject({ logicalMin: -1, logicalMax: 1, relative: true });
    expect(p.items[1]).toMatchObject({ logicalMin: 0, logicalMax: 255, bit: 2 });
  });

  it("several telephony TLCs: the first is used, the rest noted", () => {
    const one = tel(0x85, 0x01, 0x09, 0x20, 0x75, 0x01, 0x95, 0x01, 0x81, 0x22);
    const two = tel(0x85, 0x02, 0x09, 0x20, 0x75, 0x01, 0x95, 0x01, 0x81, 0x22);
    const r = telephonyMapFromBytes(Uint8Array.from([...one, ...two]));
    expect(r.ok && r.map.inputs.get("hookSwitch")?.reportId).toBe(1);
    expect(r.ok && r.map.ignoredTelephonyCollections).toBe(1);
  });

  it.each([
    ["truncated item", [0x05, 0x0b, 0x09, 0x05, 0xa1, 0x01, 0x26, 0xff], /truncated item 0x26 at byte 6/],
    ["truncated long item", [0xfe, 0x05, 0x00, 0x01], /truncated long item at byte 0/],
    ["Pop without Push", [0x05, 0x0b, 0xb4], /Pop without Push/],
    ["End Collection without Collection", [0xc0], /End Collection without Collection/],
    ["Report ID 0", [0x85, 0x00], /invalid Report ID 0/],
    ["empty", [], /empty report descriptor/],
  ])("malformed (%s) gives a clear error, not a crash", (_name, bytes, message) => {
    expect(() => parseDescriptor(Uint8Array.from(bytes))).toThrow(DescriptorError);
    const r = telephonyMapFromBytes(Uint8Array.from(bytes));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toBe("bad_descriptor");
    expect(!r.ok && r.message).toMatch(message);
  });

  it("random garbage never throws out of telephonyMapFromBytes", () => {
    let seed = 42;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed & 0xff;
    };
    for (let n = 0; n < 300; n++) {
      const bytes = Uint8Array.from({ length: 1 + (rnd() % 64) }, rnd);
      expect(() => telephonyMapFromBytes(bytes)).not.toThrow();
    }
  });

  it("hex text: whitespace/commas and 0x prefixes; anything else is refused", () => {
    expect([...parseHexBytes("05 0b\n0x09,05")]).toEqual([5, 11, 9, 5]);
    expect(() => parseHexBytes("05 zz")).toThrow(/not a hex byte: "zz"/);
    expect(() => parseHexBytes("  ")).toThrow(/no hex bytes/);
  });
});
