/**
 * Per-device behaviour the descriptor cannot tell (reference/hid-telephony.md §6). The generic
 * driver runs on DEFAULT_QUIRKS; `device/headsets/*.yaml` profiles override single keys.
 */

export type RejectGesture =
  /** The programmable key (Tel 0x07 / Button 1 / Button 7, and EPOS Drop) rejects while ringing. */
  | "button"
  /** Two hook requests within `doubleTapMs` while ringing reject; one answers after the window. */
  | "double-tap"
  /** A hook press held for `longPressMs` while ringing rejects (relative/momentary hooks only). */
  | "long-press"
  /** A vendor bit (`rejectVendorBit`) rejects while ringing (Yealink, reference §4.7). */
  | "vendor-bit"
  | "none";

export type HookMode = "from-descriptor" | "pulse" | "level";

export interface Quirks {
  readonly rejectGesture: RejectGesture;
  readonly doubleTapMs: number;
  readonly longPressMs: number;
  readonly rejectVendorBit: { readonly reportId: number; readonly bit: number } | null;
  /** After the host changes Off-Hook, hook pulses (and stale contrary levels) are echoes (§4.2). */
  readonly echoGuardMs: number;
  /** A second pulse of the same control within this window is a duplicate report (§4.8). */
  readonly debounceMs: number;
  /** Hook reports within this window after open only set the baseline level (§5). */
  readonly baselineMs: number;
  /** Drive the Microphone LED with mute (Jabra integrations do, §4.3). */
  readonly micLedIsMute: boolean;
  readonly hookMode: HookMode;
  /** Vendor page mirroring the telephony inputs (0xFF30 on GN), decoded too when set (§2). */
  readonly vendorMirrorPage: number | null;
  /** Mirror Off-Hook into the On-Line LED (wakes some radio links, §2 [BRIA]). */
  readonly onLineLed: boolean;
}

export const DEFAULT_QUIRKS: Quirks = Object.freeze({
  rejectGesture: "button",
  doubleTapMs: 500,
  longPressMs: 1000,
  rejectVendorBit: null,
  echoGuardMs: 500,
  debounceMs: 100,
  baselineMs: 1000,
  micLedIsMute: false,
  hookMode: "from-descriptor",
  vendorMirrorPage: null,
  onLineLed: false,
});
