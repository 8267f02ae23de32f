/**
 * The presence side (contracts/mqtt.md): retained `online` birth and will with a per-connection
 * session, the retained presence document, queue statistics in, remote commands in with
 * answers out, and desk events out through the durable outbox.
 */
import { readFile } from "node:fs/promises";
import { presenceDocument } from "../core/presence-document.js";
import type { Emit, Side } from "../core/side.js";
import type { DeskInput, DeskState, Effect } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import { backoffDelay, POLICIES } from "../supervise/backoff.js";
import { commandResult, DEFAULT_MAX_CLOCK_SKEW_MS, parseCommand } from "./commands.js";
import { type EmbeddedBroker, startEmbeddedBroker } from "./embedded-broker.js";
import { LinkClosedError, type MessageMeta, MqttLink } from "./link.js";
import { DEFAULT_EMBEDDED_PORT, EMBEDDED_URL, type PresenceOptions } from "./options.js";
import { Outbox, type StoredEvent } from "./outbox.js";
import { parseQueueStats, QueueStatsTable } from "./queue-stats.js";
import { isTopicLevel, type Topics, topics } from "./topics.js";

export interface MqttPresenceArgs {
  readonly options: PresenceOptions;
  readonly agent: { readonly id: string; readonly name: string | null };
  readonly stateDir: string;
  readonly log: Logger;
  readonly clock?: () => number;
  /** Delay before retrying to open the outbox (attempt from 0); jittered backoff up to 60 s by default. */
  readonly outboxRetryDelay?: (attempt: number) => number;
}

/** Events in flight at once: enough to drain a backlog quickly, small enough to resend cheaply. */
const EVENT_WINDOW = 8;
/** Events kept in memory while the outbox cannot be opened at all; more are dropped, logged. */
const MAX_WAITING_FOR_OUTBOX = 10_000;

export class MqttPresence implements Side {
  readonly name = "presence";
  readonly handles = ["event"] as const;

  private readonly opts: PresenceOptions;
  private readonly agent: { readonly id: string; readonly name: string | null };
  private readonly log: Logger;
  private readonly stateDir: string;
  private readonly clock: () => number;
  private readonly topics: Topics;
  private readonly stats: QueueStatsTable;
  private emit: Emit = () => ({ ok: true });
  private link: MqttLink | null = null;
  private outbox: Outbox | null = null;
  private opening: Promise<Outbox | null> | null = null;
  private broker: EmbeddedBroker | null = null;
  private state: DeskState | null = null;
  /** The document without its `ts`, as last published (or waiting for a connection). */
  private docKey = "";
  private republish = false;
  private inflight = new Set<number>();
  /** Bumped on every connection, so acks of a dead connection are ignored. */
  private generation = 0;
  private statsTimer: NodeJS.Timeout | undefined;
  private outboxRetry: NodeJS.Timeout | undefined;
  private readonly outboxRetryDelay: (attempt: number) => number;
  /** Settles when the first attempt to open the outbox is over (start() waits for no more). */
  private firstOpen: Promise<void> | null = null;
  /** Events handed over while the outbox could not be opened (bounded). */
  private waitingForOutbox = 0;
  /** MQTT 3.1.1 retained-command checks, one after the other (see onCommand). */
  private commandChain: Promise<void> = Promise.resolve();
  /** Payloads seen flagged retained on the commands topic during a 3.1.1 check. */
  private retainedSeen: Set<string> | null = null;
  /** Live commands received while a 3.1.1 check's extra subscription is in place. */
  private liveInWindow: Set<string> | null = null;
  /** Retained commands (payloads) already answered with a refusal during 3.1.1 checks. */
  private readonly refusedRetained = new Set<string>();
  private lastStats = "null";
  private started = false;
  /** The protocol of the link (4 with the embedded broker, whatever the config says). */
  private protocolVersion: 4 | 5 = 5;
  private faulted = false;
  private stopped = false;

  constructor(args: MqttPresenceArgs) {
    this.opts = args.options;
    this.agent = args.agent;
    this.log = args.log;
    this.stateDir = args.stateDir;
    this.clock = args.clock ?? Date.now;
    this.outboxRetryDelay = args.outboxRetryDelay ?? ((a) => backoffDelay(POLICIES.mqtt, a));
    this.topics = topics(this.opts.topicPrefix, this.agent.id);
    for (const q of this.opts.queues) {
      if (!isTopicLevel(q)) throw new Error(`queue name ${JSON.stringify(q)} cannot be an MQTT topic level`);
    }
    this.stats = new QueueStatsTable(this.opts.queues, this.opts.statsStaleSeconds * 1000);
  }

