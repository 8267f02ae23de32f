/**
 * udev rules for the telephony headsets' hidraw nodes, generated from the vendor list
 * (reference/hid-telephony.md §7.5). hidraw nodes are root-only by default; `TAG+="uaccess"`
 * only helps the user of an active local seat (a desktop demo), so the service account gets
 * access through the group. `test/headset/udev-rules.test.ts` checks the committed file.
 */

/** Where the rules are installed; named in the EACCES explanation. */
export const UDEV_RULES_FILE = "/etc/udev/rules.d/70-cuffia-headsets.rules";
/** The group the daemon's user must be in. */
export const UDEV_GROUP = "plugdev";

/** The main office-headset vendors, always covered even without a quirk profile. */
export const MAIN_VENDORS: ReadonlyArray<{ readonly id: number; readonly name: string }> = [
  { id: 0x0b0e, name: "Jabra / GN Netcom (GN Audio)" },
  { id: 0x047f, name: "Plantronics / Poly" },
  { id: 0x1395, name: "Sennheiser Communications / EPOS" },
  { id: 0x6993, name: "Yealink" },
  { id: 0x046d, name: "Logitech" },
  { id: 0x095d, name: "Polycom" },
];

export function generateUdevRules(
  profileVendors: ReadonlyArray<{ readonly id: number; readonly name: string }>,
): string {
  const byId = new Map<number, string>();
  for (const v of MAIN_VENDORS) byId.set(v.id, v.name);
  for (const v of profileVendors) if (!byId.has(v.id)) byId.set(v.id, v.name);
  const lines = [
    "# Generated from device/headsets/*.yaml by src/headset/udev-rules.ts; do not edit by hand.",
    `# Install as ${UDEV_RULES_FILE}, then: udevadm control --reload && udevadm trigger`,
    `# Gives the group ${UDEV_GROUP} (the cuffia service user's group) and the local seat's user`,
    "# read/write access to the hidraw nodes of USB and Bluetooth office headsets.",
    "",
  ];
  for (const [id, name] of [...byId].sort((a, b) => a[0] - b[0])) {
    // Lower-case hex, as udev's ATTRS{idVendor} shows it.
    const vid = id.toString(16).padStart(4, "0");
    lines.push(`# ${name}`);
    lines.push(
      `SUBSYSTEM=="hidraw", ATTRS{idVendor}=="${vid}", GROUP="${UDEV_GROUP}", MODE="0660", TAG+="uaccess"`,
    );
    // Bluetooth HID has no idVendor attribute: match the HID id (bus:vendor:product) instead.
    lines.push(
      `SUBSYSTEM=="hidraw", KERNELS=="0005:${vid.toUpperCase()}:*", GROUP="${UDEV_GROUP}", MODE="0660", TAG+="uaccess"`,
    );
  }
  return `${lines.join("\n")}\n`;
}
