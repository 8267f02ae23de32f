/** Quirk profiles (device/headsets/*.yaml) and the udev rules generated from them. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadProfiles, ProfileError, parseProfile, quirksFor } from "../../src/headset/profiles.js";
import { DEFAULT_QUIRKS } from "../../src/headset/quirks.js";
import { generateUdevRules, MAIN_VENDORS } from "../../src/headset/udev-rules.js";

const PROFILE_DIR = fileURLToPath(new URL("../../device/headsets/", import.meta.url));
const RULES = fileURLToPath(new URL("../../udev/70-cuffia-headsets.rules", import.meta.url));

describe("quirk profiles", () => {
  it("every shipped profile validates, one file per vendor", async () => {
    const profiles = await loadProfiles(PROFILE_DIR);
    expect(profiles.map((p) => p.vendor.id.toString(16).padStart(4, "0")).sort()).toEqual([
      "046d",
      "047f",
      "095d",
      "0b0e",
      "1395",
      "6993",
    ]);
  });

  it("quirks merge defaults ← vendor ← model; unknown devices get the generic driver", async () => {
    const profiles = await loadProfiles(PROFILE_DIR);
    expect(quirksFor(profiles, 0x1234, 0x0001)).toEqual(DEFAULT_QUIRKS);
    const jabra = quirksFor(profiles, 0x0b0e, 0x0307);
    expect(jabra.micLedIsMute).toBe(true);
    expect(jabra.rejectGesture).toBe("double-tap");
    expect(jabra.echoGuardMs).toBe(DEFAULT_QUIRKS.echoGuardMs);
    expect(quirksFor(profiles, 0x6993, 0xb02b).rejectVendorBit).toEqual({ reportId: 4, bit: 6 });
    expect(quirksFor(profiles, 0x046d, 0x0a46).hookMode).toBe("pulse");
    expect(quirksFor(profiles, 0x046d, 0x0a37).hookMode).toBe("from-descriptor");
  });

  it("a bad profile lists every problem with its key path", () => {
    const text = [
      'vendor: { id: "0B0E", name: Jabra }',
      "source: test",
      "quirks: { reject_gesture: wave, echo_guard_ms: -1, colour: red }",
    ].join("\n");
    let message = "";
    try {
      parseProfile(text, "bad.yaml");
    } catch (err) {
      expect(err).toBeInstanceOf(ProfileError);
      message = (err as Error).message;
    }
    expect(message).toContain("bad.yaml: vendor.id:");
    expect(message).toContain("bad.yaml: quirks.reject_gesture:");
    expect(message).toContain("bad.yaml: quirks.echo_guard_ms:");
    expect(message).toContain("bad.yaml: quirks:"); // unknown key colour
  });

  it("vendor-bit without the bit is refused", () => {
    expect(() =>
      parseProfile(
        'vendor: { id: "6993", name: Y }\nsource: t\nquirks: { reject_gesture: vendor-bit }',
        "y.yaml",
      ),
    ).toThrow(/vendor-bit needs reject_vendor_bit/);
  });
});

describe("udev rules", () => {
  it("the committed udev/70-cuffia-headsets.rules is what the generator makes from device/headsets", async () => {
    const profiles = await loadProfiles(PROFILE_DIR);
    const expected = generateUdevRules(profiles.map((p) => ({ id: p.vendor.id, name: p.vendor.name })));
    // Regenerate with: npm run build && node dist/src/headset/gen-udev-rules.js
    expect(readFileSync(RULES, "utf8")).toBe(expected);
  });

  it("covers the main vendors and any profile vendor, group plugdev and uaccess", () => {
    const rules = generateUdevRules([{ id: 0x3391, name: "CyberAcoustics" }]);
    for (const v of [...MAIN_VENDORS.map((m) => m.id), 0x3391]) {
      const vid = v.toString(16).padStart(4, "0");
      expect(rules).toContain(
        `SUBSYSTEM=="hidraw", ATTRS{idVendor}=="${vid}", GROUP="plugdev", MODE="0660", TAG+="uaccess"`,
      );
    }
    expect(rules.match(/ATTRS\{idVendor\}=="0b0e"/g)).toHaveLength(1);
  });
});