  get connected(): boolean {
    return this.link?.connected ?? false;
  }

  /** The session of the current connection (in `online` birth and will). */
  get session(): string {
    return this.link?.session ?? "";
  }

  async start(emit: Emit): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.emit = emit;
    void this.openOutbox();
    await this.firstOpen;
    let url = this.opts.url;
    let protocolVersion = this.opts.protocolVersion;
    if (url === EMBEDDED_URL) {
      const port = this.opts.embeddedPort ?? DEFAULT_EMBEDDED_PORT;
      this.broker = await startEmbeddedBroker(port, this.log.child("broker"));
      url = this.broker.url;
      // aedes 1.x speaks only MQTT 3.1.1 (its README: "MQTT 5.0 not supported yet").
      protocolVersion = 4;
    }
    this.protocolVersion = protocolVersion;
    const [ca, cert, key] = await Promise.all(
      [this.opts.caFile, this.opts.certFile, this.opts.keyFile].map((f) => (f ? readFile(f) : undefined)),
    );
    this.link = new MqttLink({
      url,
      clientId: this.opts.clientId ?? `cuffia-${this.agent.id}`,
      protocolVersion,
      keepaliveSeconds: this.opts.keepaliveSeconds,
      ...(this.opts.username !== undefined ? { username: this.opts.username } : {}),
      ...(this.opts.password !== undefined ? { password: this.opts.password } : {}),
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      will: (session) => ({ topic: this.topics.online, payload: this.onlinePayload(false, session) }),
      log: this.log,
    });
    this.link.start({
      connected: (session) => this.onConnected(session),
      disconnected: () => this.onDisconnected(),
      message: (topic, payload, meta) => this.onMessage(topic, payload, meta),
      // Shown in health.faults (ctl status) until a connection succeeds.
      refused: (reason) => {
        this.faulted = true;
        this.feed({
          type: "health",
          side: this.name,
          fault: `MQTT broker refused the connection: ${reason}`,
        });
      },
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.statsTimer);
    clearTimeout(this.outboxRetry);
    const link = this.link;
    if (link) {
      // A clean DISCONNECT cancels the will, so say goodbye ourselves: last presence, then offline.
      await link.stop(async () => {
        const doc = this.currentDocument();
        const sends: Promise<void>[] = [];
        if (doc) sends.push(link.publish(this.topics.presence, doc, { retain: true }));
        sends.push(
          link.publish(this.topics.online, this.onlinePayload(false, link.session), { retain: true }),
        );
        await Promise.all(sends);
      });
    }
    // A retry loop still waiting for the disk ends at once (stopped): nothing to close then.
    const box = this.outbox ?? (this.opening && (await Promise.race([this.opening, Promise.resolve(null)])));
    await box?.close();
    await this.broker?.close();
    this.log.info("presence stopped");
  }

  project(state: DeskState, now: number): void {
    this.state = state;
    const key = documentKey(presenceDocument(state, this.agent, now));
    if (key === this.docKey && !this.republish) return;
    this.docKey = key;
    this.publishPresence(now);
  }

  execute(effect: Effect): Promise<void> | undefined {
    if (effect.type !== "event") return undefined;
    const event = effect.event;
    const append = (outbox: Outbox | null): Promise<void> => {
      if (outbox === null) {
        this.log.error({ type: event.type }, "event outbox unavailable: event dropped");
        return Promise.resolve();
      }
      return outbox.append(event).then((stored) => {
        if (stored) this.pump();
      });
    };
    // Synchronous when open, so events reach the log in the order the desk made them; events
    // made while other sides start (before ours opened the log) wait for it, in order.
    if (this.outbox) return append(this.outbox);
    if (this.waitingForOutbox >= MAX_WAITING_FOR_OUTBOX) {
      this.log.error({ type: event.type }, "event outbox unavailable for long: event dropped");
      return Promise.resolve();
    }
    this.waitingForOutbox++;
    return this.openOutbox().then((box) => {
      this.waitingForOutbox--;
      return append(box);
    });
  }

  /** Resolves once every event handed to execute() so far is on disk (or dropped). */
  async flush(): Promise<void> {
    await (await this.opening)?.settle();
  }

