import { describe, expect, it } from "vitest";
import { activity, routable } from "../../src/core/derive.js";
import { initialState, step } from "../../src/core/desk.js";
import { presenceDocument } from "../../src/core/presence-document.js";
import type {
  Call,
  DeskInput,
  DeskState,
  Effect,
  Hold,
  Line,
  LocalHold,
  Policy,
} from "../../src/core/types.js";
import { sampleCall, samplePolicy } from "../samples.js";

const T0 = Date.parse("2026-11-23T09:00:00Z");

const policy: Policy = {
  ...samplePolicy,
  notRespondingSeconds: 5,
  transferTargets: { polo1: "sip:2001@pbx.example.org" },
};

const call = (patch: Partial<Call> = {}): Call =>
  sampleCall(T0, { number: "+390612345", displayName: "Rossi", service: "casa", offeredAt: T0, ...patch });

/** The line of an answered call, with our hold as given and no remote hold. */
const onCall = (c: Call, local: LocalHold = "off"): Line => ({
  kind: "on_call",
  since: T0 + 5000,
  call: c,
  hold: { local, remote: false },
});

/** Desk states by name, built from the initial state so every field is realistic. */
function desk(name: string, patch: Partial<DeskState> = {}): DeskState {
  const base: DeskState = {
    ...initialState(policy, T0),
    status: "available",
    health: { sip: "registered", sipReason: null, headset: true, lcd: true, mqtt: true, faults: {} },
  };
  const states: Record<string, Partial<DeskState>> = {
    logged_out: { status: "logged_out" },
    idle: {},
    paused: { status: "paused", reason: "break" },
    ringing: { line: { kind: "ringing", since: T0, call: call() } },
    on_call: { line: onCall(call({ answeredAt: T0 + 5000 })) },
    on_hold: { line: onCall(call({ answeredAt: T0 + 5000 }), "held") },
    outbound: {
      line: {
        kind: "outbound",
        since: T0,
        call: call({ direction: "outbound", queue: null, language: null, service: null }),
      },
    },
    wrap_up: { line: { kind: "wrap_up", since: T0, until: T0 + 30_000 } },
    not_responding: { line: { kind: "not_responding", since: T0 }, missed: 1 },
  };
  const s = states[name];
  if (!s) throw new Error(`no desk state ${name}`);
  return { ...base, ...s, ...patch };
}

const cmd = (command: Extract<DeskInput, { type: "command" }>["command"]): DeskInput => ({
  type: "command",
  command,
  origin: "control",
});
const offer = (callId = "c2", autoAnswer = false): DeskInput => ({
  type: "call_offered",
  callId,
  number: "+3906999",
  displayName: null,
  queue: "casa",
  language: "ar",
  service: null,
  autoAnswer,
});
const endCall = (reason: Extract<DeskInput, { type: "call_ended" }>["reason"], callId = "c1"): DeskInput => ({
  type: "call_ended",
  callId,
  reason,
  stats: null,
  detail: null,
});

/** The expected line: its kind, and whichever of its facts the row cares about. */
interface LineExpect {
  kind?: Line["kind"];
  since?: number;
  until?: number;
  call?: Partial<Call>;
  hold?: Partial<Hold>;
}

interface Row {
  name: string;
  from: DeskState;
  input: DeskInput;
  expect: Omit<Partial<DeskState>, "line"> & { line?: LineExpect };
  effects?: Array<Partial<Effect> & { type: Effect["type"] }>;
  error?: string;
}

const NOW = T0 + 60_000;

