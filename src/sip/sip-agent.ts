/**
 * The SIP side: registers the agent's extension, turns INVITEs into desk inputs and executes the
 * desk's SIP actions. sip.js objects stay in this folder.
 *
 * Link and registration (what `registration_changed` reports):
 * ```
 *   start ─▶ connecting ──link up──▶ REGISTER sent (registering) ──200──▶ registered
 *               ▲  │ all servers down                 │ 401/403...: failed     │ link lost, refresh
 *               │  ▼                                  ▼                       │ failed, liveness
 *            backoff (capped, full jitter) ◀──────────┴───────────────────────┘ check failed
 * ```
 * sip.js does not reconnect, and its Registerer stays "Registered" after the server is gone
 * (sip-lab.md), so the agent reconnects itself, re-registers on every new connection, sends CRLF
 * keep-alives, and checks liveness at the SIP level with an OPTIONS to its own AOR through the
 * registrar: that request comes back to us over the registered connection, so it also catches a
 * registrar that has silently written the connection off (Kamailio's websocket ping trap).
 */
import { readFile } from "node:fs/promises";
import { type Emitter, Registerer, RegistererState, UserAgent, type UserAgentOptions } from "sip.js";
import type { Emit, Side } from "../core/side.js";
import type { DeskState, Effect, SipAction, SipHealth } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import type { MediaSessionFactory } from "../media/media.js";
import { backoffDelay } from "./backoff.js";
import { CallTable } from "./calls.js";
import { installFastGrammar } from "./fast-grammar.js";
import type { Link } from "./links.js";
import type { SipOptions } from "./options.js";
import { makeReceiver } from "./receive.js";
import { parseServer, type SipServer } from "./server-url.js";
import { ConnectionTransport } from "./transport.js";

export interface SipAgentDeps {
  readonly options: SipOptions;
  readonly media: MediaSessionFactory;
  readonly log: Logger;
  readonly clock?: () => number;
  /** Reconnect backoff; tests shorten it. */
  readonly backoff?: { readonly baseMs: number; readonly capMs: number };
  /** RFC 4028 Min-SE, seconds (default 90, the RFC's floor); tests shorten it. */
  readonly sessionTimerMinSe?: number;
  /** How long the in-dialog OPTIONS after a re-registration may wait for its answer. */
  readonly dialogCheckTimeoutMs?: number;
}

const DIALOG_CHECK_TIMEOUT_MS = 10_000;

const DEFAULT_BACKOFF = { baseMs: 1000, capMs: 60_000 };
/** After 401/403 the credentials are wrong: retry slowly (a fixed config rarely fixes itself). */
const FAILED_RETRY_MS = 5 * 60_000;

export class SipAgent implements Side {
  readonly name = "sip";
  readonly handles = ["sip"] as const;

  private readonly options: SipOptions;
  private readonly log: Logger;
  private readonly servers: readonly SipServer[];
  private readonly domain: string;
  private emit: Emit = () => ({ ok: true });
  private ua: UserAgent | null = null;
  private transport: ConnectionTransport | null = null;
  private registerer: Registerer | null = null;
  private calls: CallTable | null = null;
  private health: { sip: SipHealth; reason: string | null } | null = null;
  private stopping = false;
  private started = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private livenessTimer: NodeJS.Timeout | null = null;
  /** Status the registrar gave to our first liveness OPTIONS on a fresh registration. */
  private livenessBaseline: number | null = null;
  private livenessInFlight = false;
  private lastFailure: string | null = null;
  /** The Contact of our last accepted REGISTER, and older ones still to remove at the registrar. */
  private registeredContact: string | null = null;
  private readonly staleContacts = new Set<string>();
  /** Servers whose registrar refused our credentials since the last success (failover round). */
  private readonly refusedBy = new Set<string>();
  /** Why the connection is being moved to the next server (reported instead of "connection closed"). */
  private failoverWhy: string | null = null;
  /** Connections made so far, and the one whose registration last checked the calls' dialogs. */
  private connections = 0;
  private checkedConnection = 0;

  constructor(private readonly deps: SipAgentDeps) {
    // the plain headers of every call parsed by hand, not by sip.js's PEG interpreter (same results)
    installFastGrammar();
    this.options = deps.options;
    this.log = deps.log;
    this.servers = deps.options.servers.map(parseServer);
    if (this.servers.length === 0) throw new Error("sip: no server configured");
    const aor = UserAgent.makeURI(deps.options.aor);
    if (!aor) throw new Error(`sip: bad aor "${deps.options.aor}"`);
    this.domain = aor.host;
  }

