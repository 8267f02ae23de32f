/**
 * The telephony capability map (pure): which bits of which reports carry the headset's call
 * buttons and call indicators, taken from the report descriptor, never from a model table
 * (reference/hid-telephony.md §1 rule 1, §3.2).
 */
import {
  DescriptorError,
  elementUsage,
  type MainItem,
  type ParsedDescriptor,
  parseDescriptor,
} from "./descriptor.js";
import {
  BUTTON_1,
  BUTTON_7,
  LED,
  PAGE_BUTTON,
  PAGE_LED,
  PAGE_TELEPHONY,
  PROGRAMMABLE_USAGES,
  pageOf,
  TEL,
  usageHex,
  usageName,
} from "./usages.js";

export type InputRole =
  | "hookSwitch"
  | "phoneMute"
  | "flash"
  | "redial"
  | "drop"
  | "line"
  | "lineBusy"
  | "speedDial"
  | "programmable"
  | "keypad";

export type OutputRole =
  | "offHook"
  | "mute"
  | "ring"
  | "hold"
  | "microphone"
  | "ringer"
  | "onLine"
  | "speaker";

export interface TelephonyField {
  /** Usage by the spec's page binding. */
  readonly usage: number;
  /** Usage by Linux's page binding, when it differs. */
  readonly alt?: number;
  readonly reportId: number;
  /** Bit offset inside the payload (after the report-ID byte). */
  readonly bit: number;
  readonly size: number;
  readonly relative: boolean;
  readonly preferred: boolean;
  readonly logicalMin: number;
  readonly logicalMax: number;
  /**
   * For array fields (Flags bit 1 = 0): the usage list an element value indexes; the control is
   * "pressed" while the element holds an index whose usage is the role's usage.
   */
  readonly array?: { readonly usages: readonly number[]; readonly altUsages: readonly number[] };
}

export interface TelephonyMap {
  /** Usage of the telephony top-level collection (0x0B:0x05 Headset or 0x0B:0x01 Phone). */
  readonly tlc: number;
  readonly inputs: ReadonlyMap<InputRole, TelephonyField>;
  readonly outputs: ReadonlyMap<OutputRole, TelephonyField>;
  /** Output report id → payload length in bytes (a write is 1 + this). */
  readonly outputReports: ReadonlyMap<number, number>;
  /** Input report id → declared payload length (reports may arrive shorter, §4.8). */
  readonly inputReports: ReadonlyMap<number, number>;
  readonly usesReportIds: boolean;
  /** Usages of the other top-level collections, for logs (and the telephony ones skipped). */
  readonly otherCollections: readonly number[];
  /** Extra telephony collections found after the first one: not used, logged. */
  readonly ignoredTelephonyCollections: number;
  /**
   * Inputs of a vendor mirror report (GN page 0xFF30 on Jabra, reference §2), by role, when a
   * quirk profile asks for it. Decoded like the standard inputs.
   */
  readonly mirrorInputs: ReadonlyMap<InputRole, TelephonyField>;
  readonly warnings: readonly string[];
}

export type MapResult =
  | { readonly ok: true; readonly map: TelephonyMap }
  | { readonly ok: false; readonly reason: "no_telephony" | "bad_descriptor"; readonly message: string };

const INPUT_USAGES: ReadonlyArray<readonly [InputRole, number]> = [
  ["hookSwitch", TEL.hookSwitch],
  ["phoneMute", TEL.phoneMute],
  ["flash", TEL.flash],
  ["redial", TEL.redial],
  ["drop", TEL.drop],
  ["line", TEL.line],
  ["lineBusy", TEL.lineBusyTone],
  ["speedDial", TEL.speedDial],
];

const OUTPUT_USAGES: ReadonlyArray<readonly [OutputRole, number]> = [
  ["offHook", LED.offHook],
  ["mute", LED.mute],
  ["ring", LED.ring],
  ["hold", LED.hold],
  ["microphone", LED.microphone],
  ["ringer", TEL.ringer],
  ["onLine", LED.onLine],
  ["speaker", LED.speaker],
];

const isTelephonyTlc = (u: number): boolean => u === TEL.headset || u === TEL.phone;
const isCallPage = (u: number): boolean => {
  const p = pageOf(u);
  return p === PAGE_TELEPHONY || p === PAGE_LED || p === PAGE_BUTTON;
};

export interface MapOptions {
  /** Vendor page whose usage ids mirror the telephony page (e.g. 0xFF30 on GN/Jabra). */
  readonly mirrorPage?: number;
}

/** Builds the map from raw descriptor bytes; never throws. */
export function telephonyMapFromBytes(bytes: Uint8Array, options: MapOptions = {}): MapResult {
  let parsed: ParsedDescriptor;
  try {
    parsed = parseDescriptor(bytes);
  } catch (err) {
    const message = err instanceof DescriptorError ? err.message : String(err);
    return { ok: false, reason: "bad_descriptor", message: `malformed report descriptor: ${message}` };
  }
  return telephonyMap(parsed, options);
}

