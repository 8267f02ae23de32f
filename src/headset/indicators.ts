/**
 * The headset's indicator projection (pure): what every LED and the ringer should show for a
 * desk state. Rules: reference/hid-telephony.md §4.3–§4.6 and the table of §5 — mute only
 * while off-hook, hold keeps Off-Hook set, Ringer only when configured.
 */
import { activity, currentCall, held } from "../core/derive.js";
import type { DeskState } from "../core/types.js";

export interface Indicators {
  readonly offHook: boolean;
  readonly mute: boolean;
  readonly ring: boolean;
  readonly ringer: boolean;
  readonly hold: boolean;
  readonly microphone: boolean;
  readonly onLine: boolean;
}

export interface IndicatorOptions {
  /** Audible ring through Telephony Ringer 0x0B:0x9E (off by default, §4.5). */
  readonly ringer?: boolean;
  /** Mirror mute into the Microphone LED (profile `mic_led_is_mute`). */
  readonly micLedIsMute?: boolean;
  /** Mirror Off-Hook into the On-Line LED (profile `on_line_led`). */
  readonly onLineLed?: boolean;
}

export const ALL_OFF: Indicators = Object.freeze({
  offHook: false,
  mute: false,
  ring: false,
  ringer: false,
  hold: false,
  microphone: false,
  onLine: false,
});

export function indicators(state: DeskState, options: IndicatorOptions = {}): Indicators {
  let offHook = false;
  let ring = false;
  let hold = false;
  switch (activity(state)) {
    case "ringing":
      ring = true;
      break;
    case "on_call":
      offHook = true;
      hold = held(state);
      break;
    case "on_hold":
      offHook = true;
      hold = true;
      break;
    case "outbound":
      offHook = true;
      break;
    default:
      // idle, wrap_up, not_responding: everything off.
      break;
  }
  // Headsets ignore the Mute LED while on-hook (§4.3): never show mute without Off-Hook.
  const mute = offHook && (currentCall(state)?.muted ?? false);
  return {
    offHook,
    mute,
    ring,
    ringer: ring && (options.ringer ?? false),
    hold,
    microphone: mute && (options.micLedIsMute ?? false),
    onLine: offHook && (options.onLineLed ?? false),
  };
}

export function sameIndicators(a: Indicators, b: Indicators): boolean {
  return (
    a.offHook === b.offHook &&
    a.mute === b.mute &&
    a.ring === b.ring &&
    a.ringer === b.ringer &&
    a.hold === b.hold &&
    a.microphone === b.microphone &&
    a.onLine === b.onLine
  );
}
