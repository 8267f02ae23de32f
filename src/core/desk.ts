/**
 * The desk core: `step(state, input, now) → { state, effects, error? }`. Pure: no I/O, no clock,
 * no timers (timers are effects out and `timer_fired` inputs in). The agent model and its
 * transitions are those of reference/mqtt-and-agent-state.md § 8 (numbers in comments refer to
 * its transition table).
 *
 * Inputs from noisy sides (a hook-off while nothing rings, a late `call_answered` for a call that
 * is gone) are ignored; commands that cannot apply are refused with a typed error and leave the
 * state unchanged. `seq` grows by one on every step that changes the state.
 */
import { secondsBetween } from "./derive.js";
import type {
  Activity,
  AgentStatus,
  Call,
  Command,
  CommandError,
  DeskEvent,
  DeskInput,
  DeskState,
  Effect,
  EndReason,
  ErrorCode,
  HeadsetButton,
  MediaStats,
  OpenCallRecord,
  Origin,
  Policy,
  StepResult,
} from "./types.js";

/** Reasons the desk itself pauses with; they need not be listed in policy.pause_reasons. */
export const SYSTEM_PAUSE_REASONS = ["missed", "restart"] as const;

export interface PersistedStatus {
  readonly status: AgentStatus;
  readonly reason: string | null;
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
   * Where `seq` starts: above every seq an earlier run used (store/seq-reserve.ts, app.ts), so
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
    activity: "idle",
    activitySince: now,
    wrapUpUntil: null,
    call: null,
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

/** What one step produces while it is being computed. */
class Step {
  effects: Effect[] = [];
  error: CommandError | undefined;
  constructor(
    public state: DeskState,
    readonly now: number,
  ) {}

