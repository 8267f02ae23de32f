/** The agent's status (transitions 2, 3, 4, 5, 16): login, pause, unpause, logout, pending. */
import type { AgentStatus, Origin } from "../types.js";
import type { Step } from "./step.js";

/** The status saved across restarts (state_dir). */
export interface PersistedStatus {
  readonly status: AgentStatus;
  readonly reason: string | null;
}

/** A call is up: a pause or logout asked now waits for its end (`pending`). */
function inCall(s: Step): boolean {
  const kind = s.state.line.kind;
  return kind === "on_call" || kind === "outbound";
}

export function setStatus(s: Step, status: AgentStatus, reason: string | null, origin: Origin): void {
  const prev = s.state;
  if (prev.status === status && prev.reason === reason) return;
  s.set({ status, reason, statusSince: s.now, pending: null });
  // A manual unpause forgives the missed offers that auto-paused the desk.
  if (status === "available") s.set({ missed: 0 });
  s.event({
    type: "status.changed",
    status,
    reason,
    previous_status: prev.status,
    previous_reason: prev.reason,
    origin,
  });
  s.effect({ type: "persist_status", status, reason });
}

function pauseReason(s: Step, asked: string | undefined): string | undefined {
  const reasons = s.state.policy.pauseReasons;
  if (asked === undefined) return reasons[0] ?? "break";
  if (reasons.includes(asked)) return asked;
  s.refuse(
    "bad_reason",
    `unknown pause reason "${asked}": expected one of ${reasons.join(", ") || "(none)"}`,
  );
  return undefined;
}

export function login(s: Step, origin: Origin): void {
  const st = s.state;
  // Transition 2; a pending logout asked during the call is withdrawn.
  if (st.pending) return s.set({ pending: null });
  if (st.status === "logged_out") setStatus(s, "available", null, origin);
}

export function logout(s: Step, origin: Origin): void {
  if (inCall(s)) return s.set({ pending: { status: "logged_out" } }); // 5, 16
  setStatus(s, "logged_out", null, origin);
}

export function pause(s: Step, asked: string | undefined, origin: Origin): void {
  const reason = pauseReason(s, asked);
  if (reason === undefined) return;
  if (s.state.status === "logged_out") return s.refuse("bad_state", "logged out: log in first");
  if (inCall(s)) return s.set({ pending: { status: "paused", reason } }); // 5
  setStatus(s, "paused", reason, origin); // 3
}

export function unpause(s: Step, origin: Origin): void {
  const st = s.state;
  if (st.pending?.status === "paused") return s.set({ pending: null });
  if (st.status !== "paused") return s.refuse("bad_state", `not paused (status is ${st.status})`);
  setStatus(s, "available", null, origin); // 4
}

/** At the end of a call: what was asked during it applies now. */
export function applyPending(s: Step): void {
  const p = s.state.pending;
  if (!p) return;
  if (p.status === "paused") setStatus(s, "paused", p.reason, "policy");
  else setStatus(s, "logged_out", null, "policy");
}
