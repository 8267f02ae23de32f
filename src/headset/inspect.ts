/**
 * `cuffia headset inspect (--descriptor FILE | --hidraw /dev/hidrawN)`: decodes a report
 * descriptor and prints the telephony capability map (contracts/cli-config-control.md).
 * Exit 0 telephony headset, 3 no telephony collection (message on stderr), 2 unreadable input.
 */
import { readFile } from "node:fs/promises";
import { capabilities } from "./capabilities.js";
import { DescriptorError, parseHexBytes } from "./descriptor.js";
import { hidrawName, readHidUevent, readReportDescriptor, SYSFS_ROOT } from "./sysfs.js";
import { telephonyMapFromBytes } from "./telephony-map.js";

export interface InspectResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function headsetInspect(
  args: { descriptor?: string; hidraw?: string },
  env: { sysfsRoot?: string } = {},
): Promise<InspectResult> {
  const root = env.sysfsRoot ?? SYSFS_ROOT;
  if ((args.descriptor === undefined) === (args.hidraw === undefined)) {
    return fail(2, "headset inspect: give exactly one of --descriptor FILE or --hidraw /dev/hidrawN");
  }
  let bytes: Uint8Array;
  let subject: string;
  if (args.descriptor !== undefined) {
    subject = args.descriptor;
    let text: string;
    try {
      text = await readFile(args.descriptor, "utf8");
    } catch (err) {
      return fail(2, `headset inspect: cannot read ${args.descriptor}: ${errText(err)}`);
    }
    try {
      bytes = parseHexBytes(text);
    } catch (err) {
      const why = err instanceof DescriptorError ? err.message : errText(err);
      return fail(2, `headset inspect: ${args.descriptor} is not a hex descriptor dump (${why})`);
    }
  } else {
    const node = args.hidraw!;
    if (!hidrawName(node)) return fail(2, `headset inspect: ${node} is not a hidraw node (/dev/hidrawN)`);
    try {
      bytes = await readReportDescriptor(node, root);
    } catch (err) {
      return fail(2, `headset inspect: ${errText(err)}`);
    }
    const ue = await readHidUevent(node, root);
    const h = (n: number) => n.toString(16).padStart(4, "0");
    subject = ue ? `${ue.name ?? node} (${h(ue.vendorId)}:${h(ue.productId)}) at ${node}` : node;
  }
  const result = telephonyMapFromBytes(bytes);
  if (!result.ok) {
    if (result.reason === "bad_descriptor") return fail(2, `headset inspect: ${subject}: ${result.message}`);
    return fail(3, `${subject} has ${result.message}`);
  }
  const warnings = result.map.warnings.map((w) => `warning: ${w}\n`).join("");
  return { code: 0, stdout: `${JSON.stringify(capabilities(result.map), null, 2)}\n`, stderr: warnings };
}

function fail(code: number, message: string): InspectResult {
  return { code, stdout: "", stderr: `${message}\n` };
}

function errText(err: unknown): string {
  // Node's fs errors: the errno code says it all; ours carry a full sentence.
  const e = err as NodeJS.ErrnoException;
  if (e?.syscall && e.code) return e.code;
  return e?.message ?? String(err);
}
