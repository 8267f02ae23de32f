/**
 * HidBackend on node-hid (hidraw backend, async API). node-hid is imported lazily: its native
 * binding needs libusb-1.0 and the daemon must run without it when no headset is configured.
 * Never call `setDriverType('libusb')`: it detaches the kernel driver and claims the interface
 * exclusively (reference/hid-telephony.md §7.3).
 */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { HeadsetError, type HidBackend, type HidDevice, type HidDeviceInfo } from "./hid-device.js";
import { readReportDescriptor, SYSFS_ROOT } from "./sysfs.js";
import { UDEV_GROUP, UDEV_RULES_FILE } from "./udev-rules.js";

type NodeHid = typeof import("node-hid");
type NodeHidAsync = import("node-hid").HIDAsync;

let loaded: Promise<NodeHid> | null = null;

async function nodeHid(): Promise<NodeHid> {
  loaded ??= import("node-hid").then((m) => ((m as { default?: NodeHid }).default ?? m) as NodeHid);
  try {
    return await loaded;
  } catch (err) {
    loaded = null;
    throw new HeadsetError(
      "hid_unavailable",
      `node-hid could not be loaded (${(err as Error).message}); install libusb-1.0-0 and reinstall cuffia`,
    );
  }
}

export function permissionMessage(path: string): string {
  return (
    `permission denied on ${path}: install ${UDEV_RULES_FILE} (shipped in udev/), run ` +
    `"udevadm control --reload && udevadm trigger", and add the cuffia user to the group ${UDEV_GROUP}`
  );
}

export class NodeHidBackend implements HidBackend {
  constructor(private readonly sysfsRoot: string = SYSFS_ROOT) {}

  async enumerate(): Promise<HidDeviceInfo[]> {
    const hid = await nodeHid();
    const list = await hid.devicesAsync();
    return list.flatMap((d) =>
      d.path
        ? [
            {
              path: d.path,
              vendorId: d.vendorId,
              productId: d.productId,
              product: d.product ?? null,
              manufacturer: d.manufacturer ?? null,
              serial: d.serialNumber ?? null,
              interface: d.interface,
              usagePage: d.usagePage ?? 0,
              usage: d.usage ?? 0,
            },
          ]
        : [],
    );
  }

  async open(path: string): Promise<HidDevice> {
    // hidapi's error does not carry errno: check access first to explain EACCES (§7.5).
    try {
      await access(path, constants.R_OK | constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EACCES" || code === "EPERM") throw new HeadsetError("EACCES", permissionMessage(path));
      if (code === "ENOENT") throw new HeadsetError("ENOENT", `${path} does not exist (headset unplugged?)`);
    }
    const hid = await nodeHid();
    let dev: NodeHidAsync;
    try {
      dev = await hid.HIDAsync.open(path);
    } catch (err) {
      throw new HeadsetError("open_failed", `cannot open ${path}: ${(err as Error).message}`);
    }
    return new NodeHidDevice(dev);
  }

  readDescriptor(path: string): Promise<Uint8Array> {
    return readReportDescriptor(path, this.sysfsRoot);
  }
}

class NodeHidDevice implements HidDevice {
  private closed = false;

  constructor(private readonly dev: NodeHidAsync) {}

  async write(report: Uint8Array): Promise<void> {
    try {
      await this.dev.write(Buffer.from(report));
    } catch (err) {
      throw new HeadsetError("write_failed", `write failed: ${(err as Error).message}`);
    }
  }

  async read(timeoutMs?: number): Promise<Uint8Array | null> {
    const buf = await this.dev.read(timeoutMs);
    return buf && buf.length > 0 ? new Uint8Array(buf) : null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.dev.close();
  }

  onData(listener: (report: Uint8Array) => void): void {
    this.dev.on("data", (buf: Buffer) => listener(new Uint8Array(buf)));
  }

  onError(listener: (err: Error) => void): void {
    this.dev.on("error", (err: unknown) => listener(err instanceof Error ? err : new Error(String(err))));
  }
}
