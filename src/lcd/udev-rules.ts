/**
 * udev rules for the LCD's USB-serial adapter, generated from device/lcds/*.yaml.
 *
 * The USB ids of display adapters are often shared (a CP210x bridge is 10c4:ea60 on a thousand
 * boards), so the shipped rules only do what is safe for any device with those ids: keep
 * ModemManager from typing AT commands onto the display (ID_MM_DEVICE_IGNORE) and give the
 * dialout group access. The stable /dev/lcd name comes from a rule IT writes for the box,
 * matching the adapter's serial number or the USB port it is plugged into (examples below).
 */
import type { LcdModel } from "./models.js";

export const LCD_UDEV_RULES_FILE = "71-cuffia-lcd.rules";

export function generateLcdUdevRules(models: readonly LcdModel[]): string {
  const ids = new Map<string, string[]>();
  for (const m of models) {
    if (!m.usb) continue;
    const key = `${hex(m.usb.vendor_id)}:${hex(m.usb.product_id)}`;
    ids.set(key, [...(ids.get(key) ?? []), m.name]);
  }
  const lines = [
    "# Generated from device/lcds/*.yaml by src/lcd/udev-rules.ts; do not edit by hand.",
    `# Install as /etc/udev/rules.d/${LCD_UDEV_RULES_FILE} (the package puts it in /lib/udev/rules.d/),`,
    "# then: udevadm control --reload && udevadm trigger",
    "#",
    "# Serial adapters of the displays Cuffia knows: ModemManager leaves them alone (it would",
    "# otherwise probe them with AT commands that appear on the display) and the dialout group",
    "# (the cuffia service user's) may open them.",
    "",
  ];
  for (const [key, names] of [...ids].sort()) {
    const [vid, pid] = key.split(":");
    lines.push(`# ${names.join("; ")}`);
    lines.push(
      `SUBSYSTEM=="tty", ATTRS{idVendor}=="${vid}", ATTRS{idProduct}=="${pid}", ENV{ID_MM_DEVICE_IGNORE}="1", GROUP="dialout", MODE="0660"`,
    );
  }
  lines.push(
    "",
    "# A stable /dev/lcd for lcd.port: copy ONE of these to /etc/udev/rules.d/72-cuffia-lcd-local.rules",
    "# and fill in your adapter. `udevadm info -a -n /dev/ttyUSB0` shows its serial and its KERNELS path.",
    "#",
    "# By the adapter's serial number (survives moving it to another USB port):",
    '# SUBSYSTEM=="tty", ATTRS{idVendor}=="239a", ATTRS{idProduct}=="0001", ATTRS{serial}=="YOUR-SERIAL", SYMLINK+="lcd", ENV{ID_MM_DEVICE_IGNORE}="1", GROUP="dialout", MODE="0660"',
    "#",
    "# By the USB port it is plugged into (adapters without a serial number; KERNELS as udevadm shows it):",
    '# SUBSYSTEM=="tty", KERNELS=="1-1.4", SYMLINK+="lcd", ENV{ID_MM_DEVICE_IGNORE}="1", GROUP="dialout", MODE="0660"',
  );
  return `${lines.join("\n")}\n`;
}

function hex(n: number): string {
  return n.toString(16).padStart(4, "0");
}
