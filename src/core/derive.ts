/** Facts derived from the desk state, never stored (so they can never disagree with it). */
import type { Activity, Call, DeskState, Hold, Line } from "./types.js";

/** The activity the views show (presence, LCD, headset): the line, with a held call `on_hold`. */
export function activity(state: DeskState): Activity {
  const line = state.line;
  if (line.kind === "on_call" && heldLocally(line.hold)) return "on_hold";
  return line.kind;
}

/** The desk's call while it has one (ringing, outbound or on a call), else null. */
export function currentCall(state: DeskState): Call | null {
  return lineCall(state.line);
}

export function lineCall(line: Line): Call | null {
  return line.kind === "ringing" || line.kind === "outbound" || line.kind === "on_call" ? line.call : null;
}

/** The hold of an answered call, null otherwise. */
export function callHold(state: DeskState): Hold | null {
  return state.line.kind === "on_call" ? state.line.hold : null;
}

/** Held by us as the far end confirmed it (a resume not yet confirmed is still held). */
export function heldLocally(hold: Hold): boolean {
  // `?.`: the views draw whatever they are given, a malformed state included (lcd tests).
  return hold?.local === "held" || hold?.local === "resuming";
}

/** Held by us (confirmed), for the views. */
export function held(state: DeskState): boolean {
  const hold = callHold(state);
  return hold !== null && heldLocally(hold);
}

/** Held by the far end, for the views. */
export function remoteHeld(state: DeskState): boolean {
  return callHold(state)?.remote ?? false;
}

/** When the current activity began (ms). */
export function activitySince(state: DeskState): number {
  return state.line.since;
}

/** End of wrap-up (ms) while in wrap-up, else null. */
export function wrapUpUntil(state: DeskState): number | null {
  return state.line.kind === "wrap_up" ? state.line.until : null;
}

/**
 * The switchboard routes queue calls only to routable desks: available, idle, registered, and
 * with a headset when one is configured (reference/mqtt-and-agent-state.md § 8).
 */
export function routable(state: DeskState): boolean {
  return (
    state.status === "available" &&
    state.line.kind === "idle" &&
    state.health.sip === "registered" &&
    state.health.headset !== false
  );
}

/** Whole seconds between two instants, never negative. */
export function secondsBetween(from: number, to: number): number {
  return Math.max(0, Math.floor((to - from) / 1000));
}

/** Seconds of wrap-up left, rounded up (the LCD counts 30, 29 ... 1). */
export function wrapUpLeft(state: DeskState, now: number): number | null {
  const until = wrapUpUntil(state);
  return until === null ? null : Math.max(0, Math.ceil((until - now) / 1000));
}