  /**
   * Opens the outbox once. A state dir we cannot use (permissions, I/O error) costs neither the
   * presence nor the events: online, presence and commands still work, health says why, events
   * wait in memory, and the open is retried with backoff until it succeeds. (A full disk does
   * not get here: the outbox opens read-only-ish and recovers by itself.)
   */
  private openOutbox(): Promise<Outbox | null> {
    let firstDone: () => void = () => {};
    this.firstOpen ??= new Promise<void>((r) => {
      firstDone = r;
    });
    this.opening ??= (async () => {
      for (let attempt = 0; !this.stopped; attempt++) {
        try {
          const box = await Outbox.open({
            dir: this.stateDir,
            maxBytes: this.opts.outboxMaxBytes,
            log: this.log.child("outbox"),
            clock: this.clock,
          });
          if (attempt > 0) {
            this.log.warn({ dir: this.stateDir }, "event outbox open again: waiting events are written");
            this.feed({ type: "health", side: this.name, fault: null });
          }
          this.outbox = box;
          firstDone();
          return box;
        } catch (err) {
          if (attempt === 0) {
            this.log.error(
              { err: String(err), dir: this.stateDir },
              "event outbox unavailable: events wait in memory; check the state dir's permissions and free space",
            );
            this.feed({
              type: "health",
              side: this.name,
              fault: `event outbox unavailable: ${String(err)}`,
            });
            firstDone();
          }
          await new Promise<void>((r) => {
            this.outboxRetry = setTimeout(r, this.outboxRetryDelay(attempt));
            this.outboxRetry.unref();
          });
        }
      }
      return null;
    })();
    return this.opening;
  }

  // --- connection --------------------------------------------------------------------------

  private onConnected(session: string): void {
    const link = this.link!;
    this.generation++;
    this.inflight.clear();
    this.republish = true;
    link
      .publish(this.topics.online, this.onlinePayload(true, session), { retain: true })
      .catch((e) => this.publishFailed("online", e));
    // The runner steps synchronously and calls project(), which republishes presence; if it did
    // not (no change of state, or no runner yet), republish the snapshot we hold.
    this.feed({ type: "health", side: "mqtt", up: true });
    if (this.faulted) {
      this.faulted = false;
      this.feed({ type: "health", side: this.name, fault: null });
    }
    if (this.republish) this.publishPresence(this.clock());
    const subs = [
      // Our own availability: a stale will of an earlier session must be answered (see onOwnOnline).
      { topic: this.topics.online },
      // A retained command would replay on every subscribe: ask the broker not to send it (v5),
      // and to keep the flag on one published while we are subscribed, so it is refused too.
      { topic: this.topics.commands, retainHandling: 2 as const, retainAsPublished: true },
      ...this.opts.queues.map((q) => ({ topic: this.topics.queueStats(q) })),
    ];
    link.subscribe(subs).catch((e) => this.log.warn({ err: String(e) }, "mqtt subscribe failed"));
    this.pump();
  }

  private onDisconnected(): void {
    this.generation++;
    this.inflight.clear();
    if (!this.stopped) this.feed({ type: "health", side: "mqtt", up: false });
  }

  private onMessage(topic: string, payload: Buffer, meta: MessageMeta): void {
    if (topic === this.topics.online) this.onOwnOnline(payload);
    else if (topic === this.topics.commands) this.onCommand(payload, meta);
    else {
      const queue = this.topics.queueOf(topic);
      if (queue !== null) this.onStats(queue, payload, meta);
    }
  }

  /**
   * Someone says we are offline while we are connected: the will of an earlier connection
   * delivered after our birth (reference §2, "old will after new birth"). Say `online` again.
   */
  private onOwnOnline(payload: Buffer): void {
    const link = this.link;
    // While stopping, the offline we read is our own farewell.
    if (!link?.connected || this.stopped) return;
    let msg: { online?: unknown; session?: unknown } = {};
    try {
      msg = payload.length > 0 ? (JSON.parse(payload.toString("utf8")) as typeof msg) : {};
    } catch {
      msg = {};
    }
    if (msg.online === true && msg.session === link.session) return;
    if (msg.online === true) {
      this.log.warn(
        { session: msg.session },
        "another client publishes online for this agent id: duplicated agent.id?",
      );
      return;
    }
    this.log.info(
      { stale: msg.session ?? null, session: link.session },
      "stale offline on our online topic; re-asserting online",
    );
    link
      .publish(this.topics.online, this.onlinePayload(true, link.session), { retain: true })
      .catch((e) => this.publishFailed("online", e));
  }

  // --- presence ----------------------------------------------------------------------------

  private currentDocument(): string | null {
    return this.state ? JSON.stringify(presenceDocument(this.state, this.agent, this.clock())) : null;
  }

  private publishPresence(now: number): void {
    const link = this.link;
    if (!link?.connected || this.state === null) return;
    this.republish = false;
    const doc = JSON.stringify(presenceDocument(this.state, this.agent, now));
    link.publish(this.topics.presence, doc, { retain: true }).catch((e) => this.publishFailed("presence", e));
  }

