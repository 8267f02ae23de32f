/**
 * Quirk profiles: `device/headsets/*.yaml`, one file per vendor with vendor-wide quirks and
 * per-model overrides (keys: reference/hid-telephony.md §6). Data, not code: the generic driver
 * works without any profile; a profile only changes behaviour the descriptor cannot tell.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { z } from "zod";
import { DEFAULT_QUIRKS, type Quirks } from "./quirks.js";

const hex4 = z
  .string()
  .regex(/^[0-9a-f]{4}$/, "four lower-case hex digits, e.g. 0b0e")
  .transform((s) => Number.parseInt(s, 16));

const quirksSchema = z
  .strictObject({
    reject_gesture: z.enum(["button", "double-tap", "long-press", "vendor-bit", "none"]),
    double_tap_ms: z.number().int().min(100).max(2000),
    long_press_ms: z.number().int().min(300).max(5000),
    reject_vendor_bit: z.strictObject({
      report_id: z.number().int().min(0).max(255),
      bit: z.number().int().min(0).max(2047),
    }),
    echo_guard_ms: z.number().int().min(0).max(5000),
    debounce_ms: z.number().int().min(0).max(5000),
    baseline_ms: z.number().int().min(0).max(5000),
    mic_led_is_mute: z.boolean(),
    hook_mode: z.enum(["from-descriptor", "pulse", "level"]),
    vendor_mirror_page: hex4,
    on_line_led: z.boolean(),
  })
  .partial();

export const profileSchema = z.strictObject({
  vendor: z.strictObject({ id: hex4, name: z.string().min(1) }),
  /** Where the quirks come from: a public source or a lab observation. */
  source: z.string().min(1),
  quirks: quirksSchema.default({}),
  models: z
    .array(
      z.strictObject({
        product_id: hex4,
        name: z.string().min(1),
        source: z.string().min(1).optional(),
        quirks: quirksSchema.default({}),
      }),
    )
    .default([]),
});

export type Profile = z.infer<typeof profileSchema>;
type QuirksInput = z.infer<typeof quirksSchema>;

export class ProfileError extends Error {
  readonly code = "bad_profile";
}

/** Parses one profile file's text; throws ProfileError listing every problem with its key path. */
export function parseProfile(text: string, file: string): Profile {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ProfileError(`${file}: not YAML: ${(err as Error).message}`);
  }
  const r = profileSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${file}: ${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new ProfileError(lines.join("\n"));
  }
  const problems: string[] = [];
  r.data.models.forEach((m, i) => {
    if (r.data.models.findIndex((o) => o.product_id === m.product_id) !== i) {
      problems.push(`${file}: models.${i}.product_id: ${m.product_id.toString(16)} listed twice`);
    }
    const gesture = m.quirks.reject_gesture ?? r.data.quirks.reject_gesture;
    const bit = m.quirks.reject_vendor_bit ?? r.data.quirks.reject_vendor_bit;
    if (gesture === "vendor-bit" && !bit)
      problems.push(`${file}: models.${i}: vendor-bit needs reject_vendor_bit`);
  });
  if (r.data.quirks.reject_gesture === "vendor-bit" && !r.data.quirks.reject_vendor_bit) {
    problems.push(`${file}: quirks: reject_gesture vendor-bit needs reject_vendor_bit`);
  }
  if (problems.length > 0) throw new ProfileError(problems.join("\n"));
  return r.data;
}

/** The shipped profile folder: `device/headsets` at the package root (from src/ or dist/src/). */
export function defaultProfileDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const fromSrc = join(here, "..", "..", "device", "headsets");
  const fromDist = join(here, "..", "..", "..", "device", "headsets");
  return existsSync(fromSrc) ? fromSrc : fromDist;
}

export async function loadProfiles(dir: string = defaultProfileDir()): Promise<Profile[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".yaml")).sort();
  const profiles: Profile[] = [];
  for (const name of names) profiles.push(parseProfile(await readFile(join(dir, name), "utf8"), name));
  const seen = new Map<number, string>();
  names.forEach((name, i) => {
    const vid = profiles[i]!.vendor.id;
    const other = seen.get(vid);
    if (other) throw new ProfileError(`${name}: vendor ${vid.toString(16)} already described in ${other}`);
    seen.set(vid, name);
  });
  return profiles;
}

/** Defaults, then the vendor's quirks, then the model's. */
export function quirksFor(profiles: readonly Profile[], vendorId: number, productId: number): Quirks {
  const p = profiles.find((x) => x.vendor.id === vendorId);
  if (!p) return DEFAULT_QUIRKS;
  const model = p.models.find((m) => m.product_id === productId);
  return Object.freeze(apply(apply(DEFAULT_QUIRKS, p.quirks), model?.quirks ?? {}));
}

function apply(base: Quirks, q: QuirksInput): Quirks {
  return {
    rejectGesture: q.reject_gesture ?? base.rejectGesture,
    doubleTapMs: q.double_tap_ms ?? base.doubleTapMs,
    longPressMs: q.long_press_ms ?? base.longPressMs,
    rejectVendorBit: q.reject_vendor_bit
      ? { reportId: q.reject_vendor_bit.report_id, bit: q.reject_vendor_bit.bit }
      : base.rejectVendorBit,
    echoGuardMs: q.echo_guard_ms ?? base.echoGuardMs,
    debounceMs: q.debounce_ms ?? base.debounceMs,
    baselineMs: q.baseline_ms ?? base.baselineMs,
    micLedIsMute: q.mic_led_is_mute ?? base.micLedIsMute,
    hookMode: q.hook_mode ?? base.hookMode,
    vendorMirrorPage: q.vendor_mirror_page ?? base.vendorMirrorPage,
    onLineLed: q.on_line_led ?? base.onLineLed,
  };
}
