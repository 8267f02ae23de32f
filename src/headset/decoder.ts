/**
 * Input reports → headset button edges (pure: the clock is an argument, no timers inside).
 *
 * Rules (reference/hid-telephony.md §4, §5):
 * - an absolute Hook Switch is a level: act on changes, never on the value; reports in the first
 *   `baselineMs` after open only set the baseline (§5 "headset opened");
 * - a hook edge whose new level equals the level the host last commanded is the device's
 *   acknowledgement of our own Off-Hook write, not the user (§4.2); a contrary level right after
 *   a host change (inside `echoGuardMs`) is a stale radio report and is dropped (§4.1);
 * - relative controls fire on the 1 only (§4.3), a second pulse inside `debounceMs` is a duplicate
 *   report (§4.8); relative hook pulses inside the echo guard are acknowledgements (§4.2);
 * - reports shorter than declared are decoded as far as they go (§4.8);
 * - the reject gesture comes from the quirk profile (§4.7).
 *
 * Timed gestures (double tap, long press) need `tick(now)` at `nextDeadline()`.
 */
import type { HeadsetButton } from "../core/types.js";
import { ALL_OFF, type Indicators } from "./indicators.js";
import type { Quirks } from "./quirks.js";
import type { InputRole, TelephonyField, TelephonyMap } from "./telephony-map.js";
import { PROGRAMMABLE_USAGES, TEL } from "./usages.js";

export type HeadsetEvent =
  | { readonly kind: "button"; readonly button: HeadsetButton }
  /** Telephony Line changed: a dongle's radio link to its headset (§4.8). */
  | { readonly kind: "link"; readonly up: boolean };

export interface DecodeResult {
  readonly events: HeadsetEvent[];
  /** Why parts of the report were ignored (echo, duplicate...), for debug logs. */
  readonly notes: string[];
}

type Pending =
  | { readonly kind: "double-tap"; readonly deadline: number }
  | { readonly kind: "long-press"; readonly deadline: number; fired: boolean };

/** Roles whose value is a level (state) rather than a pulse. */
const LEVEL_ROLES: ReadonlySet<InputRole> = new Set<InputRole>(["line", "lineBusy"]);

export class InputDecoder {
  private readonly byReport = new Map<number, Array<readonly [InputRole, TelephonyField]>>();
  /** Last value seen per role (levels) or last active state (pulses). */
  private readonly prev = new Map<InputRole | "vendorReject", number>();
  private readonly lastFire = new Map<string, number>();
  private host: Indicators = ALL_OFF;
  private hostChangedAt = Number.NEGATIVE_INFINITY;
  private baselineUntil = Number.NEGATIVE_INFINITY;
  private pending: Pending | null = null;
  private readonly hookPulse: boolean;

  constructor(
    private readonly map: TelephonyMap,
    private readonly quirks: Quirks,
  ) {
    for (const source of [map.inputs, map.mirrorInputs]) {
      for (const [role, field] of source) {
        const list = this.byReport.get(field.reportId) ?? [];
        list.push([role, field]);
        this.byReport.set(field.reportId, list);
      }
    }
    const hook = map.inputs.get("hookSwitch") ?? map.mirrorInputs.get("hookSwitch");
    this.hookPulse =
      quirks.hookMode === "pulse" || (quirks.hookMode === "from-descriptor" && (hook?.relative ?? false));
  }

  /** The device was (re)opened and `pushed` written to it: forget every level. */
  opened(now: number, pushed: Indicators): void {
    this.prev.clear();
    this.lastFire.clear();
    this.pending = null;
    this.host = pushed;
    this.hostChangedAt = now;
    this.baselineUntil = now + this.quirks.baselineMs;
  }

  /** The host wrote these indicators: the echo guard and the ringing context follow them. */
  commanded(ind: Indicators, now: number): void {
    if (ind.offHook !== this.host.offHook) this.hostChangedAt = now;
    // A gesture in progress belongs to the ring; when the ring ends it is void.
    if (!ind.ring) this.pending = null;
    this.host = ind;
  }

  nextDeadline(): number | null {
    if (!this.pending) return null;
    if (this.pending.kind === "long-press" && this.pending.fired) return null;
    return this.pending.deadline;
  }

  /** Gestures whose time has come. */
  tick(now: number): HeadsetEvent[] {
    const p = this.pending;
    if (!p || now < p.deadline) return [];
    if (p.kind === "double-tap") {
      // One tap only: it was an answer.
      this.pending = null;
      return [button("hook_off")];
    }
    if (!p.fired) {
      p.fired = true;
      return [button("reject")];
    }
    return [];
  }

