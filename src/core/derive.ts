/** Facts derived from the desk state, never stored (so they can never disagree with it). */
import type { DeskState } from "./types.js";

/**
 * The switchboard routes queue calls only to routable desks: available, idle, registered, and
 * with a headset when one is configured (reference/mqtt-and-agent-state.md § 8).
 */
export function routable(state: DeskState): boolean {
  return (
    state.status === "available" &&
    state.activity === "idle" &&
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
  if (state.activity !== "wrap_up" || state.wrapUpUntil === null) return null;
  return Math.max(0, Math.ceil((state.wrapUpUntil - now) / 1000));
}
