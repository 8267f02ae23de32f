/**
 * The desk core: `step(state, input, now) → { state, effects, error? }`. Pure: no I/O, no clock,
 * no timers (timers are effects out and `timer_fired` inputs in). The agent model and its
 * transitions are those of reference/mqtt-and-agent-state.md § 8 (numbers in comments refer to
 * its transition table). By concern:
 *
 * - desk/status.ts   login, pause, unpause, logout, and what waits for the end of a call
 * - desk/commands.ts commands (ctl, MQTT, LCD) → status changes and SIP actions
 * - desk/buttons.ts  headset buttons → commands
 * - desk/calls.ts    the line: offers, answers, hold, transfers, ends, timers, restart
 * - desk/health.ts   what the sides report about themselves; a reloaded config
 *
 * Inputs from noisy sides (a hook-off while nothing rings, a late `call_answered` for a call that
 * is gone) are ignored; commands that cannot apply are refused with a typed error and leave the
 * state unchanged. `seq` grows by one on every step that changes the state.
 */
import { button } from "./desk/buttons.js";
import {
  answered,
  dialling,
  encryptionChanged,
  ended,
  held,
  offered,
  restarted,
  timer,
  transferred,
} from "./desk/calls.js";
import { command } from "./desk/commands.js";
import { health, policyChanged } from "./desk/health.js";
import type { PersistedStatus } from "./desk/status.js";
import { Step } from "./desk/step.js";
import type { AgentStatus, DeskInput, DeskState, Policy, StepResult } from "./types.js";

export type { PersistedStatus } from "./desk/status.js";

export function step(state: DeskState, input: DeskInput, now: number): StepResult {
  const s = new Step(state, now);
  apply(s, input);
  if (s.error) return { state, effects: [], error: s.error };
  if (s.state === state) return { state, effects: s.effects };
  return { state: { ...s.state, seq: state.seq + 1 }, effects: s.effects };
}

function apply(s: Step, i: DeskInput): void {
  switch (i.type) {
    case "command":
      return command(s, i.command, i.origin);
    case "button":
      return button(s, i.button);
    case "call_offered":
      return offered(s, i);
    case "call_dialling":
      return dialling(s, i.callId, i.target);
    case "call_answered":
      return answered(s, i.callId, i.encryption);
    case "call_held":
      return held(s, i.callId, i.by, i.held);
    case "call_encryption":
      return encryptionChanged(s, i.callId, i.encryption);
    case "call_transferred":
      return transferred(s, i.callId, i.target, i.ok, i.detail, i.by);
    case "call_ended":
      return ended(s, i.callId, i.reason, i.stats, i.detail, i.followedBy);
    case "health":
      return health(s, i);
    case "queue_stats":
      return s.set({ queues: i.stats === null ? null : { ...i.stats, receivedAt: s.now } });
    case "timer_fired":
      return timer(s, i.timer);
    case "desk_restarted":
      return restarted(s, i.previous, i.openCall);
    case "policy_changed":
      return policyChanged(s, i.policy);
  }
}

/**
 * The state at boot (transition 1). A desk never comes back `available` on its own after a
 * restart or a crash: it comes back paused ("restart") so the operator confirms they are there;
 * a paused or logged-out desk keeps what it was.
 */
export function initialState(
  policy: Policy,
  now: number,
  persisted: PersistedStatus | null = null,
  /**
   * Where `seq` starts: above every seq an earlier run used (state-dir/seq-reserve.ts, app.ts), so
   * the presence document's seq keeps growing across restarts. 0 for tests and tools.
   */
  seqBase = 0,
): DeskState {
  let status: AgentStatus = "logged_out";
  let reason: string | null = null;
  if (persisted?.status === "available") {
    status = "paused";
    reason = "restart";
  } else if (persisted?.status === "paused") {
    status = "paused";
    reason = persisted.reason ?? "restart";
  }
  return {
    status,
    reason,
    statusSince: now,
    line: { kind: "idle", since: now },
    pending: null,
    missed: 0,
    queues: null,
    health: {
      sip: policy.sides.sip ? "unregistered" : "not_configured",
      sipReason: null,
      headset: policy.sides.headset ? false : null,
      lcd: policy.sides.lcd ? false : null,
      mqtt: policy.sides.mqtt ? false : null,
      faults: {},
    },
    seq: seqBase,
    policy,
  };
}