  private onlinePayload(online: boolean, session: string): string {
    return JSON.stringify({ v: 1, online, session, ts: new Date(this.clock()).toISOString() });
  }

  private publishFailed(what: string, err: unknown): void {
    // A publish cut by a lost link is normal: the next connect republishes the snapshot.
    if (err instanceof LinkClosedError || (err instanceof Error && /closed|disconnect/i.test(err.message))) {
      this.log.debug({ what }, "publish interrupted by disconnect");
    } else {
      this.log.warn({ what, err: String(err) }, "mqtt publish failed");
    }
  }

  // --- events ------------------------------------------------------------------------------

  /** Publishes the oldest unacknowledged events, at most EVENT_WINDOW at a time, in seq order. */
  private pump(): void {
    const link = this.link;
    const outbox = this.outbox;
    if (!link?.connected || outbox === null || this.stopped) return;
    const generation = this.generation;
    for (const ev of outbox.unacked()) {
      if (this.inflight.size >= EVENT_WINDOW) return;
      if (this.inflight.has(ev.seq)) continue;
      this.inflight.add(ev.seq);
      this.sendEvent(link, outbox, ev, generation);
    }
  }

  private sendEvent(link: MqttLink, outbox: Outbox, ev: StoredEvent, generation: number): void {
    link.publish(this.topics.events, ev.payload).then(
      () => {
        outbox.ack(ev.seq);
        if (generation !== this.generation) return;
        this.inflight.delete(ev.seq);
        this.pump();
      },
      (err: unknown) => {
        // Left in the outbox: the next connection sends it again, in order.
        if (generation === this.generation) this.inflight.delete(ev.seq);
        this.publishFailed("event", err);
      },
    );
  }

  // --- commands ----------------------------------------------------------------------------

  /**
   * A command in. Retained commands are refused (they would replay on every subscribe): MQTT 5
   * keeps the flag with Retain As Published; MQTT 3.1.1 cannot, so there every command waits
   * for a short-lived extra subscription (`commands/#`) that makes the broker send what it
   * retains, flagged: a command seen again that way was retained (link.recheckRetained). That
   * costs one round trip per command.
   */
  private onCommand(payload: Buffer, meta: MessageMeta): void {
    if (meta.retained && this.retainedSeen) {
      this.retainedSeen.add(payload.toString("base64"));
      return;
    }
    if (meta.retained && this.protocolVersion === 4) {
      // 3.1.1 sends it on every (re)subscribe and every check brings it again: refuse it once.
      const key = payload.toString("base64");
      if (this.refusedRetained.has(key)) return;
      this.rememberRetained(key);
    }
    if (this.protocolVersion === 4 && !meta.retained) {
      // While a check's extra subscription overlaps ours, a broker may deliver a live command
      // twice (3.1.1 §3.3.5 allows a copy per matching subscription): act on it once.
      if (this.liveInWindow) {
        const key = payload.toString("base64");
        if (this.liveInWindow.has(key)) {
          this.log.debug("duplicate delivery of a command during a retained check: ignored");
          return;
        }
        this.liveInWindow.add(key);
      }
      this.commandChain = this.commandChain.then(() => this.checkThenRun(payload, meta));
      return;
    }
    this.runCommand(payload, meta);
  }

  private async checkThenRun(payload: Buffer, meta: MessageMeta): Promise<void> {
    const link = this.link;
    if (!link?.connected) {
      this.log.warn("remote command dropped: the link went down before it could be checked");
      return;
    }
    const seen = new Set<string>();
    this.retainedSeen = seen;
    this.liveInWindow = new Set();
    try {
      await link.recheckRetained(`${this.topics.commands}/#`);
    } catch (err) {
      this.log.warn({ err: String(err) }, "remote command dropped: could not check whether it was retained");
      return;
    } finally {
      this.retainedSeen = null;
      this.liveInWindow = null;
    }
    const key = payload.toString("base64");
    const retained = seen.delete(key);
    if (retained) this.rememberRetained(key);
    this.runCommand(payload, { ...meta, retained });
    // Other retained commands the re-subscribe brought: refused like any retained one, once
    // (every later check brings them again while they stay retained).
    for (const other of seen) {
      if (this.refusedRetained.has(other)) continue;
      this.rememberRetained(other);
      this.runCommand(Buffer.from(other, "base64"), { retained: true });
    }
  }

  private rememberRetained(key: string): void {
    this.refusedRetained.add(key);
    if (this.refusedRetained.size > 64)
      this.refusedRetained.delete(this.refusedRetained.values().next().value!);
  }

