/**
 * `cuffia devices`, headset part: every HID interface with a telephony collection (or of a known
 * headset vendor), its decoded buttons and LEDs or why it is declined, and the ALSA card on the
 * same USB device (reference/hid-telephony.md §7.2).
 */
import { type Capabilities, capabilities } from "./capabilities.js";
import { type HidBackend, type HidDeviceInfo, telephonyDevices } from "./hid-device.js";
import { NodeHidBackend } from "./node-hid-backend.js";
import { type AlsaCard, alsaCardFor, SYSFS_ROOT } from "./sysfs.js";
import { telephonyMapFromBytes } from "./telephony-map.js";

export type ListedHeadset = Pick<
  HidDeviceInfo,
  "path" | "vendorId" | "productId" | "product" | "manufacturer" | "serial"
> & {
  readonly alsaCard: AlsaCard | null;
} & ({ readonly capabilities: Capabilities } | { readonly error: string });

export async function listHeadsets(
  env: { backend?: HidBackend; sysfsRoot?: string } = {},
): Promise<ListedHeadset[]> {
  const root = env.sysfsRoot ?? SYSFS_ROOT;
  const backend = env.backend ?? new NodeHidBackend(root);
  const out: ListedHeadset[] = [];
  for (const d of telephonyDevices(await backend.enumerate())) {
    const base = {
      path: d.path,
      vendorId: d.vendorId,
      productId: d.productId,
      product: d.product,
      manufacturer: d.manufacturer,
      serial: d.serial,
      alsaCard: await alsaCardFor(d.path, root),
    };
    let bytes: Uint8Array;
    try {
      bytes = await backend.readDescriptor(d.path);
    } catch (err) {
      out.push({ ...base, error: `report descriptor unreadable: ${(err as Error).message}` });
      continue;
    }
    const r = telephonyMapFromBytes(bytes);
    out.push(r.ok ? { ...base, capabilities: capabilities(r.map) } : { ...base, error: r.message });
  }
  return out;
}
