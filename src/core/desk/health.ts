/** Health (transition 14): what the sides report about themselves, and a reloaded config. */
import type { HealthInput, Policy } from "../types.js";
import type { Step } from "./step.js";

export function health(s: Step, input: HealthInput): void {
  const h = s.state.health;
  if ("fault" in input) return fault(s, input.side, input.fault);
  if (input.side === "sip") {
    if (h.sip !== input.sip || h.sipReason !== input.reason)
      s.set({ health: { ...h, sip: input.sip, sipReason: input.reason } });
    return;
  }
  if (h[input.side] !== input.up) s.set({ health: { ...h, [input.side]: input.up } });
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
