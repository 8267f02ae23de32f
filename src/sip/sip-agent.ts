/**
 * The SIP side: registers the agent's extension, turns INVITEs into desk inputs and executes the
 * desk's SIP actions. sip.js objects stay in this folder.
 *
 * Link and registration (what the `health` input of side "sip" reports) are decided by a pure state
 * machine (registration.ts, whose doc has the diagram); this class is its driver: it feeds the
 * machine what sip.js and the connection do and carries out its actions. When to retry is the
 * one Reconnector's decision (supervise/). sip.js does not reconnect, and its Registerer stays
 * "Registered" after the server is gone (sip-lab.md), so the agent reconnects itself,
 * re-registers on every new connection, sends CRLF keep-alives, and checks liveness at the SIP
 * level with an OPTIONS to its own AOR through the registrar: that request comes back to us over
 * the registered connection, so it also catches a registrar that has silently written the
 * connection off (Kamailio's websocket ping trap).
 */
import { readFile } from "node:fs/promises";
import type { Emitter, UserAgentOptions } from "sip.js";
import { currentCall } from "../core/derive.js";
import type { Emit, Side } from "../core/side.js";
import type { DeskState, Effect, SipAction, SipHealth } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import type { MediaSessionFactory } from "../media/media.js";
import { type BackoffPolicy, POLICIES } from "../supervise/backoff.js";
import { Reconnector } from "../supervise/reconnector.js";
import { CallTable } from "./calls.js";
import { installFastGrammar } from "./fast-grammar.js";
import type { Link } from "./links.js";
import type { SipOptions } from "./options.js";
import { makeReceiver } from "./receive.js";
import {
  initialRegistration,
  next,
  type RegistrationAction,
  type RegistrationEvent,
  type RegistrationState,
} from "./registration.js";
import { parseServer, type SipServer } from "./server-url.js";
import { Registerer, RegistererState, UserAgent } from "./sipjs.js";
import { ConnectionTransport } from "./transport.js";

export interface SipAgentDeps {
  readonly options: SipOptions;
  readonly media: MediaSessionFactory;
  readonly log: Logger;
  readonly clock?: () => number;
  /** Reconnect backoff (default POLICIES.sip); tests shorten it. */
  readonly backoff?: BackoffPolicy;
  /** RFC 4028 Min-SE, seconds (default 90, the RFC's floor); tests shorten it. */
  readonly sessionTimerMinSe?: number;
  /** How long the in-dialog OPTIONS after a re-registration may wait for its answer. */
  readonly dialogCheckTimeoutMs?: number;
}