const rows: Row[] = [
  // status (transitions 2, 3, 4, 5, 16)
  {
    name: "login",
    from: desk("logged_out"),
    input: cmd({ cmd: "login" }),
    expect: { status: "available" },
    effects: [{ type: "event" }, { type: "persist_status" }],
  },
  {
    name: "pause with reason",
    from: desk("idle"),
    input: cmd({ cmd: "pause", reason: "training" }),
    expect: { status: "paused", reason: "training", statusSince: NOW },
  },
  {
    name: "pause without reason takes the first",
    from: desk("idle"),
    input: cmd({ cmd: "pause" }),
    expect: { status: "paused", reason: "break" },
  },
  {
    name: "pause with an unknown reason is refused",
    from: desk("idle"),
    input: cmd({ cmd: "pause", reason: "nap" }),
    expect: { status: "available" },
    error: "bad_reason",
  },
  {
    name: "pause while logged out is refused",
    from: desk("logged_out"),
    input: cmd({ cmd: "pause" }),
    expect: { status: "logged_out" },
    error: "bad_state",
  },
  {
    name: "unpause",
    from: desk("paused"),
    input: cmd({ cmd: "unpause" }),
    expect: { status: "available", reason: null },
  },
  {
    name: "unpause when available is refused",
    from: desk("idle"),
    input: cmd({ cmd: "unpause" }),
    expect: {},
    error: "bad_state",
  },
  {
    name: "pause during a call is pending",
    from: desk("on_call"),
    input: cmd({ cmd: "pause", reason: "break" }),
    expect: { status: "available", pending: { status: "paused", reason: "break" } },
  },
  {
    name: "logout during a call is pending",
    from: desk("on_hold"),
    input: cmd({ cmd: "logout" }),
    expect: { status: "available", pending: { status: "logged_out" } },
  },
  {
    name: "logout during an outbound call is pending",
    from: desk("outbound"),
    input: cmd({ cmd: "logout" }),
    expect: { pending: { status: "logged_out" } },
  },
  {
    name: "unpause withdraws a pending pause",
    from: desk("on_call", { pending: { status: "paused", reason: "break" } }),
    input: cmd({ cmd: "unpause" }),
    expect: { status: "available", pending: null },
  },
  {
    name: "login withdraws a pending logout",
    from: desk("on_call", { pending: { status: "logged_out" } }),
    input: cmd({ cmd: "login" }),
    expect: { pending: null },
  },
  {
    name: "logout when idle",
    from: desk("paused"),
    input: cmd({ cmd: "logout" }),
    expect: { status: "logged_out", reason: null },
  },
  {
    name: "pause while ringing applies at once",
    from: desk("ringing"),
    input: cmd({ cmd: "pause" }),
    expect: { status: "paused", line: { kind: "ringing" } },
  },

  // offers (6, 7, 8, 9)
  {
    name: "offer rings",
    from: desk("idle"),
    input: offer("c2"),
    expect: { line: { kind: "ringing", call: { id: "c2", language: "ar" } } },
    effects: [
      { type: "event" },
      { type: "sip", action: "ring", callId: "c2" } as Partial<Effect> & { type: "sip" },
      { type: "start_timer", timer: "ring", ms: 20_000 },
    ],
  },
  {
    name: "offer while paused still rings (direct call)",
    from: desk("paused"),
    input: offer("c2"),
    expect: { line: { kind: "ringing" }, status: "paused" },
  },
  {
    name: "offer during wrap-up rings and ends wrap-up",
    from: desk("wrap_up"),
    input: offer("c2"),
    expect: { line: { kind: "ringing" } },
    effects: [
      { type: "cancel_timer", timer: "wrap_up" },
      { type: "event" },
      { type: "sip", action: "ring" } as Partial<Effect> & { type: "sip" },
      { type: "start_timer" },
    ],
  },
  {
    name: "second offer while on a call gets 486",
    from: desk("on_call"),
    input: offer("c2"),
    expect: { line: { kind: "on_call", call: { id: "c1" } } },
    effects: [
      { type: "sip", action: "reject", callId: "c2", code: 486 } as Partial<Effect> & { type: "sip" },
    ],
  },
  {
    name: "second offer while ringing gets 486",
    from: desk("ringing"),
    input: offer("c2"),
    expect: { line: { kind: "ringing", call: { id: "c1" } } },
    effects: [{ type: "sip", action: "reject", code: 486 } as Partial<Effect> & { type: "sip" }],
  },
  {
    name: "auto-answer by policy",
    from: desk("idle", { policy: { ...policy, autoAnswer: true } }),
    input: offer("c2"),
    expect: { line: { kind: "ringing" } },
    effects: [
      { type: "event" },
      { type: "sip", action: "answer", callId: "c2" } as Partial<Effect> & { type: "sip" },
    ],
  },
  {
    name: "auto-answer by PBX hint",
    from: desk("idle"),
    input: offer("c2", true),
    expect: { line: { kind: "ringing" } },
    effects: [
      { type: "event" },
      { type: "sip", action: "answer", callId: "c2" } as Partial<Effect> & { type: "sip" },
    ],
  },
  {
    name: "answer command",
    from: desk("ringing"),
    input: cmd({ cmd: "answer" }),
    expect: { line: { kind: "ringing" } },
    effects: [{ type: "sip", action: "answer", callId: "c1" } as Partial<Effect> & { type: "sip" }],
  },
  {
    name: "answer without a call",
    from: desk("idle"),
    input: cmd({ cmd: "answer" }),
    expect: {},
    error: "no_call",
  },
  {
    name: "answered",
    from: desk("ringing", { missed: 1 }),
    input: { type: "call_answered", callId: "c1" },
    expect: { line: { kind: "on_call", since: NOW, call: { answeredAt: NOW } }, missed: 0 },
    effects: [{ type: "cancel_timer", timer: "ring" }, { type: "event" }],
  },
  {
    name: "late answered for another call is ignored",
    from: desk("ringing"),
    input: { type: "call_answered", callId: "zz" },
    expect: { line: { kind: "ringing" }, seq: 0 },
  },
  {
    name: "reject command sends 603",
    from: desk("ringing"),
    input: cmd({ cmd: "reject" }),
    expect: {},
    effects: [{ type: "sip", action: "reject", code: 603 } as Partial<Effect> & { type: "sip" }],
  },
  {
    name: "reject on an answered call is refused",
    from: desk("on_call"),
    input: cmd({ cmd: "reject" }),
    expect: {},
    error: "bad_state",
  },
  {
    name: "rejected → idle, no miss",
    from: desk("ringing"),
    input: endCall("rejected"),
    expect: { line: { kind: "idle" }, missed: 0 },
  },
  {
    name: "caller cancel → not_responding, miss counted",
    from: desk("ringing"),
    input: endCall("cancelled"),
    expect: { line: { kind: "not_responding" }, missed: 1 },
    effects: [{ type: "cancel_timer" }, { type: "event" }, { type: "start_timer", timer: "not_responding" }],
  },
  {
    name: "second miss in a row auto-pauses",
    from: desk("ringing", { missed: 1 }),
    input: endCall("cancelled"),
    expect: { line: { kind: "not_responding" }, missed: 2, status: "paused", reason: "missed" },
  },
  {
    name: "misses do not pause a paused desk again",
    from: desk("ringing", { missed: 1, status: "paused", reason: "break" }),
    input: endCall("cancelled"),
    expect: { status: "paused", reason: "break" },
  },
  {
    name: "ring timeout → 480, not_responding",
    from: desk("ringing"),
    input: { type: "timer_fired", timer: "ring" },
    expect: { line: { kind: "not_responding" }, missed: 1 },
    effects: [
      { type: "sip", action: "reject", code: 480 } as Partial<Effect> & { type: "sip" },
      { type: "event" },
      { type: "start_timer", timer: "not_responding" },
    ],
  },
  {
    name: "not_responding timer → idle",
    from: desk("not_responding"),
    input: { type: "timer_fired", timer: "not_responding" },
    expect: { line: { kind: "idle" } },
  },
  {
    name: "stale ring timer is ignored",
    from: desk("on_call"),
    input: { type: "timer_fired", timer: "ring" },
    expect: { line: { kind: "on_call" }, seq: 0 },
  },

  // in call (10, 11, 12)
  {
    name: "mute toggles",
    from: desk("on_call"),
    input: cmd({ cmd: "mute" }),
    expect: { line: { call: { muted: true } } },
  },
  {
    name: "mute on when muted changes nothing",
    from: desk("on_call", { line: onCall(call({ answeredAt: T0, muted: true })) }),
    input: cmd({ cmd: "mute", on: true }),
    expect: { seq: 0 },
  },
  {
    name: "mute without a call is refused",
    from: desk("idle"),
    input: cmd({ cmd: "mute" }),
    expect: {},
    error: "no_call",
  },
  {
    name: "hold asks SIP",
    from: desk("on_call"),
    input: cmd({ cmd: "hold" }),
    expect: { line: { kind: "on_call", hold: { local: "holding" } } },
    effects: [{ type: "sip", action: "hold", on: true } as Partial<Effect> & { type: "sip" }],
  },
  {
    name: "hold confirmed",
    from: desk("on_call", { line: onCall(call({ answeredAt: T0 }), "holding") }),
    input: { type: "call_held", callId: "c1", by: "local", held: true },
    expect: { line: { kind: "on_call", since: NOW, hold: { local: "held" } } },
  },
  {
    name: "resume from hold",
    from: desk("on_hold"),
    input: cmd({ cmd: "hold" }),
    expect: { line: { hold: { local: "resuming" } } },
    effects: [{ type: "sip", action: "hold", on: false } as Partial<Effect> & { type: "sip" }],
  },
  {
    name: "resume confirmed",
    from: desk("on_hold"),
    input: { type: "call_held", callId: "c1", by: "local", held: false },
    expect: { line: { kind: "on_call", since: NOW, hold: { local: "off" } } },
  },
  {
    name: "hold asked again before the far end confirmed changes nothing",
    from: desk("on_call", { line: onCall(call({ answeredAt: T0 }), "holding") }),
    input: cmd({ cmd: "hold", on: true }),
    expect: { seq: 0 },
    effects: [],
  },
  {
    name: "resume asked before the hold is confirmed withdraws it",
    from: desk("on_call", { line: onCall(call({ answeredAt: T0 }), "holding") }),
    input: cmd({ cmd: "hold" }),
    expect: { line: { kind: "on_call", hold: { local: "off" } } },
    effects: [{ type: "sip", action: "hold", on: false } as Partial<Effect> & { type: "sip" }],
  },
  {
    name: "remote hold is noted, activity unchanged",
    from: desk("on_call"),
    input: { type: "call_held", callId: "c1", by: "remote", held: true },
    expect: { line: { kind: "on_call", since: T0 + 5000, hold: { local: "off", remote: true } } },
  },
  {
    name: "transfer by name",
    from: desk("on_call"),
    input: cmd({ cmd: "transfer", target: "polo1" }),
    expect: { line: { call: { transferTarget: "sip:2001@pbx.example.org" } } },
    effects: [
      { type: "sip", action: "transfer", target: "sip:2001@pbx.example.org" } as Partial<Effect> & {
        type: "sip";
      },
    ],
  },
  {
    name: "transfer to a number",
    from: desk("on_call"),
    input: cmd({ cmd: "transfer", target: "2002" }),
    expect: {},
    effects: [{ type: "sip", action: "transfer", target: "2002" } as Partial<Effect> & { type: "sip" }],
  },
  {
    name: "transfer to nonsense is refused",
    from: desk("on_call"),
    input: cmd({ cmd: "transfer", target: "polo 9" }),
    expect: {},
    error: "bad_target",
  },
  {
    name: "failed transfer keeps the call",
    from: desk("on_call", { line: onCall(call({ answeredAt: T0, transferTarget: "sip:x@y" })) }),
    input: {
      type: "call_transferred",
      callId: "c1",
      target: "sip:x@y",
      ok: false,
      detail: "486 Busy",
      by: "local",
    },
    expect: { line: { kind: "on_call", call: { transferTarget: null } } },
    effects: [
      { type: "event", event: { type: "call.transferred", by: "local", ok: false } } as Partial<Effect> & {
        type: "event";
      },
    ],
  },
  {
    name: "the far end transferring the desk is reported with its direction, and the call goes on",
    from: desk("on_call"),
    input: {
      type: "call_transferred",
      callId: "c1",
      target: "sip:2002@pbx",
      ok: true,
      detail: "200 OK",
      by: "remote",
    },
    expect: { line: { kind: "on_call", call: { id: "c1", transferTarget: null } } },
    effects: [
      {
        type: "event",
        event: { type: "call.transferred", call_id: "c1", target: "sip:2002@pbx", ok: true, by: "remote" },
      } as Partial<Effect> & { type: "event" },
    ],
  },
  {
    name: "a failed remote transfer leaves the operator's own transfer under way",
    from: desk("on_call", { line: onCall(call({ answeredAt: T0, transferTarget: "sip:x@y" })) }),
    input: {
      type: "call_transferred",
      callId: "c1",
      target: "sip:2002@pbx",
      ok: false,
      detail: "486 Busy Here",
      by: "remote",
    },
    expect: { line: { kind: "on_call", call: { transferTarget: "sip:x@y" } } },
    effects: [
      { type: "event", event: { type: "call.transferred", by: "remote", ok: false } } as Partial<Effect> & {
        type: "event";
      },
    ],
  },
  {
    name: "a call ended by a remote transfer hands over to the new outbound call, answered, no wrap-up",
    from: desk("on_call", { pending: { status: "paused", reason: "break" } }),
    input: {
      type: "call_ended",
      callId: "c1",
      reason: "transferred",
      stats: null,
      detail: "transferred by the far end to sip:2002@pbx",
      followedBy: { callId: "c9", target: "sip:2002@pbx" },
    },
    expect: {
      line: {
        kind: "on_call",
        since: NOW,
        call: { id: "c9", direction: "outbound", number: "sip:2002@pbx", answeredAt: NOW, queue: null },
        hold: { local: "off", remote: false },
      },
      status: "available",
      pending: { status: "paused", reason: "break" },
    },
    effects: [
      { type: "cancel_timer" },
      {
        type: "event",
        event: { type: "call.ended", call_id: "c1", end_reason: "transferred" },
      } as Partial<Effect> & { type: "event" },
      {
        type: "event",
        event: { type: "call.offered", call_id: "c9", direction: "outbound" },
      } as Partial<Effect> & { type: "event" },
      { type: "event", event: { type: "call.answered", call_id: "c9", ring_time: 0 } } as Partial<Effect> & {
        type: "event";
      },
    ],
  },
  {
    name: "the new call's own late call_answered after a hand-over changes nothing",
    from: desk("on_call", { line: onCall(call({ id: "c9", direction: "outbound", answeredAt: NOW })) }),
    input: { type: "call_answered", callId: "c9" },
    expect: { line: { kind: "on_call", call: { id: "c9", answeredAt: NOW } } },
    effects: [],
  },
  {
    name: "a hand-over for a call that is not the desk's is ignored",
    from: desk("idle"),
    input: {
      type: "call_ended",
      callId: "c1",
      reason: "transferred",
      stats: null,
      detail: null,
      followedBy: { callId: "c9", target: "sip:2002@pbx" },
    },
    expect: { line: { kind: "idle" } },
    effects: [],
  },
  {
    name: "dtmf",
    from: desk("on_call"),
    input: cmd({ cmd: "dtmf", digits: "12#" }),
    expect: {},
    effects: [{ type: "sip", action: "dtmf", digits: "12#" } as Partial<Effect> & { type: "sip" }],
  },
  {
    name: "bad dtmf",
    from: desk("on_call"),
    input: cmd({ cmd: "dtmf", digits: "12x" }),
    expect: {},
    error: "bad_digits",
  },
  {
    name: "hang up",
    from: desk("on_call"),
    input: cmd({ cmd: "hangup" }),
    expect: { line: { kind: "on_call" } },
    effects: [{ type: "sip", action: "hangup", callId: "c1" } as Partial<Effect> & { type: "sip" }],
  },
  {
    name: "call ended → wrap-up",
    from: desk("on_call"),
    input: endCall("remote_hangup"),
    expect: { line: { kind: "wrap_up", since: NOW, until: NOW + 30_000 } },
    effects: [
      { type: "cancel_timer" },
      { type: "event" },
      { type: "start_timer", timer: "wrap_up", ms: 30_000 },
    ],
  },
  {
    name: "call ended with wrap-up 0 → idle",
    from: desk("on_call", { policy: { ...policy, wrapUpSeconds: 0 } }),
    input: endCall("local_hangup"),
    expect: { line: { kind: "idle" } },
  },
  {
    name: "pending pause applies at hang-up",
    from: desk("on_call", { pending: { status: "paused", reason: "training" } }),
    input: endCall("local_hangup"),
    expect: { line: { kind: "wrap_up" }, status: "paused", reason: "training", pending: null },
  },
  {
    name: "pending logout applies at hang-up",
    from: desk("on_hold", { pending: { status: "logged_out" } }),
    input: endCall("remote_hangup"),
    expect: { status: "logged_out", pending: null },
  },
  {
    name: "wrap-up timer → idle",
    from: desk("wrap_up"),
    input: { type: "timer_fired", timer: "wrap_up" },
    expect: { line: { kind: "idle", since: NOW } },
  },
  {
    name: "ready ends wrap-up",
    from: desk("wrap_up"),
    input: cmd({ cmd: "ready" }),
    expect: { line: { kind: "idle" } },
    effects: [{ type: "cancel_timer", timer: "wrap_up" }],
  },
  {
    name: "ready when idle is refused",
    from: desk("idle"),
    input: cmd({ cmd: "ready" }),
    expect: {},
    error: "bad_state",
  },

  // outbound (13)
  {
    name: "dial asks SIP",
    from: desk("idle"),
    input: cmd({ cmd: "dial", target: "sip:2001@pbx" }),
    expect: { line: { kind: "idle" } },
    effects: [{ type: "sip", action: "dial", target: "sip:2001@pbx" } as Partial<Effect> & { type: "sip" }],
  },
  {
    name: "dial during a call is refused",
    from: desk("on_call"),
    input: cmd({ cmd: "dial", target: "2001" }),
    expect: {},
    error: "bad_state",
  },
  {
    name: "dialling → outbound",
    from: desk("idle"),
    input: { type: "call_dialling", callId: "o1", target: "sip:2001@pbx" },
    expect: { line: { kind: "outbound", call: { id: "o1", direction: "outbound" } } },
  },
  {
    name: "outbound answered → on_call",
    from: desk("outbound"),
    input: { type: "call_answered", callId: "c1" },
    expect: { line: { kind: "on_call" } },
  },
  {
    name: "outbound failed → idle",
    from: desk("outbound"),
    input: endCall("failed"),
    expect: { line: { kind: "idle" }, missed: 0 },
  },

  // headset buttons
  {
    name: "hook-off while ringing answers",
    from: desk("ringing"),
    input: { type: "button", button: "hook_off" },
    expect: {},
    effects: [{ type: "sip", action: "answer" } as Partial<Effect> & { type: "sip" }],
  },
  {
    name: "hook-on during a call hangs up",
    from: desk("on_call"),
    input: { type: "button", button: "hook_on" },
    expect: {},
    effects: [{ type: "sip", action: "hangup" } as Partial<Effect> & { type: "sip" }],
  },
  {
    name: "hook-off idle is ignored and resynced",
    from: desk("idle"),
    input: { type: "button", button: "hook_off" },
    expect: { seq: 0 },
    effects: [{ type: "headset_resync" }],
  },
  {
    name: "hook-off idle dials when configured",
    from: desk("idle", { policy: { ...policy, idleHookOff: { action: "dial", target: "polo1" } } }),
    input: { type: "button", button: "hook_off" },
    expect: {},
    effects: [
      { type: "sip", action: "dial", target: "sip:2001@pbx.example.org" } as Partial<Effect> & {
        type: "sip";
      },
    ],
  },
  {
    name: "mute button only during a call",
    from: desk("idle"),
    input: { type: "button", button: "mute" },
    expect: { seq: 0 },
  },
  {
    name: "mute button on a call",
    from: desk("on_call"),
    input: { type: "button", button: "mute" },
    expect: { line: { call: { muted: true } } },
  },
  {
    name: "flash holds",
    from: desk("on_call"),
    input: { type: "button", button: "flash" },
    expect: { line: { hold: { local: "holding" } } },
  },
  {
    name: "reject button while ringing",
    from: desk("ringing"),
    input: { type: "button", button: "reject" },
    expect: {},
    effects: [{ type: "sip", action: "reject", code: 603 } as Partial<Effect> & { type: "sip" }],
  },
  {
    name: "pause button pauses",
    from: desk("idle"),
    input: { type: "button", button: "pause" },
    expect: { status: "paused", reason: "break" },
  },
  {
    name: "pause button unpauses",
    from: desk("paused"),
    input: { type: "button", button: "pause" },
    expect: { status: "available" },
  },
  {
    name: "ready button ends wrap-up",
    from: desk("wrap_up"),
    input: { type: "button", button: "ready" },
    expect: { line: { kind: "idle" } },
  },

  // health (14)
  {
    name: "a call's sound card reports its xruns: shown, not degraded for one or two",
    from: desk("on_call"),
    input: {
      type: "health",
      side: "audio",
      xruns: { callId: "c1", underruns: 2, overruns: 0, lastMinute: 2 },
    },
    expect: {
      line: { kind: "on_call" },
      health: {
        ...desk("idle").health,
        audio: { callId: "c1", underruns: 2, overruns: 0, lastMinute: 2, degraded: false },
      },
    },
  },
  {
    name: "xruns that repeat (3 in the last minute) degrade the audio",
    from: desk("on_call", {
      health: {
        ...desk("idle").health,
        audio: { callId: "c1", underruns: 2, overruns: 0, lastMinute: 2, degraded: false },
      },
    }),
    input: {
      type: "health",
      side: "audio",
      xruns: { callId: "c1", underruns: 2, overruns: 1, lastMinute: 3 },
    },
    expect: {
      health: {
        ...desk("idle").health,
        audio: { callId: "c1", underruns: 2, overruns: 1, lastMinute: 3, degraded: true },
      },
    },
  },
  {
    name: "a clean last minute ends degraded (the call's counts stay)",
    from: desk("on_call", {
      health: {
        ...desk("idle").health,
        audio: { callId: "c1", underruns: 9, overruns: 0, lastMinute: 9, degraded: true },
      },
    }),
    input: {
      type: "health",
      side: "audio",
      xruns: { callId: "c1", underruns: 9, overruns: 0, lastMinute: 0 },
    },
    expect: {
      health: {
        ...desk("idle").health,
        audio: { callId: "c1", underruns: 9, overruns: 0, lastMinute: 0, degraded: false },
      },
    },
  },
  {
    name: "the same xruns again change nothing",
    from: desk("on_call", {
      health: {
        ...desk("idle").health,
        audio: { callId: "c1", underruns: 1, overruns: 0, lastMinute: 1, degraded: false },
      },
    }),
    input: {
      type: "health",
      side: "audio",
      xruns: { callId: "c1", underruns: 1, overruns: 0, lastMinute: 1 },
    },
    expect: { seq: 0 },
  },
  {
    name: "the call's card closing clears the audio health",
    from: desk("wrap_up", {
      health: {
        ...desk("idle").health,
        audio: { callId: "c1", underruns: 1, overruns: 0, lastMinute: 1, degraded: false },
      },
    }),
    input: { type: "health", side: "audio", xruns: null, callId: "c1" },
    expect: { health: { ...desk("idle").health } },
  },
  {
    name: "another call's card closing leaves the current call's audio health",
    from: desk("on_call", {
      health: {
        ...desk("idle").health,
        audio: { callId: "c2", underruns: 1, overruns: 0, lastMinute: 1, degraded: false },
      },
    }),
    input: { type: "health", side: "audio", xruns: null, callId: "c1" },
    expect: { seq: 0 },
  },
  {
    name: "registration lost",
    from: desk("idle"),
    input: { type: "health", side: "sip", sip: "failed", reason: "403 Forbidden" },
    expect: {
      health: { sip: "failed", sipReason: "403 Forbidden", headset: true, lcd: true, mqtt: true, faults: {} },
    },
  },
  {
    name: "headset unplugged mid-call keeps the call",
    from: desk("on_call"),
    input: { type: "health", side: "headset", up: false },
    expect: {
      line: { kind: "on_call", call: { id: "c1" } },
      health: { ...desk("idle").health, headset: false },
    },
  },
  {
    name: "side fault is recorded",
    from: desk("idle"),
    input: { type: "health", side: "lcd", fault: "EIO" },
    expect: {
      health: {
        sip: "registered",
        sipReason: null,
        headset: true,
        lcd: true,
        mqtt: true,
        faults: { lcd: "EIO" },
      },
    },
  },
  {
    name: "same health changes nothing",
    from: desk("idle"),
    input: { type: "health", side: "mqtt", up: true },
    expect: { seq: 0 },
  },
  {
    name: "queue stats",
    from: desk("idle"),
    input: {
      type: "queue_stats",
      stats: { waiting: 3, longestWait: 95, availableAgents: 2, byLanguage: { it: 2, ar: 1 } },
    },
    expect: {
      queues: {
        waiting: 3,
        longestWait: 95,
        availableAgents: 2,
        byLanguage: { it: 2, ar: 1 },
        receivedAt: NOW,
      },
    },
  },

  // reload
  {
    name: "a reload that removes the LCD and adds nothing else",
    from: desk("idle"),
    input: {
      type: "policy_changed",
      policy: { ...policy, wrapUpSeconds: 5, sides: { ...policy.sides, lcd: false } },
    },
    expect: {
      policy: { ...policy, wrapUpSeconds: 5, sides: { ...policy.sides, lcd: false } },
      health: { sip: "registered", sipReason: null, headset: true, lcd: null, mqtt: true, faults: {} },
    },
  },
  {
    name: "a reload that adds SIP starts it unregistered",
    from: desk("idle", {
      policy: { ...policy, sides: { ...policy.sides, sip: false } },
      health: { sip: "not_configured", sipReason: null, headset: true, lcd: true, mqtt: true, faults: {} },
    }),
    input: { type: "policy_changed", policy },
    expect: {
      health: { sip: "unregistered", sipReason: null, headset: true, lcd: true, mqtt: true, faults: {} },
    },
  },

  // no SIP configured
  {
    name: "dial without SIP is not_available",
    from: desk("idle", { policy: { ...policy, sides: { ...policy.sides, sip: false } } }),
    input: cmd({ cmd: "dial", target: "2001" }),
    expect: {},
    error: "not_available",
  },
  {
    name: "answer without SIP is not_available",
    from: desk("idle", { policy: { ...policy, sides: { ...policy.sides, sip: false } } }),
    input: cmd({ cmd: "answer" }),
    expect: {},
    error: "not_available",
  },
];

