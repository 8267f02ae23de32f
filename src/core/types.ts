/**
 * The desk: one plain object that every view (headset LEDs, LCD, presence) is drawn from.
 *
 * Status (intent) and the line (what the telephone is doing) are independent axes; health says
 * which sides work. `routable` and the activity the views show are never stored: they are derived
 * (derive.ts), so they cannot disagree with the state.
 *
 * ```
 *  status:   logged_out ──login──▶ available ──pause──▶ paused(reason)
 *                ▲                    │  ▲                 │
 *                └──────logout────────┘  └────unpause──────┘
 *            (pause/logout asked during a call become `pending`, applied at hang-up)
 *
 *  line:     idle ──offer──▶ ringing ──answer──▶ on_call(hold: off ⇄ holding ⇄ held ⇄ resuming)
 *              ▲  ╲             │ ╲ cancel/timeout       │ bye / hangup
 *              │   ╲ dial       │  ╲──▶ not_responding ──┼──(timer)──▶ idle
 *              │    ▼           │ reject                 ▼
 *              │  outbound ─────┴──▶ idle           wrap_up(until) ──timer/ready──▶ idle
 *              │      └──answered──▶ on_call
 * ```
 * The activity of presence/LCD/headset (`on_hold` included) is `activity(state)` in derive.ts.
 *
 * Times are milliseconds since the epoch; the clock is an argument of `step`, never read here.
 */

export type AgentStatus = "logged_out" | "available" | "paused";

export type Activity = "idle" | "ringing" | "on_call" | "on_hold" | "wrap_up" | "outbound" | "not_responding";

/** SIP registration as the registrar sees it, not as sip.js believes it. */
export type SipHealth = "registered" | "registering" | "unregistered" | "failed" | "not_configured";

export type CallDirection = "inbound" | "outbound";

export type EndReason =
  | "local_hangup"
  | "remote_hangup"
  | "rejected"
  | "cancelled"
  | "transferred"
  | "failed"
  /** No RTP/RTCP from the far end for rtp.media_timeout (or repeated ICMP unreachable): BYE sent. */
  | "media_timeout"
  /** RFC 4028: the session timer expired without a refresh. */
  | "session_expired"
  /** The dialog is gone at the far end (481 to an in-dialog check) or the SIP session vanished. */
  | "dialog_lost"
  /** Our 200 OK was never ACKed (RFC 3261 §13.3.1.4: BYE after 64×T1). */
  | "no_ack"
  /** The daemon stopped (crash, kill, power cut) while this call was open; reported at the next start. */
  | "desk_restart";

/** How a call's media is protected: SRTP keyed by SDES or by DTLS, or clear RTP. */
export type CallEncryption = "none" | "sdes" | "dtls";

export interface Call {
  readonly id: string;
  readonly direction: CallDirection;
  /** Caller (inbound) or callee (outbound) number: never put in retained messages. */
  readonly number: string | null;
  readonly displayName: string | null;
  /** IVR facts from the PBX (sip.call_info_headers). */
  readonly queue: string | null;
  readonly language: string | null;
  readonly service: string | null;
  /** When the call was offered (inbound) or dialled (outbound). */
  readonly offeredAt: number;
  /** When it was answered (either side); null while ringing. */
  readonly answeredAt: number | null;
  readonly muted: boolean;
  /** A transfer under way (REFER sent, NOTIFY outcome not yet known). */
  readonly transferTarget: string | null;
  /**
   * How its media is protected, once answered (absent: not known). The media session is the one
   * source; this is the desk's record of its reports (call_answered, call_encryption) for the views.
   */
  readonly encryption?: CallEncryption;
}

/**
 * Our hold, one value: `holding` and `resuming` are a re-INVITE we sent that the far end has not
 * confirmed yet (`held` and `resuming` are held for the views: activity `on_hold`).
 */
export type LocalHold = "off" | "holding" | "held" | "resuming";

export interface Hold {
  readonly local: LocalHold;
  /** Held by the far end (it sent sendonly/inactive). */
  readonly remote: boolean;
}

/**
 * What the line is doing, with what only that state has: a call exists exactly while ringing,
 * outbound or on a call; a hold only on an answered call; an end only in wrap-up. `since` is when
 * the activity the views show began (on a call, a confirmed hold or resume starts it again).
 */
export type Line =
  | { readonly kind: "idle"; readonly since: number }
  | { readonly kind: "ringing"; readonly since: number; readonly call: Call }
  | { readonly kind: "outbound"; readonly since: number; readonly call: Call }
  | { readonly kind: "on_call"; readonly since: number; readonly call: Call; readonly hold: Hold }
  | { readonly kind: "wrap_up"; readonly since: number; readonly until: number }
  | { readonly kind: "not_responding"; readonly since: number };

