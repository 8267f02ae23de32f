/**
 * The MQTT connection: one MqttClient per attempt, reconnected by the shared Reconnector
 * (full-jitter backoff, supervise/backoff.ts), a fresh random `session` in each attempt's last
 * will. The MqttClient never leaves this file.
 *
 * ```
 *   idle ──start──▶ connecting ──CONNACK ok──▶ connected
 *                     ▲    │ refused / error / close   │ close (link lost, keepalive, takeover)
 *                     │    ▼                           ▼
 *                     └── waiting (jittered timer) ◀───┘        any ──stop──▶ stopped
 * ```
 *
 * Why a new client per attempt rather than MQTT.js's reconnect(): its reconnect is a fixed
 * period with no backoff, installs fresh stores anyway, and keeps callbacks of the previous
 * connection alive; a new client gives each connection its own will, session and in-flight set.
 */
import { randomBytes } from "node:crypto";
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from "mqtt";
import type { Logger } from "../log/logger.js";
import { POLICIES } from "../supervise/backoff.js";
import { Reconnector } from "../supervise/reconnector.js";

export type LinkState = "idle" | "connecting" | "connected" | "waiting" | "stopped";

export interface LinkConfig {
  readonly url: string;
  readonly clientId: string;
  readonly protocolVersion: 4 | 5;
  readonly keepaliveSeconds: number;
  readonly username?: string;
  readonly password?: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** The will for a connection with this session (retained QoS 1 `offline`). */
  readonly will: (session: string) => { readonly topic: string; readonly payload: string };
  readonly log: Logger;
  readonly random?: () => number;
}

export interface MessageMeta {
  readonly retained: boolean;
  /** MQTT 5 message expiry left on delivery, seconds. */
  readonly expirySeconds?: number;
  readonly responseTopic?: string;
  readonly correlationData?: Buffer;
}

export interface LinkHandlers {
  connected(session: string): void;
  disconnected(): void;
  message(topic: string, payload: Buffer, meta: MessageMeta): void;
  /** The broker refused us in CONNACK (bad credentials, not authorised): a lasting fault. */
  refused(reason: string): void;
}

export interface PublishOptions {
  readonly retain?: boolean;
  readonly qos?: 0 | 1;
  readonly correlationData?: Buffer;
}

export interface Subscription {
  readonly topic: string;
  /** MQTT 5 Retain Handling: 2 = never send retained messages for this subscription. */
  readonly retainHandling?: 0 | 2;
  /**
   * MQTT 5 Retain As Published: keep the retain flag on messages delivered to us while
   * subscribed (without it the broker clears the flag, and a retained command looks live).
   */
  readonly retainAsPublished?: boolean;
}

const CONNECT_TIMEOUT_MS = 10_000;

/** MQTT 3.1.1 CONNACK return codes (§3.2.2.3); MQTT.js only names the v5 ones. */
const V4_REFUSALS: Record<number, string> = {
  1: "unacceptable protocol version",
  2: "identifier rejected",
  3: "server unavailable",
  4: "bad user name or password",
  5: "not authorized",
};

export class LinkClosedError extends Error {
  readonly code = "link_closed";
}

export class MqttLink {
  private client: MqttClient | null = null;
  private handlers: LinkHandlers | null = null;
  /** When to try again after a close: a connection stable for 10 s starts the backoff afresh. */
  private readonly reconnector: Reconnector;
  private lastError = "";
  private _state: LinkState = "idle";
  /** Set by stop(): no reconnect from now on, while the farewell still publishes. */
  private stopping = false;
  private _session = "";
  private readonly random: () => number;

  constructor(private readonly cfg: LinkConfig) {
    this.random = cfg.random ?? Math.random;
    this.reconnector = new Reconnector({
      policy: POLICIES.mqtt,
      retry: () => this.connect(),
      random: this.random,
    });
  }

  get state(): LinkState {
    return this._state;
  }

  get connected(): boolean {
    return this._state === "connected";
  }

  /** The session of the current (or last) connection attempt. */
  get session(): string {
    return this._session;
  }

  start(handlers: LinkHandlers): void {
    if (this._state !== "idle") return;
    this.handlers = handlers;
    this.connect();
  }

