/**
 * The capability JSON of `cuffia headset inspect` and `cuffia devices`
 * (contracts/cli-config-control.md § `headset inspect` JSON): absent usages are absent keys;
 * `bit` counts inside the payload, after the report-ID byte.
 */
import { programmableKeyName, type TelephonyField, type TelephonyMap } from "./telephony-map.js";
import { usageHex } from "./usages.js";

export interface InputCapability {
  readonly reportId: number;
  readonly bit: number;
  readonly size: number;
  readonly relative: boolean;
  readonly usage: string;
  readonly alt?: string;
  readonly array?: true;
}

export interface OutputCapability {
  readonly reportId: number;
  readonly bit: number;
  readonly size: number;
  readonly usage: string;
}

export interface Capabilities {
  readonly telephony: true;
  readonly collection: string;
  readonly inputs: Record<string, InputCapability>;
  readonly outputs: Record<string, OutputCapability>;
  /** Output reports as written: id and payload bytes (a write is 1 + bytes long). */
  readonly outputReports: Array<{ readonly reportId: number; readonly bytes: number }>;
  /** "shared" when several indicators live in one output report, "per-led" otherwise. */
  readonly outputLayout: "shared" | "per-led" | "none";
}

export function capabilities(map: TelephonyMap): Capabilities {
  const inputs: Record<string, InputCapability> = {};
  for (const [role, f] of map.inputs) {
    const key = role === "programmable" ? programmableKeyName(f) : role;
    inputs[key] = {
      reportId: f.reportId,
      bit: f.bit,
      size: f.size,
      relative: f.relative,
      usage: usageHex(f.usage),
      ...(f.alt !== undefined ? { alt: usageHex(f.alt) } : {}),
      ...(f.array ? { array: true as const } : {}),
    };
  }
  const outputs: Record<string, OutputCapability> = {};
  for (const [role, f] of map.outputs) {
    outputs[role] = { reportId: f.reportId, bit: f.bit, size: f.size, usage: usageHex(f.usage) };
  }
  const outputReports = [...map.outputReports]
    .sort((a, b) => a[0] - b[0])
    .map(([reportId, bytes]) => ({ reportId, bytes }));
  return {
    telephony: true,
    collection: usageHex(map.tlc),
    inputs,
    outputs,
    outputReports,
    outputLayout: outputLayout(map),
  };
}

export function outputLayout(map: TelephonyMap): "shared" | "per-led" | "none" {
  if (map.outputs.size === 0) return "none";
  const perReport = new Map<number, number>();
  for (const f of map.outputs.values()) perReport.set(f.reportId, (perReport.get(f.reportId) ?? 0) + 1);
  return [...perReport.values()].some((n) => n > 1) ? "shared" : "per-led";
}

export type { TelephonyField };