export type LineKind = Line["kind"];

/** The facts of an open call kept in state_dir (state-dir/open-call-file.ts) so a restart can end it. */
export interface OpenCallRecord {
  readonly id: string;
  readonly direction: CallDirection;
  readonly number: string | null;
  readonly queue: string | null;
  readonly offeredAt: number;
  readonly answeredAt: number | null;
  /** The last time the daemon was seen alive with this call open (refreshed during the call). */
  readonly aliveAt: number;
}

/** Queue statistics summed over the desk's queues (mqtt.queues); null = unknown or stale. */
export interface QueueSummary {
  readonly waiting: number;
  /** Seconds the longest caller has waited, as published. */
  readonly longestWait: number;
  readonly availableAgents: number | null;
  readonly byLanguage: Readonly<Record<string, number>>;
  /** When the switchboard's figures were received (ms): the LCD ages `longestWait` from here. */
  readonly receivedAt: number;
}

export interface Health {
  readonly sip: SipHealth;
  /** Why SIP is failed/unregistered (e.g. "403 Forbidden"), null otherwise. */
  readonly sipReason: string | null;
  /** true present, false configured but absent, null not configured. */
  readonly headset: boolean | null;
  readonly lcd: boolean | null;
  readonly mqtt: boolean | null;
  /** Sides whose adapter threw: name → message. Cleared when the side reports again. */
  readonly faults: Readonly<Record<string, string>>;
  /** The sound card of the call in progress; absent when no call uses one. */
  readonly audio?: AudioHealth;
}

/** What the media side counts on a call's sound card (both counts since the call began). */
export interface AudioXruns {
  readonly callId: string;
  /** The speaker ran dry. */
  readonly underruns: number;
  /** The microphone's samples were not read in time. */
  readonly overruns: number;
  /** Underruns and overruns together in the last 60 s. */
  readonly lastMinute: number;
}

export interface AudioHealth extends AudioXruns {
  /** xruns repeat: AUDIO_DEGRADED_XRUNS or more in the last minute (the operator hears gaps). */
  readonly degraded: boolean;
}

export type Pending =
  | { readonly status: "paused"; readonly reason: string }
  | { readonly status: "logged_out" };

/** What the operator's hook-off does while nothing rings. */
export type IdleHookOff =
  | { readonly action: "ignore" }
  | { readonly action: "dial"; readonly target: string };

/** The part of the config the core decides with. Replaced on reload. */
export interface Policy {
  readonly wrapUpSeconds: number;
  readonly pauseReasons: readonly string[];
  /** 0 disables auto-pause. */
  readonly autoPauseAfterMissed: number;
  /** Seconds an offered call may ring before the desk gives up (480) and counts a miss. 0 = never. */
  readonly ringTimeoutSeconds: number;
  /** Seconds `not_responding` lasts before the desk is idle again. */
  readonly notRespondingSeconds: number;
  readonly autoAnswer: boolean;
  readonly transferTargets: Readonly<Record<string, string>>;
  readonly idleHookOff: IdleHookOff;
  /** rtp.encryption: whether a clear call is worth the operator's notice (absent: preferred). */
  readonly encryption?: "required" | "preferred" | "off";
  /** Sides present in the config: a command for an absent side answers `not_available`. */
  readonly sides: {
    readonly sip: boolean;
    readonly headset: boolean;
    readonly lcd: boolean;
    readonly mqtt: boolean;
  };
}

export interface DeskState {
  readonly status: AgentStatus;
  /** Pause reason when paused, else null. */
  readonly reason: string | null;
  readonly statusSince: number;
  readonly line: Line;
  readonly pending: Pending | null;
  /** Offers missed in a row (reset by an answered call). */
  readonly missed: number;
  readonly queues: QueueSummary | null;
  readonly health: Health;
  /** Incremented on every change of the state. */
  readonly seq: number;
  readonly policy: Policy;
}

