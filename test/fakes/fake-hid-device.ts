/**
 * In-memory HidBackend/HidDevice for the headset side's tests: plug and unplug devices, feed
 * input reports, and read back every output report written.
 */
import {
  HeadsetError,
  type HidBackend,
  type HidDevice,
  type HidDeviceInfo,
} from "../../src/headset/hid-device.js";

export class FakeHidDevice implements HidDevice {
  readonly writes: Uint8Array[] = [];
  closed = false;
  /** Set to make the next writes fail (a device gone between two writes). */
  failWrites = false;
  private readonly dataListeners: Array<(r: Uint8Array) => void> = [];
  private readonly errorListeners: Array<(e: Error) => void> = [];
  private readonly queue: Uint8Array[] = [];

  constructor(readonly path: string) {}

  async write(report: Uint8Array): Promise<void> {
    if (this.closed) throw new HeadsetError("write_failed", "device closed");
    if (this.failWrites) throw new HeadsetError("write_failed", "could not write to HID device");
    this.writes.push(Uint8Array.from(report));
  }

  async read(): Promise<Uint8Array | null> {
    return this.queue.shift() ?? null;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  onData(listener: (r: Uint8Array) => void): void {
    this.dataListeners.push(listener);
  }

  onError(listener: (e: Error) => void): void {
    this.errorListeners.push(listener);
  }

  /** The device sends an input report (`[reportId, ...payload]`). */
  send(bytes: readonly number[]): void {
    const r = Uint8Array.from(bytes);
    if (this.dataListeners.length === 0) this.queue.push(r);
    for (const l of this.dataListeners) l(r);
  }

  /** What hidapi reports when the node goes away under an open handle. */
  fail(message = "could not read from HID device"): void {
    for (const l of this.errorListeners) l(new Error(message));
  }

  /** Written reports as hex strings, e.g. "02 05 00". */
  writtenHex(): string[] {
    return this.writes.map((w) => Array.from(w, (b) => b.toString(16).padStart(2, "0")).join(" "));
  }
}

export interface FakePlug {
  /** One entry per top-level collection, as hidapi lists them (same path). */
  readonly collections: readonly HidDeviceInfo[];
  readonly descriptor: Uint8Array;
}

export class FakeHidBackend implements HidBackend {
  readonly plugged = new Map<string, FakePlug>();
  /** Every device opened, last one last. */
  readonly opened: FakeHidDevice[] = [];
  /** Paths whose open fails with this error (e.g. EACCES before udev applied the group). */
  readonly openErrors = new Map<string, Error>();
  enumerations = 0;

  plug(
    path: string,
    info: Omit<HidDeviceInfo, "path" | "usagePage" | "usage">,
    descriptor: Uint8Array,
    pages: ReadonlyArray<readonly [number, number]> = [[0x0b, 0x05]],
  ): void {
    this.plugged.set(path, {
      collections: pages.map(([usagePage, usage]) => ({ ...info, path, usagePage, usage })),
      descriptor,
    });
  }

  /** Removes the device; an open handle gets the read error hidapi would report. */
  unplug(path: string): void {
    this.plugged.delete(path);
    for (const d of this.opened) if (d.path === path && !d.closed) d.fail();
  }

  get last(): FakeHidDevice | undefined {
    return this.opened[this.opened.length - 1];
  }

  async enumerate(): Promise<HidDeviceInfo[]> {
    this.enumerations++;
    return [...this.plugged.values()].flatMap((p) => p.collections);
  }

  async open(path: string): Promise<HidDevice> {
    const err = this.openErrors.get(path);
    if (err) throw err;
    if (!this.plugged.has(path)) throw new HeadsetError("ENOENT", `${path} does not exist`);
    const d = new FakeHidDevice(path);
    this.opened.push(d);
    return d;
  }

  async readDescriptor(path: string): Promise<Uint8Array> {
    const p = this.plugged.get(path);
    if (!p) throw new Error(`cannot read descriptor of ${path}: ENOENT`);
    return p.descriptor;
  }
}