const DIALOG_CHECK_TIMEOUT_MS = 10_000;
/** After the first registration, the media loads what its calls will need (MediaSessionFactory.prepare). */
const MEDIA_PREPARE_DELAY_MS = 1000;

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
  private stopping = false;
  private started = false;
  /** When to reconnect or register again (the one policy); made anew by each start(). */
  private reconnector: Reconnector | null = null;
  /** Registration and liveness: the machine's state, and events that came while it stepped. */
  private machine: RegistrationState;
  private stepping = false;
  private readonly queued: RegistrationEvent[] = [];
  private livenessTimer: NodeJS.Timeout | null = null;
  private livenessFirst: NodeJS.Timeout | null = null;
  private mediaPrepared = false;

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
    this.machine = initialRegistration(this.servers.map((server) => server.url));
  }

  /** Whether the registrar has our binding (as far as we know). */
  get registration(): SipHealth {
    return this.machine.health?.sip ?? "unregistered";
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
    this.reconnector = new Reconnector({
      policy: this.deps.backoff ?? POLICIES.sip,
      retry: () => this.retry(),
    });
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
    this.feed({ type: "started" });
    ua.start().catch((error: unknown) => {
      // ua.start() connects; an unreachable server is reported through onDisconnect/backoff.
      this.log.warn({ error: String(error) }, "first connect failed");
      this.feed({ type: "connect_failed", why: String(error instanceof Error ? error.message : error) });
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
    this.feed({ type: "stopped" });
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
    const call = currentCall(state);
    this.calls?.project(call ? { id: call.id, muted: call.muted } : null);
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

  // ── the registration machine ──────────────────────────────────────────────────────────────

  /** One event into the machine; events that come while its actions run wait their turn. */
  private feed(event: RegistrationEvent): void {
    // While stopping, only the stop itself: sip.js's last callbacks change nothing.
    if (this.stopping && event.type !== "stopped") return;
    this.queued.push(event);
    if (this.stepping) return;
    this.stepping = true;
    try {
      for (let e = this.queued.shift(); e; e = this.queued.shift()) {
        const { state, actions } = next(this.machine, e);
        this.machine = state;
        for (const action of actions) this.fenced(action.type, () => this.perform(action));
      }
    } finally {
      this.stepping = false;
    }
  }

  private perform(a: RegistrationAction): void {
    switch (a.type) {
      case "report":
        this.log.info({ sip: a.sip, reason: a.reason }, "registration");
        this.emit({ type: "health", side: "sip", sip: a.sip, reason: a.reason });
        return;
      case "connect":
        this.transport?.connect().catch((error: unknown) => {
          this.feed({ type: "connect_failed", why: error instanceof Error ? error.message : String(error) });
        });
        return;
      case "register":
        this.void(this.register(a.contact, a.remove));
        return;
      case "up":
        this.reconnector?.up();
        return;
      case "retry": {
        const policy = a.after === "every_server_refused" ? POLICIES.sipRefusedEverywhere : undefined;
        const delay = this.reconnector?.down(a.why, policy);
        this.log.info({ why: a.why, delayMs: delay, attempt: this.reconnector?.attempt }, "reconnecting");
        return;
      }
      case "fail_over":
        this.log.warn({ server: a.server, why: a.why }, "registrar refused us: trying the next server");
        this.transport?.startWithNextServer();
        this.reconnect("registrar failover");
        return;
      case "start_with_primary":
        this.transport?.startWithPrimary();
        return;
      case "start_liveness":
        this.startLiveness();
        return;
      case "stop_liveness":
        this.stopLiveness();
        return;
      case "check_liveness":
        this.checkLiveness();
        return;
      case "reconnect":
        this.log.warn({ why: a.why }, "the registrar has lost us: reconnecting");
        this.reconnect(a.why);
        return;
      case "check_dialogs":
        this.checkDialogsAfterReconnect();
        return;
    }
  }

  // ── connection ────────────────────────────────────────────────────────────────────────────

  private onConnected(): void {
    this.feed({ type: "connected", contact: this.contact() });
  }

  private onDisconnected(error?: Error): void {
    this.feed({ type: "disconnected", error: error ? error.message : null });
  }

  /** The Reconnector's turn. */
  private retry(): void {
    this.feed({ type: "retry_due", contact: this.contact() });
  }

  /** Our Contact on the current connection (onLink sets it). */
  private contact(): string {
    return this.ua?.contact.uri.toString() ?? "";
  }

  // ── registration ──────────────────────────────────────────────────────────────────────────

  private async register(contact: string, removing: readonly string[]): Promise<void> {
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
    await registerer.register({
      // Always given (sip.js keeps the last options for its refreshes): no removal once done.
      requestOptions: { extraHeaders: removing.map((c) => `Contact: <${c}>;expires=0`) },
      requestDelegate: {
        // A refresh on a new connection leaves the Registerer "Registered" (no state change):
        // the 2xx itself says the registrar has our binding again.
        onAccept: () => {
          if (removing.length > 0) this.log.info({ removed: removing }, "stale bindings removed");
          this.fenced("registered", () =>
            this.feed({ type: "register_accepted", contact, removed: removing }),
          );
          this.prepareMedia();
        },
        onReject: (response) => {
          const m = response.message;
          this.log.warn({ status: m.statusCode, reason: m.reasonPhrase }, "registration refused");
          this.feed({
            type: "register_refused",
            status: m.statusCode ?? 0,
            reason: m.reasonPhrase ?? "",
            server: this.transport?.server?.url ?? null,
          });
        },
      },
    });
  }

  /** Once, a second after the first registration (idle time, not the start: idle RSS). */
  private prepareMedia(): void {
    if (this.mediaPrepared || !this.deps.media.prepare) return;
    this.mediaPrepared = true;
    setTimeout(() => {
      if (!this.stopping) this.deps.media.prepare?.();
    }, MEDIA_PREPARE_DELAY_MS).unref();
  }

  private onRegistererState(state: RegistererState): void {
    this.log.debug({ state }, "registerer");
    if (state === RegistererState.Registered) this.feed({ type: "registerer_registered" });
    else if (state === RegistererState.Unregistered) this.feed({ type: "registerer_unregistered" });
  }

  /**
   * Registered again on a new connection while calls are up (a PBX restart): over ws:// the proxy
   * routed each dialog by the old connection, so the far end's BYE may never reach us. Ask each
   * dialog with an in-dialog OPTIONS; a 481/408/no answer ends the call (`dialog_lost`).
   */
  private checkDialogsAfterReconnect(): void {
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
    const first = setTimeout(() => this.feed({ type: "liveness_due" }), Math.min(2000, seconds * 1000));
    first.unref();
    this.livenessTimer = setInterval(() => this.feed({ type: "liveness_due" }), seconds * 1000);
    this.livenessTimer.unref();
    this.livenessFirst = first;
  }

  private stopLiveness(): void {
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    if (this.livenessFirst) clearTimeout(this.livenessFirst);
    this.livenessTimer = null;
    this.livenessFirst = null;
  }

  /**
   * OPTIONS to our own AOR (RFC 3261 §11): the registrar routes it to our binding, over our
   * connection, and we answer it; the machine judges the answer (registration.ts).
   */
  private checkLiveness(): void {
    const ua = this.ua;
    const target = UserAgent.makeURI(this.options.aor);
    if (!ua || !target) return; // stopped meanwhile
    const timeoutMs = Math.max(3000, Math.min(10_000, this.options.livenessSeconds * 500));
    let settled = false;
    const settle = (status: number | null, reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.log.debug({ status, reason, baseline: this.machine.liveness.baseline }, "liveness");
      this.feed({ type: "liveness_answered", status, reason });
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

  // ── helpers ───────────────────────────────────────────────────────────────────────────────

  private clearTimers(): void {
    this.reconnector?.stop();
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
    const ours = level === "error" ? "warn" : level === "warn" ? "info" : level === "log" ? "debug" : "trace";
    // sip.js hands every debug line to us whatever the level: dozens per INVITE, before its 200 OK
    if (!this.log.enabled(ours)) return;
    this.log[ours]({ lib: "sip.js", category }, content);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
