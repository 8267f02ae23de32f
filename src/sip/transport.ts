/**
 * Our sip.js `Transport` (sip-lab.md: sip.js ships only a browser WebSocket transport): one
 * connection at a time to the first reachable server of the list, over WS, WSS, TCP or TLS.
 *
 * ```
 *  Disconnected ──connect()──▶ Connecting ──link open──▶ Connected
 *        ▲                         │ all servers failed      │ link lost (onDisconnect(error))
 *        └─────────────────────────┴─────────────────────────┘ or disconnect()
 * ```
 * It does not reconnect by itself: the SIP agent decides when (backoff), as the architecture
 * asks. Every message arriving is screened (guard.ts) and handed on inside a try/catch, so no
 * message can take the daemon down.
 */
import type { Emitter, Transport } from "sip.js";
import type { Logger } from "../log/logger.js";
import { screen } from "./guard.js";
import { type Link, openLink, type TlsTrust } from "./links.js";
import type { SipServer } from "./server-url.js";
import { EmitterImpl, TransportState } from "./sipjs.js";

export interface ConnectionTransportOptions {
  readonly servers: readonly SipServer[];
  readonly trust: TlsTrust;
  readonly keepAliveSeconds: number;
  readonly connectTimeoutMs: number;
  readonly log: Logger;
  /** Told of every link that opens (before sip.js's onConnect). */
  onLink?: (link: Link) => void;
}

export class ConnectionTransport implements Transport {
  onConnect: (() => void) | undefined;
  onDisconnect: ((error?: Error) => void) | undefined;
  onMessage: ((message: string) => void) | undefined;

  private _state: TransportState = TransportState.Disconnected;
  private readonly _stateChange = new EmitterImpl<TransportState>();
  private link: Link | null = null;
  private connecting: Promise<void> | null = null;
  private keepAliveTimer: NodeJS.Timeout | null = null;
  private readonly opts: ConnectionTransportOptions;
  private readonly log: Logger;
  private receiver: ((text: string) => void) | null = null;
  /** Bumped by disconnect() so a connect in flight knows it was called off. */
  private generation = 0;
  /** Where in the server list the next connect starts (moved on when a registrar refuses us). */
  private firstServer = 0;
  /** Transactions whose 100 Trying waits to see whether another response makes it moot. */
  private readonly pendingTrying = new Set<string>();
  /** Messages that came right after an ACK, waiting for sip.js to settle it (releaseAfterAck). */
  private afterAck: string[] | null = null;

  /** sip.js calls `new transportConstructor(logger, transportOptions)`; we ignore its logger. */
  constructor(_sipLogger: unknown, options: ConnectionTransportOptions) {
    this.opts = options;
    this.log = options.log;
  }

  /** Via sent-protocol (RFC 3261 §20.42) of the current (or primary) server. */
  get protocol(): string {
    return (this.link?.server ?? this.opts.servers[0])?.viaTransport ?? "TCP";
  }

  get state(): TransportState {
    return this._state;
  }

  get stateChange(): Emitter<TransportState> {
    return this._stateChange;
  }

  /** The server currently connected, or null. */
  get server(): SipServer | null {
    return this.link?.server ?? null;
  }

  /** Where screened messages go instead of sip.js's `onMessage` (see receive.ts). */
  setReceiver(receiver: (text: string) => void): void {
    this.receiver = receiver;
  }

  isConnected(): boolean {
    return this._state === TransportState.Connected;
  }