export function telephonyMap(parsed: ParsedDescriptor, options: MapOptions = {}): MapResult {
  const tlcIndexes = parsed.collections.flatMap((c, i) =>
    isTelephonyTlc(c.usage) && c.kind === 1 ? [i] : [],
  );
  const first = tlcIndexes[0];
  if (first === undefined) {
    const found = parsed.collections.map((c) => usageName(c.usage)).join(", ") || "none";
    return {
      ok: false,
      reason: "no_telephony",
      message:
        "no HID telephony collection (usage page 0x0B, Headset or Phone): headset call buttons and call " +
        `indicators are not available; audio still works. Top-level collections found: ${found}`,
    };
  }
  const tlc = parsed.collections[first]!.usage;
  const inTlc = parsed.items.filter((m) => m.tlc === first && !m.constant);
  const inputs = new Map<InputRole, TelephonyField>();
  const outputs = new Map<OutputRole, TelephonyField>();
  const mirrorInputs = new Map<InputRole, TelephonyField>();
  const warnings = [...parsed.warnings];

  for (const m of inTlc) {
    if (m.dir === "input") collectInputs(m, inputs);
    else if (m.dir === "output") collectOutputs(m, outputs);
  }
  if (options.mirrorPage !== undefined) {
    const page = options.mirrorPage;
    const mirrored = (u: number) =>
      pageOf(u) === page ? (PAGE_TELEPHONY * 0x10000 + (u & 0xffff)) >>> 0 : u;
    for (const m of parsed.items) {
      if (m.dir !== "input" || m.constant || !m.variable) continue;
      if (!m.usages.some((u) => pageOf(u) === page)) continue;
      const usages = m.usages.map(mirrored);
      collectInputs({ ...m, usages, altUsages: usages }, mirrorInputs);
    }
  }

  const outputReports = new Map<number, number>();
  const inputReports = new Map<number, number>();
  for (const f of outputs.values())
    outputReports.set(f.reportId, parsed.payloadBytes.get(`output:${f.reportId}`) ?? 0);
  for (const f of [...inputs.values(), ...mirrorInputs.values()]) {
    inputReports.set(f.reportId, parsed.payloadBytes.get(`input:${f.reportId}`) ?? 0);
  }
  if (!inputs.has("hookSwitch")) warnings.push("the telephony collection declares no Hook Switch");
  if (tlcIndexes.length > 1) warnings.push(`${tlcIndexes.length - 1} more telephony collection(s) ignored`);

  return {
    ok: true,
    map: {
      tlc,
      inputs,
      outputs,
      outputReports,
      inputReports,
      usesReportIds: parsed.usesReportIds,
      otherCollections: parsed.collections.filter((_, i) => i !== first).map((c) => c.usage),
      ignoredTelephonyCollections: tlcIndexes.length - 1,
      mirrorInputs,
      warnings,
    },
  };
}

function fieldOf(m: MainItem, i: number, usage: number, alt: number | undefined): TelephonyField {
  return {
    usage,
    ...(alt !== undefined && alt !== usage ? { alt } : {}),
    reportId: m.reportId,
    bit: m.bit + i * m.size,
    size: m.size,
    relative: m.relative,
    preferred: m.preferred,
    logicalMin: m.logicalMin,
    logicalMax: m.logicalMax,
  };
}

function collectInputs(m: MainItem, into: Map<InputRole, TelephonyField>): void {
  if (!m.variable) {
    // Array fields: a selector over a usage list; each element holds an index (HID 1.11 §6.2.2.5).
    const both = [...m.usages, ...m.altUsages];
    if (both.some((u) => PROGRAMMABLE_USAGES.includes(u)) && !into.has("programmable")) {
      const first = m.usages.find(
        (u, k) => PROGRAMMABLE_USAGES.includes(u) || PROGRAMMABLE_USAGES.includes(m.altUsages[k]!),
      );
      into.set("programmable", {
        ...fieldOf(m, 0, first ?? BUTTON_1, undefined),
        array: { usages: m.usages, altUsages: m.altUsages },
      });
    } else if (m.usages.some((u) => u >= 0x000b00b0 && u <= 0x000b00bf) && !into.has("keypad")) {
      into.set("keypad", {
        ...fieldOf(m, 0, TEL.keypad, undefined),
        array: { usages: m.usages, altUsages: m.altUsages },
      });
    }
    return;
  }
  // Only the first occurrence of each usage matters: stop once the list is exhausted (the
  // last usage repeats for the remaining elements).
  const n = Math.min(m.count, Math.max(m.usages.length, 1));
  for (let i = 0; i < n; i++) {
    const u = elementUsage(m.usages, i);
    const alt = elementUsage(m.altUsages, i);
    if (u === undefined || !isCallPage(u)) continue;
    for (const [role, wanted] of INPUT_USAGES) {
      if ((u === wanted || alt === wanted) && !into.has(role)) into.set(role, fieldOf(m, i, u, alt));
    }
    const programmable =
      PROGRAMMABLE_USAGES.includes(u) || (alt !== undefined && PROGRAMMABLE_USAGES.includes(alt));
    if (programmable && !into.has("programmable")) into.set("programmable", fieldOf(m, i, u, alt));
  }
}

function collectOutputs(m: MainItem, into: Map<OutputRole, TelephonyField>): void {
  // Indicators are On/Off Controls in variable fields; array outputs are not driven.
  if (!m.variable) return;
  const n = Math.min(m.count, Math.max(m.usages.length, 1));
  for (let i = 0; i < n; i++) {
    const u = elementUsage(m.usages, i);
    const alt = elementUsage(m.altUsages, i);
    if (u === undefined) continue;
    for (const [role, wanted] of OUTPUT_USAGES) {
      if ((u === wanted || alt === wanted) && !into.has(role)) into.set(role, fieldOf(m, i, u, alt));
    }
  }
}

/** Human name of the programmable key's usage for the inspect output ("button7"...). */
export function programmableKeyName(f: TelephonyField): string {
  // An array selects among several usages (EPOS: Tel 0x07 / Button 1): no single button name.
  if (f.array) return "programmableButton";
  if (f.usage === BUTTON_7) return "button7";
  if (f.usage === BUTTON_1) return "button1";
  return "programmableButton";
}

export { usageHex };
