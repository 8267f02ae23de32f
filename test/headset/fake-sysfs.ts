/**
 * A fake /sys tree in a temp dir, shaped like the real one: class/hidraw/hidrawN and
 * class/sound/cardN are symlinks into devices/, the HID device sits under a USB interface, under
 * the USB device (the one with idVendor).
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

export class FakeSysfs {
  readonly root = mkdtempSync(join(tmpdir(), "cuffia-sysfs-"));

  constructor() {
    mkdirSync(join(this.root, "class", "hidraw"), { recursive: true });
    mkdirSync(join(this.root, "class", "sound"), { recursive: true });
  }

  /** A USB device at bus path `port` (e.g. "1-1.2") with its product string. */
  usbDevice(port: string, vid: number, pid: number, product: string): string {
    const dir = join(this.root, "devices", "platform", "xhci", "usb1", port);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "idVendor"), `${h(vid)}\n`);
    writeFileSync(join(dir, "idProduct"), `${h(pid)}\n`);
    writeFileSync(join(dir, "product"), `${product}\n`);
    return dir;
  }

  hidraw(
    usbDir: string,
    iface: number,
    n: number,
    vid: number,
    pid: number,
    name: string,
    descriptor: Uint8Array,
  ): void {
    const port = usbDir.split("/").at(-1)!;
    const hidDev = join(
      usbDir,
      `${port}:1.${iface}`,
      `0003:${h(vid).toUpperCase()}:${h(pid).toUpperCase()}.000${n}`,
    );
    const node = join(hidDev, "hidraw", `hidraw${n}`);
    mkdirSync(node, { recursive: true });
    writeFileSync(join(hidDev, "report_descriptor"), descriptor);
    writeFileSync(
      join(hidDev, "uevent"),
      `DRIVER=hid-generic\nHID_ID=0003:0000${h(vid).toUpperCase()}:0000${h(pid).toUpperCase()}\nHID_NAME=${name}\n`,
    );
    symlinkSync(relative(node, hidDev), join(node, "device"));
    symlinkSync(
      relative(join(this.root, "class", "hidraw"), node),
      join(this.root, "class", "hidraw", `hidraw${n}`),
    );
  }

  soundCard(usbDir: string | null, n: number, id: string): void {
    const port = usbDir?.split("/").at(-1);
    const parent = usbDir
      ? join(usbDir, `${port}:1.0`)
      : join(this.root, "devices", "platform", "soc", "bcm2835_audio");
    const card = join(parent, "sound", `card${n}`);
    mkdirSync(card, { recursive: true });
    writeFileSync(join(card, "id"), `${id}\n`);
    writeFileSync(join(card, "number"), `${n}\n`);
    symlinkSync(relative(card, parent), join(card, "device"));
    symlinkSync(
      relative(join(this.root, "class", "sound"), card),
      join(this.root, "class", "sound", `card${n}`),
    );
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

function h(n: number): string {
  return n.toString(16).padStart(4, "0");
}
