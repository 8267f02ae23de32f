/**
 * The line (transitions 6–13): what the SIP side reports about calls, and the desk's timers.
 * A call exists only inside the line's `ringing`, `outbound` and `on_call` states.
 */
import { lineCall, secondsBetween } from "../derive.js";
import type {
  Call,
  CallEncryption,
  DeskEvent,
  DeskInput,
  EndReason,
  Hold,
  LineKind,
  MediaStats,
  OpenCallRecord,
  TimerName,
} from "../types.js";
import { applyPending, type PersistedStatus, setStatus } from "./status.js";
import type { Step } from "./step.js";

/** An answered call starts unheld. */
export const NOT_HELD: Hold = { local: "off", remote: false };

export function newCall(
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
    transferTarget: null,
  };
}

/** Replaces the call of the line (which must have one) by `next`. */
export function setCall(s: Step, next: Call): void {
  const line = s.state.line;
  if (line.kind === "ringing" || line.kind === "outbound" || line.kind === "on_call")
    s.line({ ...line, call: next });
}

export function toIdle(s: Step): void {
  if (s.state.line.kind !== "idle") s.line({ kind: "idle", since: s.now });
}

type Offer = Extract<DeskInput, { type: "call_offered" }>;

/** Lines in which a new call may ring: wrap-up and not_responding give way to it. */
const CAN_RING: ReadonlySet<LineKind> = new Set(["idle", "wrap_up", "not_responding"]);

export function offered(s: Step, o: Offer): void {
  const st = s.state;
  if (!CAN_RING.has(st.line.kind)) {
    // Call waiting comes later: a second call while busy is refused busy.
    return s.effect({ type: "sip", action: "reject", callId: o.callId, code: 486 });
  }
  if (st.line.kind === "wrap_up") s.effect({ type: "cancel_timer", timer: "wrap_up" });
  if (st.line.kind === "not_responding") s.effect({ type: "cancel_timer", timer: "not_responding" });
  const call = newCall(o.callId, "inbound", s.now, {
    number: o.number,
    displayName: o.displayName,
    queue: o.queue,
    language: o.language,
    service: o.service,
  });
  s.line({ kind: "ringing", since: s.now, call }); // 6
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
    return;
  }
  // The desk rings: the caller hears it (180 Ringing), and the ring may time out.
  s.effect({ type: "sip", action: "ring", callId: o.callId });
  if (st.policy.ringTimeoutSeconds > 0)
    s.effect({ type: "start_timer", timer: "ring", ms: st.policy.ringTimeoutSeconds * 1000 });
}