  /** Whether the registrar has our binding (as far as we know). */
  get registration(): SipHealth {
    return this.health?.sip ?? "unregistered";
  }

  /** Calls in flight: our call table and sip.js's sessions, both 0 when the line is idle. */
  get callsInFlight(): { readonly table: number; readonly sessions: number } {
    return { table: this.calls?.size ?? 0, sessions: Object.keys(this.ua?._sessions ?? {}).length };
  }

  async start(emit: Emit): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.stopping = false;
    this.emit = emit;
    const ca = this.options.caFile !== undefined ? await readFile(this.options.caFile, "utf8") : undefined;
    const aor = UserAgent.makeURI(this.options.aor);
    if (!aor) throw new Error("unreachable: aor checked in the constructor");
    const primary = this.servers[0] as SipServer;
    const transportOptions = {
      servers: this.servers,
      trust: { rejectUnauthorized: this.options.rejectUnauthorized, ...(ca !== undefined ? { ca } : {}) },
      keepAliveSeconds: this.options.keepAliveSeconds,
      connectTimeoutMs: 5000,
      log: this.log.child("transport"),
      onLink: (link: Link) => this.onLink(link),
    };
    // The call table owns the calls' session description handlers: sip.js asks it for each
    // session's (calls.sdhFactory), and it places and answers calls through the UserAgent.
    const calls = new CallTable({
      media: this.deps.media,
      log: this.log.child("call"),
      emit: (input) => this.emit(input),
      domain: this.domain,
      callInfoHeaders: this.options.callInfoHeaders,
      acceptRefer: this.options.acceptRefer ?? true,
      ...(this.deps.sessionTimerMinSe !== undefined
        ? { sessionTimerMinSe: this.deps.sessionTimerMinSe }
        : {}),
    });
    this.calls = calls;
    const uaOptions: UserAgentOptions = {
      uri: aor,
      authorizationUsername: this.options.username,
      authorizationPassword: this.options.password,
      ...(this.options.displayName !== undefined ? { displayName: this.options.displayName } : {}),
      userAgentString: this.options.userAgent,
      logBuiltinEnabled: false,
      logConfiguration: false,
      logLevel: "debug",
      logConnector: (level, category, _label, content) => this.sipJsLog(level, category, content),
      // Our own reconnect with backoff (sip-lab.md: sip.js has none that re-registers).
      reconnectionAttempts: 0,
      // The core's ring timeout decides how long a call may ring, not sip.js's 60 s default.
      noAnswerTimeout: 86_400,
      // 180 Ringing is ours to send, once the desk decides to ring (calls.ts): an auto-answered
      // call then goes straight to 200 OK.
      sendInitialProvisionalResponse: false,
      // RFC 3581: ask for rport, the box is usually behind a home router.
      forceRport: true,
      contactParams: { transport: primary.viaTransport.toLowerCase() },
      transportConstructor: ConnectionTransport,
      transportOptions,
      sessionDescriptionHandlerFactory: calls.sdhFactory,
      delegate: {
        onConnect: () => this.fenced("onConnect", () => this.onConnected()),
        onDisconnect: (error?: Error) => this.fenced("onDisconnect", () => this.onDisconnected(error)),
        onInvite: (invitation) => this.fenced("onInvite", () => this.calls?.offered(invitation)),
      },
    };
    const ua = new UserAgent(uaOptions);
    this.ua = ua;
    this.transport = ua.transport as ConnectionTransport;
    this.transport.setReceiver(
      makeReceiver(ua, (text) => this.transport?.sendRaw(text), this.log.child("receive")),
    );
    calls.useAgent(ua);
    this.registerer = new Registerer(ua, { expires: this.options.registerExpires, logConfiguration: false });
    this.registerer.stateChange.addListener((state) =>
      this.fenced("registerer", () => this.onRegistererState(state)),
    );
    this.report("registering", null);
    ua.start().catch((error: unknown) => {
      // ua.start() connects; an unreachable server is reported through onDisconnect/backoff.
      this.log.warn({ error: String(error) }, "first connect failed");
      this.scheduleReconnect(String(error instanceof Error ? error.message : error));
    });
  }

  async stop(): Promise<void> {
    if (!this.started || this.stopping) return;
    this.stopping = true;
    this.clearTimers();
    await this.calls?.endAll().catch(() => {});
    await this.deps.media.close?.().catch(() => {});
    const registerer = this.registerer;
    if (registerer && registerer.state === RegistererState.Registered && this.transport?.isConnected()) {
      // RFC 3261 §10.2.2: remove our binding; do not wait long for the answer.
      await Promise.race([
        new Promise<void>((resolve) => {
          registerer.stateChange.addListener((s) => s !== RegistererState.Registered && resolve());
          registerer.unregister().catch(() => resolve());
        }),
        sleep(2000),
      ]);
    }
    // sip.js waits for an unanswered REGISTER to time out (Timer F, 32 s) before it stops:
    // give it 2 s, then close the connection ourselves.
    await Promise.race([this.ua?.stop().catch(() => {}), sleep(2000)]);
    await this.transport?.disconnect().catch(() => {});
    this.ua = null;
    this.report("unregistered", "stopped");
    this.started = false;
  }

  execute(effect: Effect): void | Promise<void> {
    if (effect.type !== "sip") return;
    const { type: _type, ...action } = effect;
    return this.calls?.execute(action as SipAction);
  }

  liveCalls(): readonly string[] {
    return this.calls?.sessionIds() ?? [];
  }

  endUnknownCall(callId: string, detail: string): Promise<void> {
    return this.calls?.terminate(callId, detail) ?? Promise.resolve();
  }

  project(state: DeskState): void {
    this.calls?.project(state.call ? { id: state.call.id, muted: state.call.muted } : null);
  }

  /** Forces a reconnect now (tests, and the control socket's debugging commands). */
  reconnect(why: string): void {
    this.log.info({ why }, "forcing a reconnect");
    void this.transport?.disconnect();
  }

  // ── connection ────────────────────────────────────────────────────────────────────────────

  private onLink(link: Link): void {
    const ua = this.ua;
    if (!ua) return;
    // Contact (RFC 3261 §8.1.1.8) names where we can be reached; for TCP/TLS that is our end of
    // the connection (the registrar still routes by connection, RFC 5626 §5.3). WebSockets keep
    // the `.invalid` host (RFC 7118 §5).
    const uri = ua.contact.uri;
    uri.setParam("transport", link.server.viaTransport.toLowerCase());
    if (link.local) {
      uri.host = link.local.address.includes(":") ? `[${link.local.address}]` : link.local.address;
      uri.port = link.local.port;
    }
  }

  private onConnected(): void {
    if (this.stopping) return;
    this.connections++;
    this.livenessBaseline = null;
    this.void(this.register());
  }

  private onDisconnected(error?: Error): void {
    this.stopLiveness();
    if (this.stopping) return;
    const failover = this.failoverWhy;
    this.failoverWhy = null;
    this.report(
      "unregistered",
      failover ?? (error ? `connection lost: ${error.message}` : "connection closed"),
    );
    this.scheduleReconnect(error?.message ?? "closed");
  }

  private scheduleReconnect(why: string): void {
    if (this.stopping || this.reconnectTimer) return;
    // A connect attempt failed: say why (the LCD, presence and doctor show it), unless the
    // registrar already refused our credentials, which stays the more useful reason.
    if (this.health?.sip === "registering") this.report("unregistered", why);
    const delay = backoffDelay(this.attempt++, this.deps.backoff ?? DEFAULT_BACKOFF);
    this.log.info({ why, delayMs: delay, attempt: this.attempt }, "reconnecting");
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.stopping) return;
      this.report("registering", this.health?.reason ?? null);
      this.transport?.connect().catch((error: unknown) => {
        this.scheduleReconnect(error instanceof Error ? error.message : String(error));
      });
    }, delay);
  }

  // ── registration ──────────────────────────────────────────────────────────────────────────

  private async register(): Promise<void> {
    const registerer = this.registerer;
    if (!registerer || this.stopping) return;
    // `waiting` is private in the typings but is the only way to know a REGISTER is outstanding.
    const pending = registerer as unknown as { waiting: boolean; waitingChange: Emitter<boolean> };
    if (pending.waiting) {
      // A REGISTER from the previous connection is still pending: wait for its outcome.
      await new Promise<void>((resolve) => {
        const done = () => {
          pending.waitingChange.removeListener(done);
          resolve();
        };
        pending.waitingChange.addListener(done);
        setTimeout(done, 5000).unref();
      });
    }
    if (this.stopping || !this.transport?.isConnected()) return;
    if (this.health?.sip !== "registered") this.report("registering", this.health?.reason ?? null);
    this.lastFailure = null;
    // Over TCP/TLS our Contact names our end of the connection (onLink), so a new connection is a
    // new binding. The old one would stay at the registrar until it expires: a few quick
    // reconnects leave a dozen dead bindings, each a fork branch (Kamailio gives up with 477).
    // The REGISTER that adds the new binding removes the old ones (RFC 3261 §10.2.2).
    const contact = this.ua?.contact.uri.toString() ?? "";
    if (this.registeredContact !== null && this.registeredContact !== contact) {
      this.staleContacts.add(this.registeredContact);
    }
    this.staleContacts.delete(contact);
    const removing = [...this.staleContacts];
    await registerer.register({
      // Always given (sip.js keeps the last options for its refreshes): no removal once done.
      requestOptions: { extraHeaders: removing.map((c) => `Contact: <${c}>;expires=0`) },
      requestDelegate: {
        // A refresh on a new connection leaves the Registerer "Registered" (no state change):
        // the 2xx itself says the registrar has our binding again.
        onAccept: () =>
          this.fenced("registered", () => {
            this.registeredContact = contact;
            for (const c of removing) this.staleContacts.delete(c);
            if (removing.length > 0) this.log.info({ removed: removing }, "stale bindings removed");
            this.onRegistered();
          }),
        onReject: (response) => {
          const m = response.message;
          this.lastFailure = `${m.statusCode} ${m.reasonPhrase}`;
          this.log.warn({ status: m.statusCode, reason: m.reasonPhrase }, "registration refused");
          const failed =
            m.statusCode === 401 || m.statusCode === 403 || m.statusCode === 407 || m.statusCode === 404;
          if (failed && this.failOver(this.lastFailure)) return;
          this.report(failed ? "failed" : "unregistered", this.lastFailure);
          this.retryRegistration(failed ? FAILED_RETRY_MS : undefined);
        },
      },
    });
  }

  /**
   * A registrar refused our credentials (401/403/404/407): another server of the list may hold
   * them (a fallback PBX, another realm), so try the next one now, round the list, before the
   * slow retry. True when moving on; false once every server refused in this round.
   */
  private failOver(why: string): boolean {
    const server = this.transport?.server;
    if (server) this.refusedBy.add(server.url);
    if (this.servers.every((s) => this.refusedBy.has(s.url))) {
      // every registrar refused: the slow retry, from the primary, and a new round after it
      this.refusedBy.clear();
      this.transport?.startWithPrimary();
      return false;
    }
    this.log.warn({ server: server?.url, why }, "registrar refused us: trying the next server");
    this.failoverWhy = `${why} from ${server?.url ?? "the registrar"}; trying the next server`;
    this.transport?.startWithNextServer();
    this.reconnect("registrar failover");
    return true;
  }

  private retryRegistration(delayMs?: number): void {
    if (this.stopping || this.reconnectTimer) return;
    const delay = delayMs ?? backoffDelay(this.attempt++, this.deps.backoff ?? DEFAULT_BACKOFF);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.stopping) return;
      if (this.transport?.isConnected()) this.void(this.register());
      else this.transport?.connect().catch((e: unknown) => this.scheduleReconnect(String(e)));
    }, delay);
  }

  private onRegistererState(state: RegistererState): void {
    this.log.debug({ state }, "registerer");
    if (this.stopping) return;
    if (state === RegistererState.Registered) {
      this.onRegistered();
    } else if (state === RegistererState.Unregistered) {
      this.stopLiveness();
      if (this.health?.sip === "failed") return;
      this.report("unregistered", this.lastFailure ?? "registration lapsed");
      // A lapsed refresh: register again on this connection, or reconnect if it is gone.
      if (this.transport?.isConnected()) this.retryRegistration();
    }
  }

  private onRegistered(): void {
    if (this.stopping || this.registerer?.state !== RegistererState.Registered) return;
    this.attempt = 0;
    this.refusedBy.clear();
    this.report("registered", null);
    if (!this.livenessTimer) this.startLiveness();
    this.checkDialogsAfterReconnect();
  }

  /**
   * Registered again on a new connection while calls are up (a PBX restart): over ws:// the proxy
   * routed each dialog by the old connection, so the far end's BYE may never reach us. Ask each
   * dialog with an in-dialog OPTIONS; a 481/408/no answer ends the call (`dialog_lost`).
   */
  private checkDialogsAfterReconnect(): void {
    const connection = this.connections;
    if (connection <= 1 || this.checkedConnection === connection) return;
    this.checkedConnection = connection;
    if (!this.calls || this.calls.size === 0) return;
    this.log.info({ calls: this.calls.size }, "registered on a new connection: checking the calls' dialogs");
    this.void(this.calls.checkDialogs(this.deps.dialogCheckTimeoutMs ?? DIALOG_CHECK_TIMEOUT_MS));
  }

  // ── liveness ──────────────────────────────────────────────────────────────────────────────

  private startLiveness(): void {
    this.stopLiveness();
    const seconds = this.options.livenessSeconds;
    if (seconds <= 0) return;
    // A first check soon after registering learns how the registrar answers (the baseline).
    const first = setTimeout(() => this.checkLiveness(), Math.min(2000, seconds * 1000));
    first.unref();
    this.livenessTimer = setInterval(() => this.checkLiveness(), seconds * 1000);
    this.livenessTimer.unref();
    this.livenessFirst = first;
  }

  private livenessFirst: NodeJS.Timeout | null = null;

  private stopLiveness(): void {
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    if (this.livenessFirst) clearTimeout(this.livenessFirst);
    this.livenessTimer = null;
    this.livenessFirst = null;
  }

  /**
   * OPTIONS to our own AOR (RFC 3261 §11): the registrar routes it to our binding, over our
   * connection, and we answer it; any final response proves the path, but a status worse than the
   * first one on this registration (404/480 "not registered", 408, 5xx) or no answer at all
   * means the registrar has lost us: reconnect (which re-registers).
   */
  private checkLiveness(): void {
    const ua = this.ua;
    if (!ua || this.stopping || this.livenessInFlight || !this.transport?.isConnected()) return;
    const target = UserAgent.makeURI(this.options.aor);
    if (!target) return;
    this.livenessInFlight = true;
    const timeoutMs = Math.max(3000, Math.min(10_000, this.options.livenessSeconds * 500));
    let settled = false;
    const settle = (status: number | null, reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.livenessInFlight = false;
      this.onLivenessResult(status, reason);
    };
    const timer = setTimeout(() => settle(null, "no answer"), timeoutMs);
    try {
      const message = ua.userAgentCore.makeOutgoingRequestMessage("OPTIONS", target, target, target, {});
      ua.userAgentCore.request(message, {
        onAccept: (r) => settle(r.message.statusCode ?? null, r.message.reasonPhrase ?? ""),
        onReject: (r) => settle(r.message.statusCode ?? null, r.message.reasonPhrase ?? ""),
        onTrying: () => {},
      });
    } catch (error) {
      settle(null, String(error));
    }
  }

  private onLivenessResult(status: number | null, reason: string): void {
    if (this.stopping) return;
    this.log.debug({ status, reason, baseline: this.livenessBaseline }, "liveness");
    const bad = status === null || (status !== this.livenessBaseline && (status === 408 || status >= 480));
    if (status !== null && this.livenessBaseline === null) {
      this.livenessBaseline = status;
      if (status < 300) return;
    }
    if (bad && status !== this.livenessBaseline) {
      this.log.warn({ status, reason }, "liveness check failed: the registrar has lost us");
      this.report("unregistered", `liveness check: ${status ?? ""} ${reason}`.trim());
      this.reconnect("liveness");
    }
  }

  // ── helpers ───────────────────────────────────────────────────────────────────────────────

  private report(sip: SipHealth, reason: string | null): void {
    if (this.health && this.health.sip === sip && this.health.reason === reason) return;
    if (this.health && this.health.sip === sip && sip === "registering") return;
    this.health = { sip, reason };
    this.log.info({ sip, reason }, "registration");
    this.emit({ type: "registration_changed", sip, reason });
  }

  private clearTimers(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.stopLiveness();
  }

  private fenced(what: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.log.error(
        { what, error: error instanceof Error ? error.message : String(error) },
        "SIP handler failed",
      );
    }
  }

  private void(promise: Promise<unknown>): void {
    promise.catch((error: unknown) =>
      this.log.warn(
        { error: error instanceof Error ? error.message : String(error) },
        "SIP operation failed",
      ),
    );
  }

  private sipJsLog(level: string, category: string, content: string): void {
    const line = { lib: "sip.js", category };
    if (level === "error") this.log.warn(line, content);
    else if (level === "warn") this.log.info(line, content);
    else if (level === "log") this.log.debug(line, content);
    else this.log.trace(line, content);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
