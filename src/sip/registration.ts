/**
 * Registration and liveness of the SIP side as one pure state machine:
 * `next(state, event) → { state, actions }`. No sip.js, no timers, no I/O: the SipAgent feeds
 * it what happened (connection, REGISTER outcome, sip.js Registerer state, timers, liveness
 * answers) and carries out the actions. When to retry is not decided here: a `retry` action asks
 * the one Reconnector (supervise/), which calls back with `retry_due`.
 *
 * ```
 *   started ──▶ connecting ──connected──▶ registering ──accepted──▶ registered ──▶ liveness every N s
 *                  ▲   │ connect failed      │ refused 401/403/404/407:       │ connection lost,
 *                  │   ▼                     │  next server (fail_over), or   │ lapsed, liveness
 *                  │  retry (backoff) ◀──────┘  5 min when all refused        │ check failed
 *                  └──────────────────────────────────────────────────────────┘
 * ```
 * What it keeps:
 * - `health`: what the desk was last told (the `health` input of side "sip"); a report is an action, made
 *   only when the health changes (a `registering` with a new reason is not news).
 * - `bindings`: over TCP/TLS our Contact names our end of the connection, so a new connection
 *   is a new binding; the REGISTER that adds it removes the older ones (`remove`, RFC 3261
 *   §10.2.2), or a few quick reconnects leave a dozen dead bindings, each a fork branch
 *   (Kamailio gives up with 477).
 * - `failover`: registrars that refused our credentials since the last success. Another server
 *   of the list may hold them (a fallback PBX, another realm): try the next one; once every
 *   server refused, back to the primary and the slow fixed retry.
 * - `link`: whether connected and how many connections so far; registering on a new connection
 *   while calls are up asks each dialog whether it survived (`check_dialogs`).
 * - `liveness`: an OPTIONS to our own AOR through the registrar (it comes back to us over the
 *   registered connection). The first answer on a connection is the baseline; no answer, or a
 *   status worse than the baseline (408, 480 and above), means the registrar lost us: reconnect.
 */
import type { SipHealth } from "../core/types.js";

export interface RegistrationState {
  /** The servers' URLs in configured order (failover goes round them). */
  readonly servers: readonly string[];
  /** What the desk was last told; null before the first report. */
  readonly health: { readonly sip: SipHealth; readonly reason: string | null } | null;
  readonly link: {
    readonly up: boolean;
    /** Connections made so far, and the one whose registration last checked the dialogs. */
    readonly connections: number;
    readonly checked: number;
  };
  /** A retry was asked of the Reconnector and has not come (one at a time). */
  readonly retryPending: boolean;
  /** The status and reason of the last refused REGISTER since the last one sent. */
  readonly lastFailure: string | null;
  readonly bindings: {
    /** The Contact of our last accepted REGISTER. */
    readonly registered: string | null;
    /** Older Contacts still to remove at the registrar. */
    readonly stale: readonly string[];
  };
  readonly failover: {
    /** Servers that refused our credentials since the last success (this round). */
    readonly refusedBy: readonly string[];
    /** Why the connection is being moved on (reported instead of "connection closed"). */
    readonly why: string | null;
  };
  readonly liveness: {
    /** Its timers run (from the first registration until the registration or link is lost). */
    readonly running: boolean;
    /** The registrar's answer to the first check on this connection. */
    readonly baseline: number | null;
    readonly inFlight: boolean;
  };
}

export type RegistrationEvent =
  | { readonly type: "started" }
  | { readonly type: "stopped" }
  /** Connecting failed (every server): `why` for the desk. */
  | { readonly type: "connect_failed"; readonly why: string }
  /** A connection is up; `contact` is our Contact on it. */
  | { readonly type: "connected"; readonly contact: string }
  /** The connection is gone; `error` unless we closed it. */
  | { readonly type: "disconnected"; readonly error: string | null }
  /** 2xx to a REGISTER that carried `contact` and removed `removed`. */
  | { readonly type: "register_accepted"; readonly contact: string; readonly removed: readonly string[] }
  /** A final non-2xx to a REGISTER, from `server` (the connected one). */
  | {
      readonly type: "register_refused";
      readonly status: number;
      readonly reason: string;
      readonly server: string | null;
    }
  /** sip.js's Registerer became Registered. */
  | { readonly type: "registerer_registered" }
  /** sip.js's Registerer became Unregistered (expired, or a REGISTER was refused). */
  | { readonly type: "registerer_unregistered" }
  /** The Reconnector's turn; `contact` is our Contact on the connection, if any. */
  | { readonly type: "retry_due"; readonly contact: string }
  /** A liveness timer fired. */
  | { readonly type: "liveness_due" }
  /** The liveness OPTIONS was answered (`status`), or not (null). */
  | { readonly type: "liveness_answered"; readonly status: number | null; readonly reason: string };

