/**
 * sysfs look-ups for hidraw nodes (reference/hid-telephony.md §7.2): the report descriptor and
 * the HID id are readable without access to /dev/hidrawN, so decline and permission messages can
 * name the model; and the ALSA card that shares the headset's USB device. The root is injectable
 * so tests run on a fake tree.
 */
import { readdir, readFile, realpath, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export const SYSFS_ROOT = "/sys";

export class SysfsError extends Error {
  readonly code = "sysfs";
}

/** `/dev/hidraw3` or `hidraw3` → `hidraw3`; null for anything else. */
export function hidrawName(pathOrName: string): string | null {
  const name = basename(pathOrName);
  return /^hidraw\d+$/.test(name) ? name : null;
}

export async function readReportDescriptor(hidraw: string, root: string = SYSFS_ROOT): Promise<Uint8Array> {
  const name = hidrawName(hidraw);
  if (!name) throw new SysfsError(`not a hidraw node: ${hidraw}`);
  const file = join(root, "class", "hidraw", name, "device", "report_descriptor");
  try {
    return new Uint8Array(await readFile(file));
  } catch (err) {
    throw new SysfsError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export interface HidUevent {
  readonly vendorId: number;
  readonly productId: number;
  readonly name: string | null;
}

/** `device/uevent` of a hidraw node: HID_ID=0003:00000B0E:00000307, HID_NAME=... */
export async function readHidUevent(hidraw: string, root: string = SYSFS_ROOT): Promise<HidUevent | null> {
  const name = hidrawName(hidraw);
  if (!name) return null;
  let text: string;
  try {
    text = await readFile(join(root, "class", "hidraw", name, "device", "uevent"), "utf8");
  } catch {
    return null;
  }
  const vars = new Map(
    text
      .split("\n")
      .map((l) => l.split("="))
      .filter((kv) => kv.length >= 2)
      .map(([k, ...v]) => [k!, v.join("=")] as const),
  );
  const id = /^[0-9A-Fa-f]+:([0-9A-Fa-f]+):([0-9A-Fa-f]+)$/.exec(vars.get("HID_ID") ?? "");
  if (!id) return null;
  return {
    vendorId: Number.parseInt(id[1]!, 16) & 0xffff,
    productId: Number.parseInt(id[2]!, 16) & 0xffff,
    name: vars.get("HID_NAME") ?? null,
  };
}

export interface AlsaCard {
  readonly card: number;
  readonly id: string;
  readonly name: string;
}

/**
 * The ALSA card on the same USB device as a hidraw node: hidraw → HID device → USB interface →
 * USB device, and sound/cardN/device → USB interface → the same USB device. A USB device's
 * sysfs directory is the nearest ancestor holding `idVendor`.
 */
export async function alsaCardFor(hidraw: string, root: string = SYSFS_ROOT): Promise<AlsaCard | null> {
  const name = hidrawName(hidraw);
  if (!name) return null;
  const usb = await usbDeviceOf(join(root, "class", "hidraw", name, "device"), root);
  if (!usb) return null;
  let cards: string[];
  try {
    cards = (await readdir(join(root, "class", "sound"))).filter((c) => /^card\d+$/.test(c));
  } catch {
    return null;
  }
  cards.sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)));
  for (const card of cards) {
    const cardUsb = await usbDeviceOf(join(root, "class", "sound", card, "device"), root);
    if (cardUsb !== usb) continue;
    const id = (await readText(join(root, "class", "sound", card, "id"))) ?? card;
    const product = await readText(join(usb, "product"));
    return { card: Number(card.slice(4)), id, name: product ?? id };
  }
  return null;
}

async function usbDeviceOf(link: string, root: string): Promise<string | null> {
  let dir: string;
  let top: string;
  try {
    dir = await realpath(link);
    top = await realpath(root);
  } catch {
    return null;
  }
  while (dir.startsWith(top) && dir !== top) {
    if (await exists(join(dir, "idVendor"))) return dir;
    dir = dirname(dir);
  }
  return null;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function readText(p: string): Promise<string | null> {
  try {
    return (await readFile(p, "utf8")).trim();
  } catch {
    return null;
  }
}
