/** `cuffia headset inspect` on the fixtures and on a fake sysfs: exit codes 0 / 3 / 2. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { headsetInspect } from "../../src/headset/inspect.js";
import { FakeSysfs } from "./fake-sysfs.js";
import { FIXTURES, fixtureBytes } from "./helpers.js";

const sysfs = new FakeSysfs();
const usb = sysfs.usbDevice("1-1.3", 0x046d, 0x0a37, "Logitech USB Headset H540");
sysfs.hidraw(usb, 3, 4, 0x046d, 0x0a37, "Logitech USB Headset H540", fixtureBytes("logitech-h540"));
const jabra = sysfs.usbDevice("1-1.2", 0x0b0e, 0x0307, "Jabra EVOLVE LINK MS");
sysfs.hidraw(jabra, 3, 2, 0x0b0e, 0x0307, "GN Jabra EVOLVE LINK MS", fixtureBytes("jabra-evolve-link-ms"));
afterAll(() => sysfs.remove());

describe("headsetInspect", () => {
  it("exit 0 and the capability JSON of the contract for a telephony descriptor", async () => {
    const r = await headsetInspect({ descriptor: `${FIXTURES}jabra-evolve-link-ms.hex` });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const json = JSON.parse(r.stdout);
    expect(json.telephony).toBe(true);
    expect(json.inputs.hookSwitch).toMatchObject({ reportId: 2, bit: 0, relative: false });
    expect(json.inputs.phoneMute).toMatchObject({ reportId: 2, bit: 2, relative: true });
    expect(json.inputs.lineBusy).toMatchObject({ reportId: 2, bit: 1 });
    expect(json.inputs.button7).toMatchObject({ reportId: 2, bit: 6 });
    expect(json.outputs).toMatchObject({
      offHook: { reportId: 2, bit: 0 },
      mute: { reportId: 2, bit: 1 },
      ring: { reportId: 2, bit: 2 },
      hold: { reportId: 2, bit: 3 },
      microphone: { reportId: 2, bit: 4 },
      ringer: { reportId: 2, bit: 5 },
    });
    expect(json.outputReports).toEqual([{ reportId: 2, bytes: 2 }]);
  });

  it("exit 3 with a clear message for the Logitech H540", async () => {
    const r = await headsetInspect({ descriptor: `${FIXTURES}logitech-h540.hex` });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/logitech-h540\.hex has no HID telephony collection .* audio still works/);
  });

  it("--hidraw reads sysfs and names the model when declining", async () => {
    const ok = await headsetInspect({ hidraw: "/dev/hidraw2" }, { sysfsRoot: sysfs.root });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).outputs.offHook).toMatchObject({ reportId: 2, bit: 0 });
    const no = await headsetInspect({ hidraw: "/dev/hidraw4" }, { sysfsRoot: sysfs.root });
    expect(no.code).toBe(3);
    expect(no.stderr).toMatch(
      /^Logitech USB Headset H540 \(046d:0a37\) at \/dev\/hidraw4 has no HID telephony collection/,
    );
  });

  it("exit 2 for unreadable input", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cuffia-inspect-"));
    writeFileSync(join(dir, "garbage.hex"), "05 0b zz");
    writeFileSync(join(dir, "truncated.hex"), "05 0b 09 05 a1 01 26 ff");
    const cases = [
      [{ descriptor: join(dir, "missing.hex") }, /cannot read .*missing\.hex: ENOENT/],
      [{ descriptor: join(dir, "garbage.hex") }, /not a hex descriptor dump \(not a hex byte: "zz"/],
      [
        { descriptor: join(dir, "truncated.hex") },
        /malformed report descriptor: truncated item 0x26 at byte 6/,
      ],
      [{ hidraw: "/dev/hidraw9" }, /cannot read .*hidraw9\/device\/report_descriptor: ENOENT/],
      [{ hidraw: "/dev/ttyUSB0" }, /not a hidraw node/],
      [{}, /exactly one of --descriptor FILE or --hidraw/],
    ] as const;
    for (const [args, message] of cases) {
      const r = await headsetInspect(args, { sysfsRoot: sysfs.root });
      expect(r.code, JSON.stringify(args)).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });
});