export function dialling(s: Step, callId: string, target: string): void {
  const st = s.state;
  if (lineCall(st.line)) return; // the SIP side dialled while a call appeared: it will be ended by the SIP side
  const call = newCall(callId, "outbound", s.now, { number: target });
  if (st.line.kind === "wrap_up") s.effect({ type: "cancel_timer", timer: "wrap_up" });
  s.line({ kind: "outbound", since: s.now, call }); // 13
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

export function answered(s: Step, callId: string, encryption?: CallEncryption): void {
  const line = s.state.line;
  if ((line.kind !== "ringing" && line.kind !== "outbound") || line.call.id !== callId) return;
  const call = line.call;
  if (call.direction === "inbound") s.effect({ type: "cancel_timer", timer: "ring" });
  s.set({
    line: {
      kind: "on_call",
      since: s.now,
      call: { ...call, answeredAt: s.now, ...(encryption ? { encryption } : {}) },
      hold: NOT_HELD,
    },
    missed: call.direction === "inbound" ? 0 : s.state.missed,
  }); // 7
  s.event({
    type: "call.answered",
    call_id: callId,
    direction: call.direction,
    ring_time: secondsBetween(call.offeredAt, s.now),
    encryption: encryption ?? null,
  });
}

/** A re-INVITE changed the protection of the call's media: the views follow (no event). */
export function encryptionChanged(s: Step, callId: string, encryption: CallEncryption): void {
  const line = s.state.line;
  if (line.kind !== "on_call" || line.call.id !== callId || line.call.encryption === encryption) return;
  s.line({ ...line, call: { ...line.call, encryption } });
}

export function held(s: Step, callId: string, by: "local" | "remote", on: boolean): void {
  const line = s.state.line;
  if (line.kind !== "on_call" || line.call.id !== callId) return;
  const hold = line.hold;
  if (by === "remote") {
    if (hold.remote !== on) s.line({ ...line, hold: { ...hold, remote: on } });
    return;
  }
  // 10: the far end confirmed our hold or resume; the activity (on_hold) follows.
  const local = on ? "held" : "off";
  if (local === hold.local) return;
  const wasHeld = hold.local === "held" || hold.local === "resuming";
  s.line({ ...line, hold: { ...hold, local }, since: wasHeld === on ? line.since : s.now });
}

export function transferred(
  s: Step,
  callId: string,
  target: string,
  ok: boolean,
  detail: string | null,
  by: "local" | "remote",
): void {
  const call = lineCall(s.state.line);
  if (!call || call.id !== callId) return;
  s.event({ type: "call.transferred", call_id: callId, target, ok, detail, by });
  // On success the SIP side ends the call (reason "transferred", followed by the new call when the
  // far end transferred us); on failure the operator keeps it. A remote transfer is not ours: it
  // leaves the operator's own transfer state alone.
  if (!ok && by === "local") setCall(s, { ...call, transferTarget: null });
}

export function ended(
  s: Step,
  callId: string,
  reason: EndReason,
  stats: MediaStats | null,
  detail: string | null,
  followedBy?: { readonly callId: string; readonly target: string },
): void {
  const st = s.state;
  const call = lineCall(st.line);
  if (!call || call.id !== callId) return;
  const wasRinging = st.line.kind === "ringing";
  const talked = call.answeredAt !== null;
  s.effect({ type: "cancel_timer", timer: "ring" });
  s.event(endedEvent(call, reason, s.now, stats, detail));

  if (talked && followedBy) return takeOver(s, followedBy.callId, followedBy.target);

  if (talked) {
    // 11: wrap-up after every answered call, then what was asked during the call applies.
    const wrap = st.policy.wrapUpSeconds;
    if (wrap > 0) {
      s.line({ kind: "wrap_up", since: s.now, until: s.now + wrap * 1000 });
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
  s.line({ kind: "on_call", since: s.now, call, hold: NOT_HELD });
  outboundOffered(s, callId, target);
  s.event({ type: "call.answered", call_id: callId, direction: "outbound", ring_time: 0, encryption: null });
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
    srtp_auth_dropped: stats?.srtpAuthDropped ?? null,
    srtp_replay_dropped: stats?.srtpReplayDropped ?? null,
    fec_recovered: stats?.fecRecovered ?? null,
  };
}

/**
 * Transition 1's events, stepped once after the sides started: the call the previous run left
 * open ends with `desk_restart` (its times counted to the last sign of life of that run), and the
 * automatic pause of a desk that was available is announced (and saved, so a second crash does
 * not announce it again).
 */
export function restarted(s: Step, previous: PersistedStatus | null, open: OpenCallRecord | null): void {
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
    s.line({ kind: "not_responding", since: s.now });
    s.effect({ type: "start_timer", timer: "not_responding", ms: st.policy.notRespondingSeconds * 1000 });
  } else toIdle(s);
  const limit = st.policy.autoPauseAfterMissed;
  if (limit > 0 && missed >= limit && st.status === "available") setStatus(s, "paused", "missed", "policy");
}

export function timer(s: Step, name: TimerName): void {
  const line = s.state.line;
  switch (name) {
    case "wrap_up":
      if (line.kind === "wrap_up") toIdle(s); // 12
      return;
    case "not_responding":
      if (line.kind === "not_responding") toIdle(s);
      return;
    case "ring":
      // The desk gives up on a call nobody answers: 480 to the PBX; the SIP side then reports
      // call_ended(rejected) and the miss is counted here, once.
      if (line.kind === "ringing") {
        s.effect({ type: "sip", action: "reject", callId: line.call.id, code: 480 });
        s.event(endedEvent(line.call, "rejected", s.now, null, "ring timeout"));
        missedOffer(s);
      }
      return;
  }
}
