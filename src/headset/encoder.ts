/**
 * Indicator state → whole output reports (pure, with a shadow). Output reports are always
 * written whole: on Jabra/EPOS one report holds Off-Hook, Mute, Ring and Hold together, so a
 * write of "Mute=1" with zeros elsewhere would also clear Off-Hook and can drop the call
 * (reference/hid-telephony.md §3.2 Encoding, §4.4 [TSIP commit 5d345ca]). Poly/Blackwire use
 * one report per LED; the same shadow covers both layouts.
 */
import type { Indicators } from "./indicators.js";
import type { OutputRole, TelephonyField, TelephonyMap } from "./telephony-map.js";

/** Roles the host drives, by their key in Indicators. Speaker is never driven (stays 0). */
const DRIVEN: ReadonlyArray<readonly [OutputRole, keyof Indicators]> = [
  ["offHook", "offHook"],
  ["mute", "mute"],
  ["ring", "ring"],
  ["hold", "hold"],
  ["microphone", "microphone"],
  ["ringer", "ringer"],
  ["onLine", "onLine"],
];

export class IndicatorEncoder {
  /** Last bytes written per report id; empty after reset() so that everything goes out. */
  private readonly written = new Map<number, Uint8Array>();
  private lastOffHook = false;

  constructor(private readonly map: TelephonyMap) {}

  /** Forget what the device shows (open, replug, resync): the next encode writes every report. */
  reset(): void {
    this.written.clear();
    this.lastOffHook = false;
  }

  /**
   * The output reports to write, each `[reportId, ...payload]` (exactly 1 + payload bytes, id 0
   * for devices without report ids, as hidapi expects), only those whose bytes changed.
   */
  encode(ind: Indicators): Uint8Array[] {
    const shadows = new Map<number, Uint8Array>();
    for (const [id, bytes] of this.map.outputReports) shadows.set(id, new Uint8Array(bytes));
    for (const [role, key] of DRIVEN) {
      const field = this.map.outputs.get(role);
      const shadow = field ? shadows.get(field.reportId) : undefined;
      if (field && shadow) writeField(shadow, field, ind[key] ? 1 : 0);
    }
    const offHookReport = this.map.outputs.get("offHook")?.reportId;
    const goingOffHook = ind.offHook && !this.lastOffHook;
    this.lastOffHook = ind.offHook;
    const ids = [...shadows.keys()].sort((a, b) => {
      // Going off-hook on a per-LED device, write Off-Hook before clearing Ring (§4.4).
      if (goingOffHook && a === offHookReport) return -1;
      if (goingOffHook && b === offHookReport) return 1;
      return a - b;
    });
    const out: Uint8Array[] = [];
    for (const id of ids) {
      const payload = shadows.get(id)!;
      const before = this.written.get(id);
      if (before && equal(before, payload)) continue;
      this.written.set(id, payload);
      const report = new Uint8Array(1 + payload.length);
      report[0] = id;
      report.set(payload, 1);
      out.push(report);
    }
    return out;
  }
}

/** Sets a field's bits (LSB first) in a payload; values wider than the field are truncated. */
export function writeField(payload: Uint8Array, field: TelephonyField, value: number): void {
  for (let k = 0; k < field.size; k++) {
    const bit = field.bit + k;
    const byte = bit >> 3;
    if (byte >= payload.length) return;
    const mask = 1 << (bit & 7);
    const on = Math.floor(value / 2 ** k) % 2 === 1;
    payload[byte] = on ? payload[byte]! | mask : payload[byte]! & ~mask;
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