  private connect(): void {
    if (this.stopping) return;
    this._state = "connecting";
    const session = randomBytes(8).toString("hex");
    this._session = session;
    const will = this.cfg.will(session);
    const v5 = this.cfg.protocolVersion === 5;
    const options: IClientOptions = {
      clientId: this.cfg.clientId,
      protocolVersion: this.cfg.protocolVersion,
      keepalive: this.cfg.keepaliveSeconds,
      // Our scheduler reconnects; MQTT.js's fixed period would make a fleet reconnect in lockstep.
      reconnectPeriod: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
      // Offline QoS 0 publishes would pile up in memory without bound (reelyactive/pareto-anywhere #11).
      queueQoSZero: false,
      // Every connection starts clean and we subscribe on connect; with session expiry 0 the
      // broker sends the will at once when the link dies (Mosquitto applies no will delay then).
      clean: true,
      resubscribe: false,
      will: { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: true },
      rejectUnauthorized: true,
    };
    // MQTT.js's own debug lines, into our logger; only when wanted (it logs every packet).
    if (this.cfg.log.enabled("trace")) {
      options.log = (...args: unknown[]) =>
        this.cfg.log.trace({ mqttjs: args.map(String).join(" ") }, "mqtt.js");
    }
    if (v5) options.properties = { sessionExpiryInterval: 0 };
    if (this.cfg.username !== undefined) options.username = this.cfg.username;
    if (this.cfg.password !== undefined) options.password = this.cfg.password;
    if (this.cfg.ca) options.ca = this.cfg.ca;
    if (this.cfg.cert) options.cert = this.cfg.cert;
    if (this.cfg.key) options.key = this.cfg.key;

    let refused: string | null = null;
    let up = false;
    const client = mqtt.connect(this.cfg.url, options);
    this.client = client;

    client.on("connect", () => {
      if (this.client !== client || this.stopping) return;
      up = true;
      this._state = "connected";
      this.reconnector.up();
      this.lastError = "";
      this.cfg.log.info(
        { url: redactUrl(this.cfg.url), session, clientId: this.cfg.clientId },
        "mqtt connected",
      );
      this.guard("connected", () => this.handlers?.connected(session));
    });
    client.on("message", (topic: string, payload: Buffer, packet: IPublishPacket) => {
      if (this.client !== client || !up) return;
      const p = packet.properties;
      const meta: MessageMeta = {
        retained: packet.retain,
        ...(p?.messageExpiryInterval !== undefined ? { expirySeconds: p.messageExpiryInterval } : {}),
        ...(p?.responseTopic !== undefined ? { responseTopic: p.responseTopic } : {}),
        ...(p?.correlationData !== undefined ? { correlationData: p.correlationData } : {}),
      };
      this.guard("message", () => this.handlers?.message(topic, payload, meta));
    });
    client.on("error", (err: Error & { code?: unknown }) => {
      if (this.client !== client) return;
      if (!up && typeof err.code === "number" && err.code > 0) {
        const code = err.code;
        refused = (v5 ? err.message : V4_REFUSALS[code]) ?? `refused (${code})`;
        this.cfg.log.error(
          { code, reason: refused, user: this.cfg.username ?? null },
          "mqtt broker refused the connection; check mqtt.username/password and the broker's ACL",
        );
        const why = refused;
        this.guard("refused", () => this.handlers?.refused(why));
        return;
      }
      const message = err.message || String(err.code ?? err);
      // While we stop, the broker may still deliver our own retained offline (we watch our own
      // availability topic) and MQTT.js then acknowledges it on a closed stream: not a problem.
      if (this.stopping) {
        this.cfg.log.debug({ err: message }, "mqtt error while stopping");
        return;
      }
      // The same failure on every attempt of a long outage is logged once at warn.
      if (message !== this.lastError) this.cfg.log.warn({ err: message }, "mqtt connection error");
      else this.cfg.log.debug({ err: message }, "mqtt connection error (again)");
      this.lastError = message;
    });
    client.on("disconnect", (packet) => {
      // MQTT 5 server DISCONNECT: 0x8E session taken over (duplicate client id!), 0x8B shutting down.
      const code = packet.reasonCode ?? 0;
      const level = code === 0x8e ? "error" : "warn";
      this.cfg.log[level](
        { reasonCode: code, reason: packet.properties?.reasonString ?? null },
        "mqtt server disconnected us",
      );
    });
    client.on("close", () => {
      if (this.client !== client) return;
      this.client = null;
      // Keep a listener: a late error on a discarded client must not become an uncaught one.
      client.removeAllListeners();
      client.on("error", () => {});
      client.end(true);
      const wasUp = up;
      if (this.stopping) {
        this._state = "stopped";
        return;
      }
      this._state = "waiting";
      if (wasUp) {
        this.cfg.log.warn({ session }, "mqtt connection lost");
        this.guard("disconnected", () => this.handlers?.disconnected());
      }
      const delay =
        refused !== null
          ? this.reconnector.down(refused, POLICIES.mqttRefused)
          : this.reconnector.down(wasUp ? "connection lost" : this.lastError || "connect failed");
      this.cfg.log.debug({ delayMs: delay, attempt: this.reconnector.attempt }, "mqtt reconnect scheduled");
    });
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.cfg.log.error({ err: String(err), in: what }, "presence handler threw");
    }
  }

  /** QoS 1 resolves on PUBACK. Never queues while disconnected (MQTT.js would, without bound). */
  publish(topic: string, payload: string, opts: PublishOptions = {}): Promise<void> {
    const client = this.client;
    if (client === null || this._state !== "connected")
      return Promise.reject(new LinkClosedError("not connected"));
    const qos = opts.qos ?? 1;
    return new Promise((resolve, reject) => {
      const properties =
        opts.correlationData !== undefined && this.cfg.protocolVersion === 5
          ? { correlationData: opts.correlationData }
          : undefined;
      client.publish(
        topic,
        payload,
        { qos, retain: opts.retain ?? false, ...(properties ? { properties } : {}) },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }

  subscribe(subs: readonly Subscription[]): Promise<void> {
    const client = this.client;
    if (client === null || this._state !== "connected" || subs.length === 0) return Promise.resolve();
    const map: Record<string, { qos: 1; rh?: number; rap?: boolean }> = {};
    const v5 = this.cfg.protocolVersion === 5;
    for (const s of subs) {
      map[s.topic] = {
        qos: 1,
        ...(v5 && s.retainHandling ? { rh: s.retainHandling } : {}),
        ...(v5 && s.retainAsPublished ? { rap: true } : {}),
      };
    }
    return new Promise((resolve, reject) => {
      client.subscribe(map, (err, granted) => {
        if (err) return reject(err);
        const refused = (granted ?? []).filter((g) => g.qos > 2);
        if (refused.length > 0) {
          this.cfg.log.error(
            { topics: refused.map((g) => g.topic) },
            "mqtt broker refused subscriptions (ACL?)",
          );
        }
        resolve();
      });
    });
  }

  /**
   * MQTT 3.1.1 has no Retain As Published: a retained message published while we are subscribed
   * reaches us with the flag cleared. A NEW subscription makes the broker send what it retains
   * under it, flagged (3.1.1 §3.3.1.3); re-subscribing the same filter is not enough (aedes sends
   * nothing then). So: SUBSCRIBE `filter` (e.g. `commands/#`, which also matches `commands`),
   * then UNSUBSCRIBE it; the UNSUBACK comes after those retained messages and is the fence.
   * Resolves at the fence.
   */
  recheckRetained(filter: string): Promise<void> {
    const client = this.client;
    if (client === null || this._state !== "connected")
      return Promise.reject(new LinkClosedError("not connected"));
    return new Promise((resolve, reject) => {
      client.subscribe(filter, { qos: 1 }, (err) => {
        if (err) return reject(err);
        client.unsubscribe(filter, (e?: Error) => (e ? reject(e) : resolve()));
      });
    });
  }

  /**
   * Ends the link. `farewell` runs first while still connected (publish offline ourselves: a
   * clean DISCONNECT cancels the will). If it fails or times out, the will is released instead:
   * MQTT 5 DISCONNECT 0x04, or for 3.1.1 a close without DISCONNECT.
   */
  async stop(farewell?: () => Promise<void>, timeoutMs = 2_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const wasConnected = this._state === "connected";
    this.reconnector.stop();
    const client = this.client;
    if (client === null) {
      this._state = "stopped";
      return;
    }
    let said = false;
    if (wasConnected && farewell) {
      said = await withTimeout(
        farewell().then(() => true),
        timeoutMs,
      ).catch(() => false);
    }
    await new Promise<void>((resolve) => {
      const done = setTimeout(resolve, timeoutMs);
      const finish = (): void => {
        clearTimeout(done);
        resolve();
      };
      if (!wasConnected) client.end(true, finish);
      else if (said) client.end(false, finish);
      else if (this.cfg.protocolVersion === 5) client.end(false, { reasonCode: 4 }, finish);
      else {
        client.stream.destroy();
        client.end(true, finish);
      }
    });
    this._state = "stopped";
    this.client = null;
    client.removeAllListeners();
    client.on("error", () => {});
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("timeout")), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** URLs may carry credentials (mqtt://user:pw@host): never log them. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