describe("desk step: transition table", () => {
  it.each(rows)("$name", (row) => {
    const r = step(row.from, row.input, NOW);
    if (row.error) {
      expect(r.error?.code).toBe(row.error);
      expect(r.state).toBe(row.from);
      expect(r.effects).toEqual([]);
      return;
    }
    expect(r.error).toBeUndefined();
    expect(r.state).toMatchObject(row.expect);
    if (row.effects) {
      expect(r.effects).toHaveLength(row.effects.length);
      for (const [i, e] of row.effects.entries()) expect(r.effects[i]).toMatchObject(e);
    }
    // seq: +1 exactly when the state changed
    if (r.state !== row.from) expect(r.state.seq).toBe(row.from.seq + 1);
    else expect(r.state.seq).toBe(row.from.seq);
  });
});

describe("desk: whole flows", () => {
  it("an inbound call from offer to idle, with events in order", () => {
    let s = desk("idle");
    const events: string[] = [];
    const run = (input: DeskInput, at: number) => {
      const r = step(s, input, at);
      expect(r.error).toBeUndefined();
      for (const e of r.effects) if (e.type === "event") events.push(e.event.type);
      s = r.state;
      return r;
    };
    run(offer("c9"), T0);
    run({ type: "call_answered", callId: "c9" }, T0 + 4000);
    run(cmd({ cmd: "pause", reason: "break" }), T0 + 10_000);
    const end = run(endCall("local_hangup", "c9"), T0 + 64_000);
    const ended = end.effects.find((e) => e.type === "event" && e.event.type === "call.ended");
    expect(ended).toMatchObject({ event: { duration: 64, talk_time: 60, end_reason: "local_hangup" } });
    expect(s).toMatchObject({ line: { kind: "wrap_up" }, status: "paused", reason: "break" });
    run({ type: "timer_fired", timer: "wrap_up" }, T0 + 94_000);
    expect(s.line.kind).toBe("idle");
    expect(events).toEqual(["call.offered", "call.answered", "call.ended", "status.changed"]);
    expect(s.seq).toBe(5);
  });

  it("the activity the views show is derived from the line", () => {
    const shown = (name: string, patch: Partial<DeskState> = {}) => activity(desk(name, patch));
    expect(shown("idle")).toBe("idle");
    expect(shown("ringing")).toBe("ringing");
    expect(shown("on_call")).toBe("on_call");
    expect(shown("on_hold")).toBe("on_hold");
    expect(shown("outbound")).toBe("outbound");
    expect(shown("wrap_up")).toBe("wrap_up");
    expect(shown("not_responding")).toBe("not_responding");
    // A hold asked but not confirmed is not shown; a resume asked but not confirmed still is.
    expect(shown("on_call", { line: onCall(call(), "holding") })).toBe("on_call");
    expect(shown("on_call", { line: onCall(call(), "resuming") })).toBe("on_hold");
  });

  it("restart never restores available", () => {
    expect(initialState(policy, T0, { status: "available", reason: null })).toMatchObject({
      status: "paused",
      reason: "restart",
    });
    expect(initialState(policy, T0, { status: "paused", reason: "training" })).toMatchObject({
      status: "paused",
      reason: "training",
    });
    expect(initialState(policy, T0, { status: "logged_out", reason: null }).status).toBe("logged_out");
    expect(initialState(policy, T0).status).toBe("logged_out");
  });

  it("routable only when available, idle, registered and with a headset", () => {
    expect(routable(desk("idle"))).toBe(true);
    expect(routable(desk("paused"))).toBe(false);
    expect(routable(desk("ringing"))).toBe(false);
    expect(routable(desk("wrap_up"))).toBe(false);
    expect(routable(desk("idle", { health: { ...desk("idle").health, sip: "registering" } }))).toBe(false);
    expect(routable(desk("idle", { health: { ...desk("idle").health, headset: false } }))).toBe(false);
    expect(routable(desk("idle", { health: { ...desk("idle").health, headset: null } }))).toBe(true);
  });
});

