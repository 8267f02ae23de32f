/** Options of the HID headset side (config `headset:`; contracts/cli-config-control.md). */
import { everyKeyRead } from "../config/every-key-read.js";
import type { Config } from "../config/schema.js";

export type HeadsetMatch =
  /** The first telephony headset found (by hidraw number). */
  | "auto"
  | { readonly vendorId: number; readonly productId: number }
  /** A fixed node; note that the hidraw number may change after a replug. */
  | { readonly path: string };

export interface HeadsetOptions {
  readonly match: HeadsetMatch;
  /** Audible ring through Telephony Ringer 0x0B:0x9E as well as the Ring LED. */
  readonly ringer: boolean;
  /** How often to look for the headset while it is absent (ms); default 2000 (§7.4, §6.14). */
  readonly pollMs?: number;
  /** Quirk profile folder; default the shipped `device/headsets`. */
  readonly profileDir?: string;
}

/** The clock and timers, injectable for tests. */
export interface HeadsetClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: HeadsetClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export const DEFAULT_POLL_MS = 2000;

export function describeMatch(match: HeadsetMatch): string {
  if (match === "auto") return "any telephony headset";
  if ("path" in match) return match.path;
  const h = (n: number) => n.toString(16).padStart(4, "0");
  return `${h(match.vendorId)}:${h(match.productId)}`;
}

/**
 * The `headset:` section as the HID headset side takes it; undefined without one or for
 * `match: keyboard` (the keyboard headset takes only `ringer`).
 */
export function headsetOptionsFromConfig(config: Config): HeadsetOptions | undefined {
  if (!config.headset) return undefined;
  // idle_hook_off is core policy (config/policy.ts), not the headset side's.
  const { match, ringer, idle_hook_off: _idleHookOff, ...rest } = config.headset;
  everyKeyRead(rest);
  if (match === "keyboard") return undefined;
  return {
    match:
      match === "auto"
        ? "auto"
        : "path" in match
          ? { path: match.path }
          : { vendorId: match.vendor_id, productId: match.product_id },
    ringer,
  };
}
