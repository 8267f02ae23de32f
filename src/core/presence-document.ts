/**
 * The presence document of contracts/mqtt.md, drawn from the desk state. Retained on the broker
 * and answered by `ctl status`: it never carries the caller's number (retained data outlives
 * the call).
 */
import { activity, activitySince, currentCall, held, remoteHeld, routable, wrapUpUntil } from "./derive.js";
import type {
  Activity,
  AgentStatus,
  CallDirection,
  CallEncryption,
  DeskState,
  Pending,
  SipHealth,
} from "./types.js";

export interface PresenceDocument {
  readonly v: 1;
  readonly agent: string;
  readonly name: string | null;
  readonly seq: number;
  readonly ts: string;
  readonly status: AgentStatus;
  readonly reason: string | null;
  readonly status_since: string;
  readonly activity: Activity;
  readonly since: string;
  readonly wrap_up_until: string | null;
  readonly routable: boolean;
  readonly pending: Pending | null;
  readonly call: {
    readonly id: string;
    readonly direction: CallDirection;
    readonly queue: string | null;
    readonly language: string | null;
    readonly service: string | null;
    readonly since: string;
    readonly answered: string | null;
    readonly muted: boolean;
    readonly held: boolean;
    readonly remote_held: boolean;
    /** How the media is protected: "sdes", "dtls", "none"; null while not known (ringing). */
    readonly encryption: CallEncryption | null;
  } | null;
  readonly health: {
    readonly sip: SipHealth;
    readonly sip_reason: string | null;
    readonly headset: boolean | null;
    readonly lcd: boolean | null;
    readonly mqtt: boolean | null;
    /** The call's sound card: "degraded" while xruns repeat; null without a call on a card. */
    readonly audio: "ok" | "degraded" | null;
  };
}

export interface AgentIdentity {
  readonly id: string;
  readonly name: string | null;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function presenceDocument(state: DeskState, agent: AgentIdentity, now: number): PresenceDocument {
  const c = currentCall(state);
  const until = wrapUpUntil(state);
  return {
    v: 1,
    agent: agent.id,
    name: agent.name,
    seq: state.seq,
    ts: iso(now),
    status: state.status,
    reason: state.reason,
    status_since: iso(state.statusSince),
    activity: activity(state),
    since: iso(activitySince(state)),
    wrap_up_until: until === null ? null : iso(until),
    routable: routable(state),
    pending: state.pending,
    call: c
      ? {
          id: c.id,
          direction: c.direction,
          queue: c.queue,
          language: c.language,
          service: c.service,
          since: iso(c.offeredAt),
          answered: c.answeredAt === null ? null : iso(c.answeredAt),
          muted: c.muted,
          held: held(state),
          remote_held: remoteHeld(state),
          encryption: c.encryption ?? null,
        }
      : null,
    health: {
      sip: state.health.sip,
      sip_reason: state.health.sipReason,
      headset: state.health.headset,
      lcd: state.health.lcd,
      mqtt: state.health.mqtt,
      audio: state.health.audio ? (state.health.audio.degraded ? "degraded" : "ok") : null,
    },
  };
}