  /** Decodes one report as node-hid delivers it (`[reportId, ...payload]` when ids are used). */
  decode(report: Uint8Array, now: number): DecodeResult {
    const events: HeadsetEvent[] = [];
    const notes: string[] = [];
    if (report.length === 0) return { events, notes: ["empty report"] };
    const id = this.map.usesReportIds ? report[0]! : 0;
    const payload = this.map.usesReportIds ? report.subarray(1) : report;
    const fields = this.byReport.get(id);
    this.vendorReject(id, payload, now, events);
    if (!fields) {
      if (events.length === 0) notes.push(`report 0x${id.toString(16)} carries no call control`);
      return { events, notes };
    }
    for (const [role, field] of fields) {
      const value = readField(payload, field);
      if (value === undefined) continue; // short report: decode what arrived (§4.8)
      const active = isActive(role, field, value);
      if (role === "hookSwitch") this.hook(field, value, active, now, events, notes);
      else if (role === "phoneMute" && !field.relative) this.muteLevel(active, now, events, notes);
      else if (LEVEL_ROLES.has(role)) this.level(role, active, now, events, notes);
      else this.pulse(role, field, value, active, now, events, notes);
    }
    return { events, notes };
  }

  /** Records a button's new state; returns whether it was pressed before (edge detection). */
  private press(role: InputRole | "vendorReject", active: boolean): boolean {
    const was = (this.prev.get(role) ?? 0) !== 0;
    this.prev.set(role, active ? 1 : 0);
    return was;
  }

  private hook(
    field: TelephonyField,
    value: number,
    active: boolean,
    now: number,
    events: HeadsetEvent[],
    notes: string[],
  ): void {
    if (this.hookPulse) {
      const was = this.press("hookSwitch", active);
      const p = this.pending;
      if (!active) {
        // Release of a long press: short press answers, a fired long press was the reject.
        if (was && p?.kind === "long-press") {
          this.pending = null;
          if (!p.fired) events.push(button("hook_off"));
        }
        return;
      }
      if (was) return; // held: the same press reported again
      if (now - this.hostChangedAt < this.quirks.echoGuardMs) {
        notes.push("hook pulse inside the echo guard: acknowledgement of our Off-Hook write");
        return;
      }
      if (!this.debounced("hookSwitch", now)) {
        notes.push("duplicate hook pulse");
        return;
      }
      // An on/off button pair (Logical Min −1) says which way; a toggle button flips the host's state.
      const wantOffHook = field.logicalMin < 0 ? value > 0 : !this.host.offHook;
      if (wantOffHook === this.host.offHook) {
        notes.push("hook pulse asks for the state the host already has");
        return;
      }
      this.hookRequest(wantOffHook, now, events);
      return;
    }
    const level = active ? 1 : 0;
    let known = this.prev.get("hookSwitch");
    if (known === undefined) {
      if (now < this.baselineUntil) {
        this.prev.set("hookSwitch", level);
        notes.push(`hook baseline ${level}`);
        return;
      }
      // No report since open: the device follows what we pushed.
      known = this.host.offHook ? 1 : 0;
      this.prev.set("hookSwitch", known);
    }
    if (level === known) return; // duplicate level
    const p = this.pending;
    if (p?.kind === "double-tap") {
      // The second tap of a double tap while ringing, in whichever direction: reject.
      this.prev.set("hookSwitch", level);
      this.pending = null;
      events.push(button("reject"));
      return;
    }
    const wantOffHook = level === 1;
    if (wantOffHook === this.host.offHook) {
      this.prev.set("hookSwitch", level);
      notes.push(`hook ${level}: acknowledgement of the host's Off-Hook`);
      return;
    }
    if (now - this.hostChangedAt < this.quirks.echoGuardMs) {
      // Contrary to what we just wrote: a stale radio report (tSIP 822d5d5). Keep the old level.
      notes.push(`hook ${level} contrary to a fresh host command: stale report ignored`);
      return;
    }
    this.prev.set("hookSwitch", level);
    this.hookRequest(wantOffHook, now, events);
  }

  private hookRequest(wantOffHook: boolean, now: number, events: HeadsetEvent[]): void {
    if (!wantOffHook) {
      events.push(button("hook_on"));
      return;
    }
    const ringing = this.host.ring;
    if (ringing && this.quirks.rejectGesture === "double-tap") {
      if (this.pending?.kind === "double-tap") {
        this.pending = null;
        events.push(button("reject"));
      } else {
        this.pending = { kind: "double-tap", deadline: now + this.quirks.doubleTapMs };
      }
      return;
    }
    if (ringing && this.quirks.rejectGesture === "long-press" && this.hookPulse) {
      this.pending = { kind: "long-press", deadline: now + this.quirks.longPressMs, fired: false };
      return;
    }
    events.push(button("hook_off"));
  }