  private runCommand(payload: Buffer, meta: MessageMeta): void {
    const parsed = parseCommand(
      payload,
      meta,
      this.clock(),
      this.opts.maxClockSkewSeconds !== undefined
        ? this.opts.maxClockSkewSeconds * 1000
        : DEFAULT_MAX_CLOCK_SKEW_MS,
    );
    const topicError = this.responseTopicError(meta.responseTopic);
    let answer: ReturnType<typeof commandResult>;
    if (!parsed.ok) {
      this.log.warn({ id: parsed.id, error: parsed.error }, "remote command refused");
      answer = commandResult(parsed.id, { ok: false, error: parsed.error });
    } else if (topicError !== null) {
      // Not acted on: whoever can make the desk publish elsewhere must not also steer it.
      this.log.warn(
        { id: parsed.id, responseTopic: meta.responseTopic },
        "remote command refused: response topic",
      );
      answer = commandResult(parsed.id, { ok: false, error: topicError });
    } else {
      const outcome = this.feed({ type: "command", command: parsed.command, origin: "mqtt" });
      answer = outcome.ok
        ? commandResult(parsed.id, { ok: true })
        : commandResult(parsed.id, { ok: false, error: `${outcome.error.code}: ${outcome.error.message}` });
      this.log.info({ id: parsed.id, cmd: parsed.command.cmd, ok: outcome.ok }, "remote command");
    }
    const link = this.link;
    if (!link?.connected) return;
    // MQTT 5 request/response: answer where the requester asked (when allowed), with its
    // correlation data; anything else goes to the desk's own result topic.
    const respond = meta.responseTopic !== undefined && topicError === null;
    link
      .publish(respond ? meta.responseTopic! : this.topics.commandResult, JSON.stringify(answer), {
        ...(meta.correlationData ? { correlationData: meta.correlationData } : {}),
      })
      .catch((e) => this.publishFailed("command result", e));
  }

  /**
   * null when the desk may answer on `topic`: its own `P/agents/A/commands/result`, or a topic at
   * or under mqtt.response_topic_prefix. Never another `P/agents/...` or `P/queues/...` topic (the
   * desk's presence, online and events, other desks'), whatever the prefix says.
   */
  private responseTopicError(topic: string | undefined): string | null {
    if (topic === undefined || topic === this.topics.commandResult) return null;
    const refused = `bad_request: response topic ${JSON.stringify(topic.slice(0, 200))} is not allowed`;
    if (!isPublishTopic(topic)) return refused;
    const p = this.opts.topicPrefix;
    if (topic.startsWith(`${p}/agents/`) || topic.startsWith(`${p}/queues/`)) return refused;
    const prefix = this.opts.responseTopicPrefix;
    if (prefix === undefined) return `${refused} (no mqtt.response_topic_prefix is set)`;
    const head = prefix.endsWith("/") ? prefix : `${prefix}/`;
    return topic === prefix || topic.startsWith(head)
      ? null
      : `${refused} (outside mqtt.response_topic_prefix)`;
  }

  // --- queue statistics --------------------------------------------------------------------

  private onStats(queue: string, payload: Buffer, meta: MessageMeta): void {
    const parsed = parseQueueStats(payload);
    if (!parsed.ok) {
      // Keep the previous figures: they go stale on their own if nothing valid follows.
      this.log.warn({ queue, error: parsed.error }, "queue statistics ignored");
      return;
    }
    const now = this.clock();
    this.stats.set(queue, parsed.stats, now, meta.expirySeconds);
    this.refreshStats(now);
  }

  private refreshStats(now: number): void {
    clearTimeout(this.statsTimer);
    const summary = this.stats.summary(now);
    const key = JSON.stringify(summary);
    if (key !== this.lastStats) {
      this.lastStats = key;
      this.feed({ type: "queue_stats", stats: summary });
    }
    const next = this.stats.nextExpiry();
    if (next !== null && !this.stopped) {
      this.statsTimer = setTimeout(() => this.refreshStats(this.clock()), Math.max(0, next - now) + 5);
    }
  }

  private feed(input: DeskInput): ReturnType<Emit> {
    try {
      return this.emit(input);
    } catch (err) {
      this.log.error({ err: String(err), input: input.type }, "desk refused input");
      return { ok: false, error: { code: "bad_state", message: "internal error" } };
    }
  }
}

/** The document minus `ts` and `seq`: a state change that leaves the content alone is not news. */
function documentKey(doc: object): string {
  return JSON.stringify({ ...doc, ts: undefined, seq: undefined });
}

function isPublishTopic(topic: string): boolean {
  return topic.length > 0 && topic.length < 1024 && !/[+#\u0000]/.test(topic);
}
