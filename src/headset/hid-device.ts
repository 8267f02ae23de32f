/**
 * The thin device seam (STYLE.md, node-elgato-stream-deck's HIDDevice): the headset logic never
 * imports node-hid; it gets a HidBackend. `node-hid-backend.ts` implements it with node-hid's
 * hidraw backend, `test/fakes/fake-hid-device.ts` in memory.
 */

export interface HidDeviceInfo {
  /** `/dev/hidrawN` on Linux; may change after a replug. */
  readonly path: string;
  readonly vendorId: number;
  readonly productId: number;
  readonly product: string | null;
  readonly manufacturer: string | null;
  readonly serial: string | null;
  readonly interface: number;
  /** Usage page/usage of one top-level collection (hidapi lists one entry per collection). */
  readonly usagePage: number;
  readonly usage: number;
}

/** An open HID interface. Errors are classified by `code`, never by message text. */
export interface HidDevice {
  /** Writes one whole report `[reportId, ...payload]`. */
  write(report: Uint8Array): Promise<void>;
  /** One report, or null after `timeoutMs` (do not mix with onData). */
  read(timeoutMs?: number): Promise<Uint8Array | null>;
  close(): Promise<void>;
  /** Input reports as they arrive, `[reportId, ...payload]` when the device numbers its reports. */
  onData(listener: (report: Uint8Array) => void): void;
  /** Read errors: on hidraw an unplug shows up here (POLLHUP/POLLERR, §7.4). */
  onError(listener: (err: Error) => void): void;
}

export interface HidBackend {
  /** Every HID collection the system shows (one entry per top-level collection). */
  enumerate(): Promise<HidDeviceInfo[]>;
  open(path: string): Promise<HidDevice>;
  /** The whole interface's report descriptor (sysfs on Linux). */
  readDescriptor(path: string): Promise<Uint8Array>;
}

export type HeadsetErrorCode = "EACCES" | "ENOENT" | "hid_unavailable" | "open_failed" | "write_failed";

export class HeadsetError extends Error {
  constructor(
    readonly code: HeadsetErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "HeadsetError";
  }
}

export const TELEPHONY_PAGE = 0x0b;

/**
 * Telephony headsets among enumerated collections: entries on usage page 0x0B, one per path
 * (hidapi lists each collection of an interface with the same path, §7.3), in path order.
 */
export function telephonyDevices(all: readonly HidDeviceInfo[]): HidDeviceInfo[] {
  const byPath = new Map<string, HidDeviceInfo>();
  for (const d of all) if (d.usagePage === TELEPHONY_PAGE && !byPath.has(d.path)) byPath.set(d.path, d);
  return [...byPath.values()].sort((a, b) => comparePaths(a.path, b.path));
}

/** All interfaces, one entry per path, preferring the telephony entry's usage. */
export function uniqueInterfaces(all: readonly HidDeviceInfo[]): HidDeviceInfo[] {
  const byPath = new Map<string, HidDeviceInfo>();
  for (const d of all) {
    const known = byPath.get(d.path);
    if (!known || (known.usagePage !== TELEPHONY_PAGE && d.usagePage === TELEPHONY_PAGE))
      byPath.set(d.path, d);
  }
  return [...byPath.values()].sort((a, b) => comparePaths(a.path, b.path));
}

/** `/dev/hidraw10` after `/dev/hidraw9`. */
function comparePaths(a: string, b: string): number {
  const na = /(\d+)$/.exec(a);
  const nb = /(\d+)$/.exec(b);
  if (na && nb && a.slice(0, na.index) === b.slice(0, nb.index)) return Number(na[1]) - Number(nb[1]);
  return a < b ? -1 : a > b ? 1 : 0;
}