export type RegistrationAction =
  /** Tell the desk (its `health` input of side "sip"). */
  | { readonly type: "report"; readonly sip: SipHealth; readonly reason: string | null }
  /** Open a connection (from the current first server); a failure comes back as connect_failed. */
  | { readonly type: "connect" }
  /** Send REGISTER with `contact`, removing the `remove` bindings (expires=0). */
  | { readonly type: "register"; readonly contact: string; readonly remove: readonly string[] }
  /** Registered: the link counts as up for the Reconnector (backoff afresh). */
  | { readonly type: "up" }
  /** Ask the Reconnector for a retry_due, after the backoff or the slow fixed delay. */
  | { readonly type: "retry"; readonly why: string; readonly after: "backoff" | "every_server_refused" }
  /** The next connect starts with the server after `server`; drop this connection. */
  | { readonly type: "fail_over"; readonly server: string | null; readonly why: string }
  /** The next connect starts with the primary again. */
  | { readonly type: "start_with_primary" }
  | { readonly type: "start_liveness" }
  | { readonly type: "stop_liveness" }
  /** Send the liveness OPTIONS; its outcome comes back as liveness_answered. */
  | { readonly type: "check_liveness" }
  /** The registrar lost us: drop the connection (the reconnect re-registers). */
  | { readonly type: "reconnect"; readonly why: string }
  /** Registered on a new connection: ask each call's dialog whether it survived. */
  | { readonly type: "check_dialogs" };

export interface Step {
  readonly state: RegistrationState;
  readonly actions: readonly RegistrationAction[];
}

/** Statuses that mean "not these credentials here": try the next server (RFC 3261 §21.4). */
const REFUSED = new Set([401, 403, 404, 407]);

export function initialRegistration(servers: readonly string[]): RegistrationState {
  return {
    servers,
    health: null,
    link: { up: false, connections: 0, checked: 0 },
    retryPending: false,
    lastFailure: null,
    bindings: { registered: null, stale: [] },
    failover: { refusedBy: [], why: null },
    liveness: { running: false, baseline: null, inFlight: false },
  };
}

export function next(state: RegistrationState, event: RegistrationEvent): Step {
  const t = new Transition(state);
  switch (event.type) {
    case "started":
      t.report("registering", null);
      break;
    case "stopped":
      t.set({ link: { ...t.s.link, up: false }, retryPending: false });
      t.set({ liveness: { ...t.s.liveness, running: false, inFlight: false } });
      t.report("unregistered", "stopped");
      break;
    case "connect_failed":
      t.scheduleReconnect(event.why);
      break;
    case "connected":
      t.set({
        link: { ...t.s.link, up: true, connections: t.s.link.connections + 1 },
        liveness: { ...t.s.liveness, baseline: null },
      });
      t.register(event.contact);
      break;
    case "disconnected": {
      t.set({ link: { ...t.s.link, up: false } });
      t.stopLiveness();
      const why =
        t.s.failover.why ?? (event.error !== null ? `connection lost: ${event.error}` : "connection closed");
      t.set({ failover: { ...t.s.failover, why: null } });
      t.report("unregistered", why);
      t.scheduleReconnect(event.error ?? "closed");
      break;
    }
    case "register_accepted":
      t.set({
        bindings: {
          registered: event.contact,
          stale: t.s.bindings.stale.filter((c) => !event.removed.includes(c)),
        },
      });
      t.registered();
      break;
    case "registerer_registered":
      t.registered();
      break;
    case "register_refused":
      t.refused(event.status, event.reason, event.server);
      break;
    case "registerer_unregistered":
      t.stopLiveness();
      if (t.s.health?.sip === "failed") break;
      t.report("unregistered", t.s.lastFailure ?? "registration lapsed");
      // A lapsed refresh: register again on this connection (if it is gone, its loss reconnects).
      if (t.s.link.up) t.retry(t.s.lastFailure ?? "registration lapsed", "backoff");
      break;
    case "retry_due":
      t.set({ retryPending: false });
      if (t.s.link.up) t.register(event.contact);
      else {
        t.report("registering", t.s.health?.reason ?? null);
        t.act({ type: "connect" });
      }
      break;
    case "liveness_due":
      if (!t.s.link.up || t.s.liveness.inFlight) break;
      t.set({ liveness: { ...t.s.liveness, inFlight: true } });
      t.act({ type: "check_liveness" });
      break;
    case "liveness_answered":
      t.set({ liveness: { ...t.s.liveness, inFlight: false } });
      t.livenessAnswered(event.status, event.reason);
      break;
  }
  return { state: t.s, actions: t.actions };
}

