import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadLcdModels } from "../../src/lcd/models.js";
import { generateLcdUdevRules } from "../../src/lcd/udev-rules.js";

describe("LCD udev rules", () => {
  const rules = generateLcdUdevRules(loadLcdModels("device/lcds"));

  it("the committed file is what device/lcds generates (npm run build && node dist/lcd/gen-udev-rules.js)", () => {
    expect(readFileSync("udev/71-cuffia-lcd.rules", "utf8")).toBe(rules);
  });

  it("keeps ModemManager away from every known display adapter and names no /dev/lcd by vendor alone", () => {
    const active = rules.split("\n").filter((l) => l && !l.startsWith("#"));
    expect(active.length).toBeGreaterThan(0);
    for (const l of active) {
      expect(l).toContain('ENV{ID_MM_DEVICE_IGNORE}="1"');
      expect(l).toContain('GROUP="dialout"');
      expect(l).not.toContain("SYMLINK");
    }
    expect(rules).toContain('ATTRS{idVendor}=="239a", ATTRS{idProduct}=="0001"');
    expect(rules).toMatch(/# SUBSYSTEM=="tty", KERNELS=="1-1\.4", SYMLINK\+="lcd"/);
  });
});
