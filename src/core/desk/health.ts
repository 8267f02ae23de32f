/** Health (transition 14): what the sides report about themselves, and a reloaded config. */
import type { AudioXruns, HealthInput, Policy } from "../types.js";
import type { Step } from "./step.js";

/** Underruns and overruns in a minute from which the call's audio is degraded (not a one-off). */
export const AUDIO_DEGRADED_XRUNS = 3;

export function health(s: Step, input: HealthInput): void {
  const h = s.state.health;
  if ("fault" in input) return fault(s, input.side, input.fault);
  if ("xruns" in input) return xruns(s, input.xruns, input.callId);
  if (input.side === "sip") {
    if (h.sip !== input.sip || h.sipReason !== input.reason)
      s.set({ health: { ...h, sip: input.sip, sipReason: input.reason } });
    return;
  }
  if (h[input.side] !== input.up) s.set({ health: { ...h, [input.side]: input.up } });
}

/**
 * The call's sound card: its xruns, and degraded while they repeat. A card closing clears it only
 * if it is the one shown (a call transferred to us opens its card before the old call closes).
 */
function xruns(s: Step, x: AudioXruns | null, closedCall: string | undefined): void {
  const h = s.state.health;
  if (x === null) {
    if (!h.audio || (closedCall !== undefined && h.audio.callId !== closedCall)) return;
    const { audio: _gone, ...rest } = h;
    return s.set({ health: rest });
  }
  const a = h.audio;
  if (
    a &&
    a.callId === x.callId &&
    a.underruns === x.underruns &&
    a.overruns === x.overruns &&
    a.lastMinute === x.lastMinute
  )
    return;
  const audio = {
    callId: x.callId,
    underruns: x.underruns,
    overruns: x.overruns,
    lastMinute: x.lastMinute,
    degraded: x.lastMinute >= AUDIO_DEGRADED_XRUNS,
  };
  s.set({ health: { ...h, audio } });
}

function fault(s: Step, side: string, message: string | null): void {
  const faults = s.state.health.faults;
  if (message === null) {
    if (!(side in faults)) return;
    const { [side]: _gone, ...rest } = faults;
    return s.set({ health: { ...s.state.health, faults: rest } });
  }
  if (faults[side] === message) return;
  s.set({ health: { ...s.state.health, faults: { ...faults, [side]: message } } });
}

/** A reloaded config: sides that appear start unknown/absent, sides that go are not configured. */
export function policyChanged(s: Step, policy: Policy): void {
  const h = s.state.health;
  const was = s.state.policy.sides;
  const now = policy.sides;
  const side = <T>(had: boolean, has: boolean, current: T, absent: T, unknown: T): T =>
    had === has ? current : has ? unknown : absent;
  s.set({
    policy,
    health: {
      ...h,
      sip: side(was.sip, now.sip, h.sip, "not_configured", "unregistered"),
      sipReason: was.sip === now.sip ? h.sipReason : null,
      headset: side(was.headset, now.headset, h.headset, null, false),
      lcd: side(was.lcd, now.lcd, h.lcd, null, false),
      mqtt: side(was.mqtt, now.mqtt, h.mqtt, null, false),
    },
  });
}