export interface MediaStats {
  readonly packetsSent: number;
  readonly packetsReceived: number;
  readonly packetsLost: number;
  /** Interarrival jitter, ms (RFC 3550 §6.4.1). */
  readonly jitterMs: number;
  /** Round trip from RTCP, ms; null when no RTCP report came back. */
  readonly roundTripMs: number | null;
  /** Packets dropped because they came from an unexpected address. */
  readonly packetsRejected: number;
  /** Sound card underruns during the call (the speaker ran dry); 0 without a sound card. */
  readonly audioUnderruns?: number;
  /** Sound card overruns (the microphone's samples were not read in time); 0 without one. */
  readonly audioOverruns?: number;
  /** SRTP/SRTCP packets dropped: failed authentication (tampered, wrong key) and replayed. */
  readonly srtpAuthDropped?: number;
  readonly srtpReplayDropped?: number;
  /** Lost packets whose audio was recovered from the next packet's in-band FEC data (Opus). */
  readonly fecRecovered?: number;
}

/** Who asked: answers go back to the asker; events say where a change came from. */
export type Origin = "control" | "mqtt" | "headset" | "policy" | "lcd";

export type Command =
  | { readonly cmd: "login" }
  | { readonly cmd: "logout" }
  | { readonly cmd: "pause"; readonly reason?: string }
  | { readonly cmd: "unpause" }
  | { readonly cmd: "ready" }
  | { readonly cmd: "answer" }
  | { readonly cmd: "reject" }
  | { readonly cmd: "hangup" }
  | { readonly cmd: "mute"; readonly on?: boolean }
  | { readonly cmd: "hold"; readonly on?: boolean }
  | { readonly cmd: "transfer"; readonly target: string }
  | { readonly cmd: "dial"; readonly target: string }
  | { readonly cmd: "dtmf"; readonly digits: string };

/** Buttons as the headset side reports them: edges, already debounced and de-echoed. */
export type HeadsetButton =
  | "hook_off"
  | "hook_on"
  | "mute"
  | "flash"
  | "reject"
  | "redial"
  | "pause"
  | "ready"
  /** A press with no telephony meaning of its own (Programmable Button, Button 7...). */
  | "programmable";

export type TimerName = "wrap_up" | "ring" | "not_responding";

/**
 * What a side reports about itself, one kind of input for all: SIP registration, a device or a
 * connection up or down, or an adapter fault (message; null when the side works again).
 * Narrow with `"fault" in input`, then `input.side`.
 */
export type HealthInput =
  | { readonly type: "health"; readonly side: "sip"; readonly sip: SipHealth; readonly reason: string | null }
  /** headset and LCD: the device is present; mqtt: the broker connection is up. */
  | { readonly type: "health"; readonly side: "headset" | "lcd" | "mqtt"; readonly up: boolean }
  /** Any side, by its name (`Side.name`, "audio"...). */
  | { readonly type: "health"; readonly side: string; readonly fault: string | null }
  /** A call's sound card xruns (reported when they change); null: the call's card is closed. */
  | {
      readonly type: "health";
      readonly side: "audio";
      readonly xruns: AudioXruns | null;
      /** With null: the call whose card closed. */
      readonly callId?: string;
    };

export type DeskInput =
  | { readonly type: "command"; readonly command: Command; readonly origin: Origin }
  | { readonly type: "button"; readonly button: HeadsetButton }
  // SIP side
  | {
      readonly type: "call_offered";
      readonly callId: string;
      readonly number: string | null;
      readonly displayName: string | null;
      readonly queue: string | null;
      readonly language: string | null;
      readonly service: string | null;
      /** The PBX asked for auto-answer (Call-Info answer-after=0). */
      readonly autoAnswer: boolean;
    }
  | { readonly type: "call_dialling"; readonly callId: string; readonly target: string }
  | { readonly type: "call_answered"; readonly callId: string; readonly encryption?: CallEncryption }
  /**
   * How an answered call's media is protected after an offer/answer (a re-INVITE may change it,
   * e.g. clear → SDES); a report that changes nothing is ignored.
   */
  | { readonly type: "call_encryption"; readonly callId: string; readonly encryption: CallEncryption }
  | {
      readonly type: "call_held";
      readonly callId: string;
      readonly by: "local" | "remote";
      readonly held: boolean;
    }
  | {
      readonly type: "call_transferred";
      readonly callId: string;
      readonly target: string;
      readonly ok: boolean;
      readonly detail: string | null;
      /** local: we sent the REFER (the operator transferred the caller); remote: the far end
       * transferred the desk (we followed its REFER and called `target`). */
      readonly by: "local" | "remote";
    }
  | {
      readonly type: "call_ended";
      readonly callId: string;
      readonly reason: EndReason;
      readonly stats: MediaStats | null;
      readonly detail: string | null;
      /**
       * The call that takes this one's place: the far end transferred the desk (incoming REFER,
       * RFC 3515) and the new outbound call to `target` is up. The desk goes on with it, without
       * wrap-up in between.
       */
      readonly followedBy?: { readonly callId: string; readonly target: string };
    }
  // every side
  | HealthInput
  // presence
  | { readonly type: "queue_stats"; readonly stats: Omit<QueueSummary, "receivedAt"> | null }
  // the runner
  | { readonly type: "timer_fired"; readonly timer: TimerName }
  | { readonly type: "policy_changed"; readonly policy: Policy }
  // the boot path (app.ts): what the previous run left in state_dir, stepped once after start
  | {
      readonly type: "desk_restarted";
      /** The status saved by the previous run (initialState already turned `available` into paused). */
      readonly previous: { readonly status: AgentStatus; readonly reason: string | null } | null;
      /** A call that was open when the previous run died: it gets its `call.ended` (desk_restart). */
      readonly openCall: OpenCallRecord | null;
    };

