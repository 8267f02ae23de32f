/** `cuffia devices` helpers: telephony headsets with capabilities and their ALSA card (fake sysfs). */
import { afterAll, describe, expect, it } from "vitest";
import { listHeadsets } from "../../src/headset/list-headsets.js";
import { NodeHidBackend, permissionMessage } from "../../src/headset/node-hid-backend.js";
import { alsaCardFor, readHidUevent } from "../../src/headset/sysfs.js";
import { FakeHidBackend } from "../fakes/fake-hid-device.js";
import { FakeSysfs } from "./fake-sysfs.js";
import { fixtureBytes } from "./helpers.js";

const sysfs = new FakeSysfs();
const jabra = sysfs.usbDevice("1-1.2", 0x0b0e, 0x0307, "Jabra EVOLVE LINK MS");
sysfs.hidraw(jabra, 3, 2, 0x0b0e, 0x0307, "GN Jabra EVOLVE LINK MS", fixtureBytes("jabra-evolve-link-ms"));
sysfs.soundCard(jabra, 1, "LINKMS");
const poly = sysfs.usbDevice("1-1.4", 0x047f, 0x02e6, "Poly BT700");
sysfs.hidraw(poly, 3, 6, 0x047f, 0x02e6, "Plantronics BT700", fixtureBytes("poly-bt700"));
sysfs.soundCard(null, 0, "Headphones"); // the Pi's own jack, not on USB
afterAll(() => sysfs.remove());

describe("sysfs helpers", () => {
  it("finds the ALSA card on the same USB device as the hidraw node", async () => {
    expect(await alsaCardFor("/dev/hidraw2", sysfs.root)).toEqual({
      card: 1,
      id: "LINKMS",
      name: "Jabra EVOLVE LINK MS",
    });
    expect(await alsaCardFor("/dev/hidraw6", sysfs.root)).toBeNull(); // no audio interface of its own
    expect(await alsaCardFor("/dev/hidraw9", sysfs.root)).toBeNull();
  });

  it("reads HID_ID and HID_NAME from uevent", async () => {
    expect(await readHidUevent("hidraw2", sysfs.root)).toEqual({
      vendorId: 0x0b0e,
      productId: 0x0307,
      name: "GN Jabra EVOLVE LINK MS",
    });
  });

  it("the node-hid backend reads the descriptor from sysfs without opening the device", async () => {
    const bytes = await new NodeHidBackend(sysfs.root).readDescriptor("/dev/hidraw6");
    expect(bytes).toEqual(fixtureBytes("poly-bt700"));
  });

  it("the EACCES explanation names the rule file and the group", () => {
    expect(permissionMessage("/dev/hidraw3")).toBe(
      "permission denied on /dev/hidraw3: install /etc/udev/rules.d/70-cuffia-headsets.rules (shipped in udev/), " +
        'run "udevadm control --reload && udevadm trigger", and add the cuffia user to the group plugdev',
    );
  });
});

describe("listHeadsets", () => {
  it("one entry per telephony interface, capabilities or the reason, and the ALSA card", async () => {
    const backend = new FakeHidBackend();
    const info = { manufacturer: "GN", serial: "S1", interface: 3 };
    backend.plug(
      "/dev/hidraw2",
      { ...info, vendorId: 0x0b0e, productId: 0x0307, product: "Jabra EVOLVE LINK MS" },
      fixtureBytes("jabra-evolve-link-ms"),
      [
        [0x0b, 0x05],
        [0xff00, 0x05],
        [0x0c, 0x01],
      ],
    );
    // Claims page 0x0B in enumeration but its descriptor has none: listed with the reason.
    backend.plug(
      "/dev/hidraw4",
      { ...info, vendorId: 0x046d, productId: 0x0a37, product: "H540" },
      fixtureBytes("logitech-h540"),
      [[0x0b, 0x05]],
    );
    backend.plug(
      "/dev/hidraw8",
      { ...info, vendorId: 0x046d, productId: 0x0ac4, product: "G535" },
      fixtureBytes("logitech-g535"),
      [[0x0c, 0x01]],
    );
    const list = await listHeadsets({ backend, sysfsRoot: sysfs.root });
    expect(list.map((d) => d.path)).toEqual(["/dev/hidraw2", "/dev/hidraw4"]);
    const [j, h] = list;
    expect(j).toMatchObject({
      vendorId: 0x0b0e,
      productId: 0x0307,
      serial: "S1",
      alsaCard: { card: 1, id: "LINKMS" },
    });
    expect(j && "capabilities" in j && j.capabilities.outputs.offHook).toMatchObject({ reportId: 2, bit: 0 });
    expect(h && "error" in h && h.error).toMatch(/^no HID telephony collection/);
    expect(h?.alsaCard).toBeNull();
  });
});
