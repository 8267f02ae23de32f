/**
 * Commands (ctl, MQTT, LCD keys, headset buttons): status changes go to status.ts; call commands
 * become SIP actions, refused with a typed error when they cannot apply (the state is unchanged).
 */
import { activity, lineCall } from "../derive.js";
import type { Command, Line, Origin } from "../types.js";
import { setCall, toIdle } from "./calls.js";
import { login, logout, pause, unpause } from "./status.js";
import type { Step } from "./step.js";

export function command(s: Step, c: Command, origin: Origin): void {
  switch (c.cmd) {
    case "login":
      return login(s, origin);
    case "logout":
      return logout(s, origin);
    case "pause":
      return pause(s, c.reason, origin);
    case "unpause":
      return unpause(s, origin);
    case "ready":
      return ready(s);
    case "answer":
    case "reject":
    case "hangup":
      return callAction(s, c.cmd);
    case "mute":
      return mute(s, c.on);
    case "hold":
      return hold(s, c.on);
    case "transfer":
      return transfer(s, c.target);
    case "dial":
      return dial(s, c.target);
    case "dtmf":
      return dtmf(s, c.digits);
  }
}

/** 12: ends wrap-up early; from not_responding it also clears the miss at once. */
function ready(s: Step): void {
  const kind = s.state.line.kind;
  if (kind === "wrap_up" || kind === "not_responding") {
    s.effect({ type: "cancel_timer", timer: kind });
    return toIdle(s);
  }
  s.refuse("bad_state", `nothing to end: activity is ${activity(s.state)}`);
}

function needSip(s: Step): boolean {
  if (s.state.policy.sides.sip) return true;
  s.refuse("not_available", "no SIP account is configured on this desk (sip section)");
  return false;
}

function callAction(s: Step, action: "answer" | "reject" | "hangup"): void {
  if (!needSip(s)) return;
  const call = lineCall(s.state.line);
  if (!call) return s.refuse("no_call", "there is no call");
  const ringing = s.state.line.kind === "ringing";
  if (action === "answer") {
    if (!ringing) return s.refuse("bad_state", `the call is not ringing (${activity(s.state)})`);
    return s.effect({ type: "sip", action: "answer", callId: call.id });
  }
  if (action === "reject") {
    if (!ringing) return s.refuse("bad_state", "only a ringing call can be rejected; hang up instead");
    return s.effect({ type: "sip", action: "reject", callId: call.id, code: 603 });
  }
  s.effect({ type: "sip", action: "hangup", callId: call.id });
}

type OnCall = Extract<Line, { kind: "on_call" }>;

/** The answered call a command needs, or a refusal. */
function onCall(s: Step): OnCall | undefined {
  if (!needSip(s)) return undefined;
  const line = s.state.line;
  if (line.kind === "on_call") return line;
  s.refuse("no_call", "there is no answered call");
  return undefined;
}

function mute(s: Step, on: boolean | undefined): void {
  const line = onCall(s);
  if (!line) return;
  const muted = on ?? !line.call.muted;
  if (muted !== line.call.muted) setCall(s, { ...line.call, muted });
}

/** 10: hold or resume asked; the far end's confirmation (call_held) makes it so. */
function hold(s: Step, on: boolean | undefined): void {
  const line = onCall(s);
  if (!line) return;
  const local = line.hold.local;
  const wanted = local === "holding" || local === "held";
  const want = on ?? !wanted;
  if (want === wanted) return;
  const next = want ? (local === "off" ? "holding" : "held") : local === "held" ? "resuming" : "off";
  s.line({ ...line, hold: { ...line.hold, local: next } });
  s.effect({ type: "sip", action: "hold", callId: line.call.id, on: want });
}

const URI = /^(sips?|tel):[^\s<>"]+$/i;
const NUMBER = /^\+?[0-9*#]{1,32}$/;

function resolveTarget(s: Step, target: string): string | undefined {
  const t = target.trim();
  const named = s.state.policy.transferTargets[t];
  if (named) return named;
  if (URI.test(t) || NUMBER.test(t)) return t;
  const names = Object.keys(s.state.policy.transferTargets);
  s.refuse(
    "bad_target",
    `"${target}" is neither a transfer target name (${names.join(", ") || "none configured"}) nor a SIP URI or number`,
  );
  return undefined;
}

function transfer(s: Step, target: string): void {
  const line = onCall(s);
  if (!line) return;
  const uri = resolveTarget(s, target);
  if (uri === undefined) return;
  const call = line.call;
  if (call.transferTarget) return s.refuse("bad_state", `a transfer to ${call.transferTarget} is under way`);
  setCall(s, { ...call, transferTarget: uri });
  s.effect({ type: "sip", action: "transfer", callId: call.id, target: uri });
}

function dial(s: Step, target: string): void {
  if (!needSip(s)) return;
  const uri = resolveTarget(s, target);
  if (uri === undefined) return;
  if (lineCall(s.state.line)) return s.refuse("bad_state", "a call is already in progress");
  if (s.state.line.kind === "wrap_up") s.effect({ type: "cancel_timer", timer: "wrap_up" });
  s.effect({ type: "sip", action: "dial", target: uri });
}

const DTMF = /^[0-9*#A-Da-d]{1,64}$/;

function dtmf(s: Step, digits: string): void {
  const line = onCall(s);
  if (!line) return;
  if (!DTMF.test(digits)) return s.refuse("bad_digits", `"${digits}": DTMF digits are 0-9 * # A-D`);
  s.effect({ type: "sip", action: "dtmf", callId: line.call.id, digits: digits.toUpperCase() });
}