  connect(): Promise<void> {
    if (this._state === TransportState.Connected) return Promise.resolve();
    if (this.connecting) return this.connecting;
    const generation = ++this.generation;
    this.transition(TransportState.Connecting);
    this.connecting = this.tryServers(generation).finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async tryServers(generation: number): Promise<void> {
    const errors: string[] = [];
    const servers = this.opts.servers;
    const order = servers.map((_, k) => servers[(this.firstServer + k) % servers.length] as SipServer);
    for (const server of order) {
      if (generation !== this.generation) throw new Error("connect called off");
      try {
        const link = await openLink(server, this.opts.trust, this.opts.connectTimeoutMs, {
          message: (text) => this.receive(link, text),
          ping: () => this.guarded("pong", () => link.pong()),
          closed: (error) => this.lost(link, error),
        });
        if (generation !== this.generation) {
          link.close();
          throw new Error("connect called off");
        }
        this.link = link;
        this.log.info({ server: server.url, local: link.local }, "connected");
        this.startKeepAlive();
        this.opts.onLink?.(link);
        this.transition(TransportState.Connected);
        this.guarded("onConnect", () => this.onConnect?.());
        return;
      } catch (error) {
        if (generation !== this.generation) throw error;
        const message = error instanceof Error ? error.message : String(error);
        this.log.warn({ server: server.url, error: message }, "connect failed");
        errors.push(`${server.url}: ${message}`);
      }
    }
    this.transition(TransportState.Disconnected);
    throw new Error(`no SIP server reachable (${errors.join("; ")})`);
  }

  /**
   * Registrar failover: the next connect starts with the server after the current one (then
   * goes round the list), so a registrar that refuses us (401/403) does not hold up the others.
   */
  startWithNextServer(): void {
    const n = this.opts.servers.length;
    const current = this.link ? this.opts.servers.indexOf(this.link.server) : this.firstServer;
    this.firstServer = (Math.max(current, 0) + 1) % n;
  }

  /** Back to the configured order (the primary first). */
  startWithPrimary(): void {
    this.firstServer = 0;
  }

  disconnect(): Promise<void> {
    this.generation++;
    const link = this.link;
    if (link) {
      this.transition(TransportState.Disconnecting);
      link.close(); // calls lost() without an error
    } else if (this._state !== TransportState.Disconnected) {
      this.transition(TransportState.Disconnected);
    }
    return Promise.resolve();
  }

  dispose(): Promise<void> {
    return this.disconnect();
  }

  send(message: string): Promise<void> {
    const link = this.link;
    if (!link || this._state !== TransportState.Connected) return Promise.reject(new Error("Not connected."));
    try {
      if (message.startsWith("SIP/2.0 ")) {
        const key = transactionKey(message);
        if (message.startsWith("SIP/2.0 100 ") && key !== null) {
          this.deferTrying(link, key, message);
          return Promise.resolve();
        }
        if (key !== null) this.pendingTrying.delete(key);
      }
      link.send(message);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * sip.js sends 100 Trying the moment an INVITE arrives. RFC 3261 §17.2.1 asks for it only when
   * the TU will not answer within 200 ms; so it waits for this turn of the event loop, and goes
   * out only if no other response of the same transaction did (an auto-answered call's 200 OK,
   * a ringing call's 180, a 486): one message less on the answer's critical path.
   */
  private deferTrying(link: Link, key: string, message: string): void {
    this.pendingTrying.add(key);
    setImmediate(() => {
      if (!this.pendingTrying.delete(key) || link !== this.link) return;
      this.guarded("100 Trying", () => link.send(message));
    });
  }

  /** Sends raw text on the current link (stateless answers of the guard); false when down. */
  sendRaw(text: string): boolean {
    if (!this.link) return false;
    try {
      this.link.send(text);
      return true;
    } catch {
      return false;
    }
  }

  private receive(link: Link, text: string): void {
    if (link !== this.link) return;
    if (this.afterAck) {
      this.afterAck.push(text);
      return;
    }
    this.deliver(link, text);
  }

  /**
   * sip.js settles an ACK in a promise (its dialog is "processing the ACK" until then) and answers
   * a re-INVITE that comes meanwhile with 500 and a random Retry-After of up to 10 s. A far end
   * that sends its ACK and a re-INVITE back to back (baresip holding at once) puts both in one
   * read: the messages after an ACK wait for the next turn of the event loop, in order.
   */
  private releaseAfterAck(link: Link): void {
    const queue = this.afterAck ?? [];
    this.afterAck = null;
    for (let i = 0; i < queue.length; i++) {
      if (link !== this.link) return;
      if (this.afterAck !== null) {
        // another ACK in the queue: the rest wait again
        (this.afterAck as string[]).push(...queue.slice(i));
        return;
      }
      this.deliver(link, queue[i] as string);
    }
  }

  private deliver(link: Link, text: string): void {
    const verdict = screen(text);
    if (verdict.kind === "drop") {
      this.log.warn({ why: verdict.why, head: firstLine(text) }, "dropped an incoming message");
      return;
    }
    if (verdict.kind === "reply") {
      this.log.warn(
        { why: verdict.why, status: verdict.status, head: firstLine(text) },
        "refused an incoming request",
      );
      this.guarded("reply", () => link.send(verdict.response));
      return;
    }
    const receiver = this.receiver ?? this.onMessage;
    this.guarded("message", () => receiver?.(text), text);
    if (text.startsWith("ACK ") && this.afterAck === null) {
      this.afterAck = [];
      setImmediate(() => this.releaseAfterAck(link));
    }
  }

  private lost(link: Link, error?: Error): void {
    if (link !== this.link) return;
    this.link = null;
    this.afterAck = null;
    this.stopKeepAlive();
    if (error) this.log.warn({ server: link.server.url, error: error.message }, "connection lost");
    else this.log.info({ server: link.server.url }, "disconnected");
    this.transition(TransportState.Disconnected);
    this.guarded("onDisconnect", () => this.onDisconnect?.(error));
  }

  private startKeepAlive(): void {
    this.stopKeepAlive();
    const seconds = this.opts.keepAliveSeconds;
    if (seconds <= 0) return;
    this.keepAliveTimer = setInterval(
      () => this.guarded("keep-alive", () => this.link?.keepAlive()),
      seconds * 1000,
    );
    this.keepAliveTimer.unref();
  }

  private stopKeepAlive(): void {
    if (this.keepAliveTimer) clearInterval(this.keepAliveTimer);
    this.keepAliveTimer = null;
  }

  private transition(state: TransportState): void {
    if (state === this._state) return;
    this._state = state;
    this.guarded("stateChange", () => this._stateChange.emit(state));
  }

  /** The fence: nothing thrown while handling the connection escapes to the event loop. */
  private guarded(what: string, fn: () => void, text?: string): void {
    try {
      fn();
    } catch (error) {
      this.log.error(
        {
          what,
          error: error instanceof Error ? error.message : String(error),
          ...(text ? { head: firstLine(text) } : {}),
        },
        "error while handling the SIP connection (contained)",
      );
    }
  }
}

function firstLine(text: string): string {
  const eol = text.indexOf("\r\n");
  return (eol < 0 ? text : text.slice(0, eol)).slice(0, 120);
}

/** A response's transaction: its top Via branch and CSeq (RFC 3261 §17.2.3), or null. */
export function transactionKey(response: string): string | null {
  // sip.js echoes the request's header lines as they came, folded ones too (RFC 3261 §7.3.1)
  const end = response.indexOf("\r\n\r\n");
  const head = end < 0 ? response : response.slice(0, end);
  const text = /\r\n[ \t]/.test(head) ? head.replace(/\r\n[ \t]+/g, " ") : head;
  const branch = /\r\n(?:Via|v)\s*:[^\r]*?;\s*branch\s*=\s*([^;,\s]+)/i.exec(text)?.[1];
  const cseq = /\r\nCSeq\s*:\s*([^\r]+)/i.exec(text)?.[1];
  return branch && cseq ? `${branch} ${cseq.trim()}` : null;
}