  set(patch: Partial<DeskState>): void {
    this.state = { ...this.state, ...patch };
  }
  effect(e: Effect): void {
    this.effects.push(e);
  }
  event(e: DeskEvent): void {
    this.effects.push({ type: "event", event: e });
  }
  refuse(code: ErrorCode, message: string): void {
    this.error = { code, message };
  }
}

export function step(state: DeskState, input: DeskInput, now: number): StepResult {
  const s = new Step(state, now);
  apply(s, input);
  if (s.error) return { state, effects: [], error: s.error };
  if (s.state === state) return { state, effects: s.effects };
  return { state: { ...s.state, seq: state.seq + 1 }, effects: s.effects };
}

function apply(s: Step, input: DeskInput): void {
  switch (input.type) {
    case "command":
      return command(s, input.command, input.origin);
    case "button":
      return button(s, input.button);
    case "call_offered":
      return offered(s, input);
    case "call_dialling":
      return dialling(s, input.callId, input.target);
    case "call_answered":
      return answered(s, input.callId);
    case "call_held":
      return held(s, input.callId, input.by, input.held);
    case "call_transferred":
      return transferred(s, input.callId, input.target, input.ok, input.detail, input.by);
    case "call_ended":
      return ended(s, input.callId, input.reason, input.stats, input.detail, input.followedBy);
    case "registration_changed":
      if (s.state.health.sip !== input.sip || s.state.health.sipReason !== input.reason)
        s.set({ health: { ...s.state.health, sip: input.sip, sipReason: input.reason } });
      return;
    case "headset_changed":
      if (s.state.health.headset !== input.present)
        s.set({ health: { ...s.state.health, headset: input.present } });
      return;
    case "lcd_changed":
      if (s.state.health.lcd !== input.present) s.set({ health: { ...s.state.health, lcd: input.present } });
      return;
    case "mqtt_changed":
      if (s.state.health.mqtt !== input.connected)
        s.set({ health: { ...s.state.health, mqtt: input.connected } });
      return;
    case "side_fault":
      return fault(s, input.side, input.message);
    case "queue_stats":
      return s.set({ queues: input.stats === null ? null : { ...input.stats, receivedAt: s.now } });
    case "timer_fired":
      return timer(s, input.timer);
    case "desk_restarted":
      return restarted(s, input.previous, input.openCall);
    case "policy_changed":
      return policyChanged(s, input.policy);
  }
}

/** A reloaded config: sides that appear start unknown/absent, sides that go are not configured. */
function policyChanged(s: Step, policy: Policy): void {
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

// ── agent status ───────────────────────────────────────────────────────────────────────────────

const IN_CALL: ReadonlySet<Activity> = new Set(["on_call", "on_hold", "outbound"]);

function setStatus(s: Step, status: AgentStatus, reason: string | null, origin: Origin): void {
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

function command(s: Step, c: Command, origin: Origin): void {
  const st = s.state;
  switch (c.cmd) {
    case "login":
      // Transition 2; a pending logout asked during the call is withdrawn.
      if (st.pending) return s.set({ pending: null });
      if (st.status === "logged_out") setStatus(s, "available", null, origin);
      return;
    case "logout":
      if (IN_CALL.has(st.activity)) return s.set({ pending: { status: "logged_out" } }); // 5, 16
      return setStatus(s, "logged_out", null, origin);
    case "pause": {
      const reason = pauseReason(s, c.reason);
      if (reason === undefined) return;
      if (st.status === "logged_out") return s.refuse("bad_state", "logged out: log in first");
      if (IN_CALL.has(st.activity)) return s.set({ pending: { status: "paused", reason } }); // 5
      return setStatus(s, "paused", reason, origin); // 3
    }
    case "unpause":
      if (st.pending?.status === "paused") return s.set({ pending: null });
      if (st.status !== "paused") return s.refuse("bad_state", `not paused (status is ${st.status})`);
      return setStatus(s, "available", null, origin); // 4
    case "ready":
      // 12: ends wrap-up early; from not_responding it also clears the miss at once.
      if (st.activity === "wrap_up" || st.activity === "not_responding") {
        s.effect({ type: "cancel_timer", timer: st.activity === "wrap_up" ? "wrap_up" : "not_responding" });
        return toIdle(s);
      }
      return s.refuse("bad_state", `nothing to end: activity is ${st.activity}`);
    case "answer":
      return callAction(s, "answer");
    case "reject":
      return callAction(s, "reject");
    case "hangup":
      return callAction(s, "hangup");
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

// ── calls ──────────────────────────────────────────────────────────────────────────────────────

function needSip(s: Step): boolean {
  if (s.state.policy.sides.sip) return true;
  s.refuse("not_available", "no SIP account is configured on this desk (sip section)");
  return false;
}

function callAction(s: Step, action: "answer" | "reject" | "hangup"): void {
  if (!needSip(s)) return;
  const { call, activity } = s.state;
  if (!call) return s.refuse("no_call", "there is no call");
  if (action === "answer") {
    if (activity !== "ringing") return s.refuse("bad_state", `the call is not ringing (${activity})`);
    return s.effect({ type: "sip", action: "answer", callId: call.id });
  }
  if (action === "reject") {
    if (activity !== "ringing")
      return s.refuse("bad_state", "only a ringing call can be rejected; hang up instead");
    return s.effect({ type: "sip", action: "reject", callId: call.id, code: 603 });
  }
  s.effect({ type: "sip", action: "hangup", callId: call.id });
}

function activeCall(s: Step): Call | undefined {
  if (!needSip(s)) return undefined;
  const { call, activity } = s.state;
  if (!call || (activity !== "on_call" && activity !== "on_hold")) {
    s.refuse("no_call", "there is no answered call");
    return undefined;
  }
  return call;
}

function mute(s: Step, on: boolean | undefined): void {
  const call = activeCall(s);
  if (!call) return;
  const muted = on ?? !call.muted;
  if (muted !== call.muted) s.set({ call: { ...call, muted } });
}

function hold(s: Step, on: boolean | undefined): void {
  const call = activeCall(s);
  if (!call) return;
  const want = on ?? !(call.holdRequested ?? call.held);
  if (want === (call.holdRequested ?? call.held)) return;
  s.set({ call: { ...call, holdRequested: want } });
  s.effect({ type: "sip", action: "hold", callId: call.id, on: want });
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
  const call = activeCall(s);
  if (!call) return;
  const uri = resolveTarget(s, target);
  if (uri === undefined) return;
  if (call.transferTarget) return s.refuse("bad_state", `a transfer to ${call.transferTarget} is under way`);
  s.set({ call: { ...call, transferTarget: uri } });
  s.effect({ type: "sip", action: "transfer", callId: call.id, target: uri });
}

function dial(s: Step, target: string): void {
  if (!needSip(s)) return;
  const uri = resolveTarget(s, target);
  if (uri === undefined) return;
  if (s.state.call) return s.refuse("bad_state", "a call is already in progress");
  if (s.state.activity === "wrap_up") s.effect({ type: "cancel_timer", timer: "wrap_up" });
  s.effect({ type: "sip", action: "dial", target: uri });
}

const DTMF = /^[0-9*#A-Da-d]{1,64}$/;

function dtmf(s: Step, digits: string): void {
  const call = activeCall(s);
  if (!call) return;
  if (!DTMF.test(digits)) return s.refuse("bad_digits", `"${digits}": DTMF digits are 0-9 * # A-D`);
  s.effect({ type: "sip", action: "dtmf", callId: call.id, digits: digits.toUpperCase() });
}

type Offer = Extract<DeskInput, { type: "call_offered" }>;

function newCall(
  id: string,
  direction: Call["direction"],
  now: number,
  facts: Partial<Pick<Call, "number" | "displayName" | "queue" | "language" | "service">>,
): Call {
  return {
    id,
    direction,
    number: facts.number ?? null,
    displayName: facts.displayName ?? null,
    queue: facts.queue ?? null,
    language: facts.language ?? null,
    service: facts.service ?? null,
    offeredAt: now,
    answeredAt: null,
    muted: false,
    held: false,
    remoteHeld: false,
    holdRequested: null,
    transferTarget: null,
  };
}

/** Activities in which a new call may ring: wrap-up and not_responding give way to it. */
const CAN_RING: ReadonlySet<Activity> = new Set(["idle", "wrap_up", "not_responding"]);

function offered(s: Step, o: Offer): void {
  const st = s.state;
  if (st.call || !CAN_RING.has(st.activity)) {
    // Call waiting comes later: a second call while busy is refused busy.
    return s.effect({ type: "sip", action: "reject", callId: o.callId, code: 486 });
  }
  if (st.activity === "wrap_up") s.effect({ type: "cancel_timer", timer: "wrap_up" });
  if (st.activity === "not_responding") s.effect({ type: "cancel_timer", timer: "not_responding" });
  const call = newCall(o.callId, "inbound", s.now, {
    number: o.number,
    displayName: o.displayName,
    queue: o.queue,
    language: o.language,
    service: o.service,
  });
  s.set({ call, activity: "ringing", activitySince: s.now, wrapUpUntil: null }); // 6
  s.event({
    type: "call.offered",
    call_id: o.callId,
    direction: "inbound",
    number: o.number,
    name: o.displayName,
    queue: o.queue,
    language: o.language,
    service: o.service,
  });
  if (st.policy.autoAnswer || o.autoAnswer) {
    s.effect({ type: "sip", action: "answer", callId: o.callId });
  } else if (st.policy.ringTimeoutSeconds > 0) {
    s.effect({ type: "start_timer", timer: "ring", ms: st.policy.ringTimeoutSeconds * 1000 });
  }
}

function dialling(s: Step, callId: string, target: string): void {
  const st = s.state;
  if (st.call) return; // the SIP side dialled while a call appeared: it will be ended by the SIP side
  const call = newCall(callId, "outbound", s.now, { number: target });
  if (st.activity === "wrap_up") s.effect({ type: "cancel_timer", timer: "wrap_up" });
  s.set({ call, activity: "outbound", activitySince: s.now, wrapUpUntil: null }); // 13
  outboundOffered(s, callId, target);
}

/** The `call.offered` of a call the desk places (dialled, or the far end's transfer followed). */
function outboundOffered(s: Step, callId: string, target: string): void {
  s.event({
    type: "call.offered",
    call_id: callId,
    direction: "outbound",
    number: target,
    name: null,
    queue: null,
    language: null,
    service: null,
  });
}

function answered(s: Step, callId: string): void {
  const { call } = s.state;
  if (!call || call.id !== callId || call.answeredAt !== null) return;
  if (call.direction === "inbound") s.effect({ type: "cancel_timer", timer: "ring" });
  s.set({
    call: { ...call, answeredAt: s.now },
    activity: "on_call",
    activitySince: s.now,
    missed: call.direction === "inbound" ? 0 : s.state.missed,
  }); // 7
  s.event({
    type: "call.answered",
    call_id: callId,
    direction: call.direction,
    ring_time: secondsBetween(call.offeredAt, s.now),
  });
}

function held(s: Step, callId: string, by: "local" | "remote", on: boolean): void {
  const { call, activity } = s.state;
  if (!call || call.id !== callId || call.answeredAt === null) return;
  if (by === "remote") {
    if (call.remoteHeld !== on) s.set({ call: { ...call, remoteHeld: on } });
    return;
  }
  const next = { ...call, held: on, holdRequested: null };
  const nextActivity: Activity = on ? "on_hold" : "on_call"; // 10
  if (next.held === call.held && call.holdRequested === null && activity === nextActivity) return;
  s.set({
    call: next,
    ...(activity !== nextActivity ? { activity: nextActivity, activitySince: s.now } : {}),
  });
}

function transferred(
  s: Step,
  callId: string,
  target: string,
  ok: boolean,
  detail: string | null,
  by: "local" | "remote",
): void {
  const { call } = s.state;
  if (!call || call.id !== callId) return;
  s.event({ type: "call.transferred", call_id: callId, target, ok, detail, by });
  // On success the SIP side ends the call (reason "transferred", followed by the new call when the
  // far end transferred us); on failure the operator keeps it. A remote transfer is not ours: it
  // leaves the operator's own transfer state alone.
  if (!ok && by === "local") s.set({ call: { ...call, transferTarget: null } });
}

function ended(
  s: Step,
  callId: string,
  reason: EndReason,
  stats: MediaStats | null,
  detail: string | null,
  followedBy?: { readonly callId: string; readonly target: string },
): void {
  const st = s.state;
  const call = st.call;
  if (!call || call.id !== callId) return;
  const wasRinging = st.activity === "ringing";
  const talked = call.answeredAt !== null;
  s.effect({ type: "cancel_timer", timer: "ring" });
  s.event(endedEvent(call, reason, s.now, stats, detail));
  s.set({ call: null });

  if (talked && followedBy) return takeOver(s, followedBy.callId, followedBy.target);

  if (talked) {
    // 11: wrap-up after every answered call, then what was asked during the call applies.
    const wrap = st.policy.wrapUpSeconds;
    if (wrap > 0) {
      s.set({ activity: "wrap_up", activitySince: s.now, wrapUpUntil: s.now + wrap * 1000 });
      s.effect({ type: "start_timer", timer: "wrap_up", ms: wrap * 1000 });
    } else toIdle(s);
    applyPending(s);
    return;
  }
  if (wasRinging && call.direction === "inbound" && reason === "cancelled") return missedOffer(s); // 8
  toIdle(s); // 9 (rejected), failed dial, failed answer
}

/**
 * The far end transferred the desk (incoming REFER) and the SIP side's new outbound call to
 * `target` is up: the desk goes on with it, an outbound call answered now. No wrap-up in between,
 * and what was asked during the call (`pending`) still waits for the end of this one.
 */
function takeOver(s: Step, callId: string, target: string): void {
  const call = { ...newCall(callId, "outbound", s.now, { number: target }), answeredAt: s.now };
  s.set({ call, activity: "on_call", activitySince: s.now, wrapUpUntil: null });
  outboundOffered(s, callId, target);
  s.event({ type: "call.answered", call_id: callId, direction: "outbound", ring_time: 0 });
}

function endedEvent(
  call: Call,
  reason: EndReason,
  now: number,
  stats: MediaStats | null,
  detail: string | null,
): DeskEvent {
  return {
    type: "call.ended",
    call_id: call.id,
    direction: call.direction,
    number: call.number,
    queue: call.queue,
    duration: secondsBetween(call.offeredAt, now),
    talk_time: call.answeredAt === null ? 0 : secondsBetween(call.answeredAt, now),
    end_reason: reason,
    detail,
    packets_lost: stats?.packetsLost ?? null,
    jitter_ms: stats?.jitterMs ?? null,
    round_trip_ms: stats?.roundTripMs ?? null,
    audio_underruns: stats?.audioUnderruns ?? null,
    audio_overruns: stats?.audioOverruns ?? null,
  };
}

/**
 * Transition 1's events, stepped once after the sides started: the call the previous run left
 * open ends with `desk_restart` (its times counted to the last sign of life of that run), and the
 * automatic pause of a desk that was available is announced (and saved, so a second crash does
 * not announce it again).
 */
function restarted(s: Step, previous: PersistedStatus | null, open: OpenCallRecord | null): void {
  if (open) {
    const call: Call = {
      ...newCall(open.id, open.direction, open.offeredAt, { number: open.number, queue: open.queue }),
      answeredAt: open.answeredAt,
    };
    const endAt = Math.min(s.now, Math.max(open.aliveAt, open.answeredAt ?? open.offeredAt));
    s.event(
      endedEvent(
        call,
        "desk_restart",
        endAt,
        null,
        "the daemon stopped during the call; times end at its last sign of life",
      ),
    );
  }
  const st = s.state;
  if (previous && (previous.status !== st.status || previous.reason !== st.reason)) {
    s.event({
      type: "status.changed",
      status: st.status,
      reason: st.reason,
      previous_status: previous.status,
      previous_reason: previous.reason,
      origin: "policy",
    });
    s.effect({ type: "persist_status", status: st.status, reason: st.reason });
  }
}

/** Transition 8: the desk let a queue call ring out. Counted; N in a row pause the desk. */
function missedOffer(s: Step): void {
  const st = s.state;
  const missed = st.missed + 1;
  s.set({ missed });
  if (st.policy.notRespondingSeconds > 0) {
    s.set({ activity: "not_responding", activitySince: s.now, wrapUpUntil: null });
    s.effect({ type: "start_timer", timer: "not_responding", ms: st.policy.notRespondingSeconds * 1000 });
  } else toIdle(s);
  const limit = st.policy.autoPauseAfterMissed;
  if (limit > 0 && missed >= limit && st.status === "available") setStatus(s, "paused", "missed", "policy");
}

function toIdle(s: Step): void {
  if (s.state.activity !== "idle" || s.state.wrapUpUntil !== null)
    s.set({ activity: "idle", activitySince: s.now, wrapUpUntil: null });
}

function applyPending(s: Step): void {
  const p = s.state.pending;
  if (!p) return;
  if (p.status === "paused") setStatus(s, "paused", p.reason, "policy");
  else setStatus(s, "logged_out", null, "policy");
}

function timer(s: Step, name: "wrap_up" | "ring" | "not_responding"): void {
  const st = s.state;
  switch (name) {
    case "wrap_up":
      if (st.activity === "wrap_up") toIdle(s); // 12
      return;
    case "not_responding":
      if (st.activity === "not_responding") toIdle(s);
      return;
    case "ring":
      // The desk gives up on a call nobody answers: 480 to the PBX; the SIP side then reports
      // call_ended(rejected) and the miss is counted here, once.
      if (st.activity === "ringing" && st.call) {
        s.effect({ type: "sip", action: "reject", callId: st.call.id, code: 480 });
        s.event(endedEvent(st.call, "rejected", s.now, null, "ring timeout"));
        s.set({ call: null });
        missedOffer(s);
      }
      return;
  }
}

// ── headset buttons ────────────────────────────────────────────────────────────────────────────

function button(s: Step, b: HeadsetButton): void {
  const st = s.state;
  const via = (c: Command): void => {
    command(s, c, "headset");
    // A button that cannot apply is noise from the device, not an error for anyone to read.
    s.error = undefined;
  };
  switch (b) {
    case "hook_off":
      if (st.activity === "ringing") return via({ cmd: "answer" });
      if (st.call || !st.policy.sides.sip) return;
      if (st.policy.idleHookOff.action === "dial")
        return via({ cmd: "dial", target: st.policy.idleHookOff.target });
      // Idle hook-off with nothing to do: push the indicators again so the headset's own
      // hook state agrees with the desk (reference/hid-telephony.md, host owns the state).
      return s.effect({ type: "headset_resync" });
    case "hook_on":
      if (st.call && st.activity !== "ringing") return via({ cmd: "hangup" });
      return;
    case "mute":
      return via({ cmd: "mute" });
    case "flash":
      if (st.call) return via({ cmd: "hold" });
      return;
    case "reject":
      if (st.activity === "ringing") return via({ cmd: "reject" });
      if (st.call) return via({ cmd: "hangup" });
      return;
    case "redial":
    case "programmable":
      return;
    case "pause":
      if (st.status === "available") return via({ cmd: "pause" });
      if (st.status === "paused" || st.status === "logged_out")
        return via({ cmd: st.status === "paused" ? "unpause" : "login" });
      return;
    case "ready":
      if (st.activity === "wrap_up" || st.activity === "not_responding") return via({ cmd: "ready" });
      if (st.status === "paused") return via({ cmd: "unpause" });
      if (st.status === "logged_out") return via({ cmd: "login" });
      return;
  }
}

// ── faults ─────────────────────────────────────────────────────────────────────────────────────

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