/** One step being built: the state so far and the actions in order. */
class Transition {
  readonly actions: RegistrationAction[] = [];
  constructor(public s: RegistrationState) {}

  set(patch: Partial<RegistrationState>): void {
    this.s = { ...this.s, ...patch };
  }

  act(action: RegistrationAction): void {
    this.actions.push(action);
  }

  /** Tell the desk, unless it knows already (a new reason while registering is not news). */
  report(sip: SipHealth, reason: string | null): void {
    const h = this.s.health;
    if (h && h.sip === sip && (h.reason === reason || sip === "registering")) return;
    this.set({ health: { sip, reason } });
    this.act({ type: "report", sip, reason });
  }

  register(contact: string): void {
    if (this.s.health?.sip !== "registered") this.report("registering", this.s.health?.reason ?? null);
    const { registered, stale } = this.s.bindings;
    const older = registered !== null && registered !== contact && !stale.includes(registered);
    const remove = [...stale, ...(older ? [registered] : [])].filter((c) => c !== contact);
    this.set({ lastFailure: null, bindings: { registered, stale: remove } });
    this.act({ type: "register", contact, remove });
  }

  registered(): void {
    this.set({ failover: { ...this.s.failover, refusedBy: [] } });
    this.act({ type: "up" });
    this.report("registered", null);
    if (!this.s.liveness.running) {
      this.set({ liveness: { ...this.s.liveness, running: true } });
      this.act({ type: "start_liveness" });
    }
    const { connections, checked } = this.s.link;
    if (connections > 1 && checked !== connections) {
      this.set({ link: { ...this.s.link, checked: connections } });
      this.act({ type: "check_dialogs" });
    }
  }

  refused(status: number, reason: string, server: string | null): void {
    const failure = `${status} ${reason}`;
    this.set({ lastFailure: failure });
    const failed = REFUSED.has(status);
    if (failed) {
      const refusedBy = [...this.s.failover.refusedBy];
      if (server !== null && !refusedBy.includes(server)) refusedBy.push(server);
      if (!this.s.servers.every((s) => refusedBy.includes(s))) {
        const why = `${failure} from ${server ?? "the registrar"}; trying the next server`;
        this.set({ failover: { refusedBy, why } });
        this.act({ type: "fail_over", server, why: failure });
        return;
      }
      // every registrar refused: the slow retry, from the primary, and a new round after it
      this.set({ failover: { ...this.s.failover, refusedBy: [] } });
      this.act({ type: "start_with_primary" });
    }
    this.report(failed ? "failed" : "unregistered", failure);
    this.retry(failure, failed ? "every_server_refused" : "backoff");
  }

  livenessAnswered(status: number | null, reason: string): void {
    const baseline = this.s.liveness.baseline;
    let lost: boolean;
    if (status === null) lost = baseline !== null;
    else if (baseline === null) {
      // the first answer on this connection is how this registrar answers (the baseline)
      this.set({ liveness: { ...this.s.liveness, baseline: status } });
      lost = false;
    } else lost = status !== baseline && (status === 408 || status >= 480);
    if (!lost) return;
    this.report("unregistered", `liveness check: ${status === null ? "" : `${status} `}${reason}`.trim());
    this.act({ type: "reconnect", why: "liveness" });
  }

  stopLiveness(): void {
    if (!this.s.liveness.running) return;
    this.set({ liveness: { ...this.s.liveness, running: false } });
    this.act({ type: "stop_liveness" });
  }

  /** The connection is down or could not be made: say why, and ask for a retry. */
  scheduleReconnect(why: string): void {
    if (this.s.retryPending) return;
    // Say why a connect attempt failed (the LCD, presence and doctor show it), unless the
    // registrar already refused our credentials, which stays the more useful reason.
    if (this.s.health?.sip === "registering") this.report("unregistered", why);
    this.retry(why, "backoff");
  }

  retry(why: string, after: "backoff" | "every_server_refused"): void {
    if (this.s.retryPending) return;
    this.set({ retryPending: true });
    this.act({ type: "retry", why, after });
  }
}