describe("presence document", () => {
  it("follows the contract and never carries the caller's number", () => {
    const doc = presenceDocument(desk("on_call"), { id: "desk-17", name: "Sportello 17" }, NOW);
    expect(doc).toMatchObject({
      v: 1,
      agent: "desk-17",
      name: "Sportello 17",
      status: "available",
      reason: null,
      activity: "on_call",
      routable: false,
      pending: null,
      call: {
        id: "c1",
        direction: "inbound",
        queue: "sociale",
        language: "fr",
        service: "casa",
        muted: false,
        held: false,
      },
      health: { sip: "registered", headset: true, lcd: true },
    });
    expect(doc.ts).toBe(new Date(NOW).toISOString());
    const text = JSON.stringify(doc);
    expect(text).not.toContain("+390612345");
    expect(text).not.toContain("Rossi");
  });

  it("shows the call's sound card: ok, degraded while xruns repeat, null once its card closed", () => {
    const agent = { id: "desk-17", name: null };
    const xruns = (underruns: number, lastMinute: number) =>
      ({
        type: "health",
        side: "audio",
        xruns: { callId: "c1", underruns, overruns: 0, lastMinute },
      }) as const;
    let s = desk("on_call");
    expect(presenceDocument(s, agent, NOW).health.audio).toBeNull();
    s = step(s, xruns(1, 1), NOW).state;
    expect(presenceDocument(s, agent, NOW).health.audio).toBe("ok");
    s = step(s, xruns(4, 4), NOW).state;
    expect(presenceDocument(s, agent, NOW).health.audio).toBe("degraded");
    s = step(s, { type: "health", side: "audio", xruns: null, callId: "c1" }, NOW).state;
    expect(s.health.audio).toBeUndefined();
    expect(presenceDocument(s, agent, NOW).health.audio).toBeNull();
  });
});