  private muteLevel(active: boolean, now: number, events: HeadsetEvent[], notes: string[]): void {
    // An absolute Phone Mute is a toggle switch: value = requested state (§2 OOC encodings).
    const level = active ? 1 : 0;
    const known = this.prev.get("phoneMute");
    this.prev.set("phoneMute", level);
    if (known === undefined && now < this.baselineUntil) return;
    if (known === level) return;
    if (active === this.host.mute) {
      notes.push("mute level equals the host's: acknowledgement");
      return;
    }
    events.push(button("mute"));
  }

  private level(
    role: InputRole,
    active: boolean,
    _now: number,
    events: HeadsetEvent[],
    notes: string[],
  ): void {
    const level = active ? 1 : 0;
    const known = this.prev.get(role);
    this.prev.set(role, level);
    if (known === level) return;
    if (role === "line") {
      // Line is only news when it changes; a first report of "up" is the normal state.
      if (known === undefined && active) return;
      events.push({ kind: "link", up: active });
    } else {
      notes.push(`${role} ${level}`);
    }
  }

  private pulse(
    role: InputRole,
    field: TelephonyField,
    value: number,
    active: boolean,
    now: number,
    events: HeadsetEvent[],
    notes: string[],
  ): void {
    const was = this.press(role, active);
    if (!active || was) return; // act on the 1 only, once per press
    if (!this.debounced(role, now)) {
      notes.push(`duplicate ${role} pulse`);
      return;
    }
    const ringing = this.host.ring;
    switch (role) {
      case "phoneMute":
        // An on/off pair (−1/+1) names the state; a toggle button flips it.
        if (field.logicalMin < 0 && value > 0 === this.host.mute) {
          notes.push("mute pulse asks for the state the host already has");
          return;
        }
        events.push(button("mute"));
        return;
      case "flash":
        events.push(button("flash"));
        return;
      case "redial":
        events.push(button("redial"));
        return;
      case "drop":
        // EPOS Drop: hang up, or reject while ringing (reference §2, ours).
        events.push(button(ringing ? "reject" : "hook_on"));
        return;
      case "programmable":
        events.push(button(ringing && this.quirks.rejectGesture === "button" ? "reject" : "programmable"));
        return;
      default:
        notes.push(`${role} pressed (no desk meaning)`);
    }
  }

  private vendorReject(id: number, payload: Uint8Array, now: number, events: HeadsetEvent[]): void {
    const vb = this.quirks.rejectVendorBit;
    if (this.quirks.rejectGesture !== "vendor-bit" || !vb || vb.reportId !== id) return;
    const byte = payload[vb.bit >> 3];
    if (byte === undefined) return;
    const active = ((byte >> (vb.bit & 7)) & 1) === 1;
    const was = this.press("vendorReject", active);
    if (active && !was && this.host.ring && this.debounced("vendorReject", now))
      events.push(button("reject"));
  }

  private debounced(key: string, now: number): boolean {
    const last = this.lastFire.get(key);
    if (last !== undefined && now - last < this.quirks.debounceMs) return false;
    this.lastFire.set(key, now);
    return true;
  }
}

function button(b: HeadsetButton): HeadsetEvent {
  return { kind: "button", button: b };
}

/**
 * A field's value, LSB first, sign-extended when Logical Minimum < 0; undefined when the report
 * is too short to hold it.
 */
export function readField(payload: Uint8Array, f: TelephonyField): number | undefined {
  const last = f.bit + f.size - 1;
  if (f.size === 0 || last >> 3 >= payload.length) return undefined;
  let v = 0;
  for (let k = 0; k < f.size; k++) {
    const bit = f.bit + k;
    if ((payload[bit >> 3]! >> (bit & 7)) & 1) v += 2 ** k;
  }
  if (f.logicalMin < 0 && f.size < 32 && v >= 2 ** (f.size - 1)) v -= 2 ** f.size;
  return v;
}

function isActive(role: InputRole, f: TelephonyField, value: number): boolean {
  if (!f.array) return value !== 0;
  // Array: the element holds an index into the usage list; 0 / out of range = nothing pressed.
  if (value === 0 || value < f.logicalMin || value > f.logicalMax) return false;
  const k = value - f.logicalMin;
  const u = f.array.usages[k];
  const alt = f.array.altUsages[k];
  if (role === "programmable") {
    return (
      (u !== undefined && PROGRAMMABLE_USAGES.includes(u)) ||
      (alt !== undefined && PROGRAMMABLE_USAGES.includes(alt))
    );
  }
  return u !== undefined && u !== TEL.keypad;
}