/** Events for the durable outbox (contracts/mqtt.md § Events): the outbox adds v, id, seq, ts. */
export type DeskEvent =
  | {
      readonly type: "call.offered";
      readonly call_id: string;
      readonly direction: CallDirection;
      readonly number: string | null;
      readonly name: string | null;
      readonly queue: string | null;
      readonly language: string | null;
      readonly service: string | null;
    }
  | {
      readonly type: "call.answered";
      readonly call_id: string;
      readonly direction: CallDirection;
      readonly ring_time: number;
      /** How the media is protected (null: not known). */
      readonly encryption: CallEncryption | null;
    }
  | {
      readonly type: "call.ended";
      readonly call_id: string;
      readonly direction: CallDirection;
      readonly number: string | null;
      readonly queue: string | null;
      readonly duration: number;
      readonly talk_time: number;
      readonly end_reason: EndReason;
      readonly detail: string | null;
      readonly packets_lost: number | null;
      readonly jitter_ms: number | null;
      readonly round_trip_ms: number | null;
      readonly audio_underruns: number | null;
      readonly audio_overruns: number | null;
      /** SRTP packets dropped: failed authentication, replayed (null: no media statistics). */
      readonly srtp_auth_dropped: number | null;
      readonly srtp_replay_dropped: number | null;
      /** Lost packets recovered from the next packet's in-band FEC data (Opus; null: no media statistics). */
      readonly fec_recovered: number | null;
    }
  | {
      readonly type: "call.transferred";
      readonly call_id: string;
      readonly target: string;
      readonly ok: boolean;
      readonly detail: string | null;
      /** local: the operator transferred the caller; remote: the far end transferred the desk. */
      readonly by: "local" | "remote";
    }
  | {
      readonly type: "status.changed";
      readonly status: AgentStatus;
      readonly reason: string | null;
      readonly previous_status: AgentStatus;
      readonly previous_reason: string | null;
      readonly origin: Origin;
    };

export type SipAction =
  /** 180 Ringing: the desk rings for this offer (not sent when it answers or refuses at once). */
  | { readonly action: "ring"; readonly callId: string }
  | { readonly action: "answer"; readonly callId: string }
  | { readonly action: "reject"; readonly callId: string; readonly code: 480 | 486 | 603 }
  | { readonly action: "hangup"; readonly callId: string }
  | { readonly action: "hold"; readonly callId: string; readonly on: boolean }
  | { readonly action: "transfer"; readonly callId: string; readonly target: string }
  | { readonly action: "dial"; readonly target: string }
  | { readonly action: "dtmf"; readonly callId: string; readonly digits: string };

export type Effect =
  | ({ readonly type: "sip" } & SipAction)
  | { readonly type: "event"; readonly event: DeskEvent }
  | { readonly type: "start_timer"; readonly timer: TimerName; readonly ms: number }
  | { readonly type: "cancel_timer"; readonly timer: TimerName }
  /** Remember the agent status across restarts (state_dir). */
  | { readonly type: "persist_status"; readonly status: AgentStatus; readonly reason: string | null }
  /** Push the full indicator state to the headset again (its own hook state went astray). */
  | { readonly type: "headset_resync" };

export type EffectType = Effect["type"];

export type ErrorCode =
  | "no_call"
  | "not_available"
  | "bad_state"
  | "bad_reason"
  | "bad_target"
  | "bad_digits"
  | "bad_request"
  | "unknown_command";

export interface CommandError {
  readonly code: ErrorCode;
  readonly message: string;
}

export interface StepResult {
  readonly state: DeskState;
  readonly effects: readonly Effect[];
  /** Set when a command was refused; the state is then unchanged. */
  readonly error?: CommandError;
}
