/**
 * A small stand-in for the central switchboard (contracts/mqtt.md), over the desk's own broker:
 * publishes retained, evolving statistics for each queue, watches the desk's presence and call
 * events, and — when the desk is routable — has a citizen (a baresip) call it with the IVR's
 * headers: language, service, queue. A caller gives up after `giveUpSeconds` of ringing and hangs
 * up by itself some time after being answered (wherever it was transferred to).
 */
import mqtt, { type MqttClient } from "mqtt";
import type { PresenceDocument } from "../../src/core/presence-document.js";
import type { Baresip, BaresipEvent } from "../lab/baresip.js";
import type { QueueFigures } from "./screen.js";

export const CALLER_LANGUAGES = ["it", "fr", "ar", "en", "es"] as const;
export type CallerLanguage = (typeof CALLER_LANGUAGES)[number];
const SERVICES = ["anagrafe", "casa", "sociale"] as const;

export interface SwitchboardOptions {
  readonly brokerUrl: string;
  readonly topicPrefix: string;
  readonly agentId: string;
  readonly queues: readonly string[];
  /** The citizens (baresip instances, registered). */
  readonly callers: readonly Baresip[];
  /** What the citizens dial, e.g. sip:1017@127.0.0.1. */
  readonly deskUri: string;
  /** What each citizen says, per caller language (8 kHz WAV, long enough for a whole call). */
  readonly voices: Readonly<Record<CallerLanguage, string>>;
  /** Seconds from the desk's first routable moment to the first call. */
  readonly firstCallAfter: number;
  /** Seconds between the end of a call and the next one (the desk being routable). */
  readonly callEvery: number;
  readonly giveUpSeconds: number;
  /** Seconds after the answer when the caller hangs up: [min, max]. */
  readonly talkSeconds: readonly [number, number];
  readonly statsEveryMs: number;
  /** Something changed (presence, stats, an event, a caller). */
  readonly onChange: () => void;
  /** A line for the demo's event list. */
  readonly note: (text: string) => void;
  readonly random?: () => number;
  readonly clock?: () => number;
}

interface CallerStory {
  readonly caller: Baresip;
  readonly language: CallerLanguage;
  readonly service: string;
  readonly queue: string;
  readonly dialledAt: number;
  answeredAt: number | null;
  hangUpAt: number | null;
  /** Events of this story start at this index of caller.events. */
  readonly from: number;
  transferred: boolean;
  ending: boolean;
}

export class Switchboard {
  readonly #o: SwitchboardOptions;
  readonly #random: () => number;
  readonly #clock: () => number;
  #client: MqttClient | null = null;
  #statsTimer: NodeJS.Timeout | undefined;
  #tickTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #stories = new Map<Baresip, CallerStory>();
  #nextCallAt: number | null = null;
  #firstCallDone = false;
  /** Free agents other than this desk, per queue. */
  readonly #otherAgents = new Map<string, number>();
  presence: PresenceDocument | null = null;
  readonly queues: Record<string, QueueFigures> = {};

  constructor(o: SwitchboardOptions) {
    this.#o = o;
    this.#random = o.random ?? Math.random;
    this.#clock = o.clock ?? Date.now;
    for (const q of o.queues) {
      this.queues[q] = { waiting: 0, longest_wait: 0, available_agents: 1, by_language: {} };
    }
  }

  async start(): Promise<void> {
    const client = await mqtt.connectAsync(this.#o.brokerUrl, {
      clientId: `cuffia-demo-switchboard-${process.pid}`,
      protocolVersion: 4, // the embedded broker (aedes) speaks 3.1.1
      reconnectPeriod: 1000,
      connectTimeout: 5000,
    });
    this.#client = client;
    const base = `${this.#o.topicPrefix}/agents/${this.#o.agentId}`;
    client.on("message", (topic, payload) => this.#onMessage(topic, payload, base));
    await client.subscribeAsync([`${base}/presence`, `${base}/events`], { qos: 1 });
    for (const q of this.#o.queues) this.#evolve(q, true);
    await this.#publishStats();
    this.#statsTimer = setInterval(() => {
      for (const q of this.#o.queues) this.#evolve(q, false);
      void this.#publishStats();
    }, this.#o.statsEveryMs);
    this.#tickTimer = setInterval(() => void this.#tick(), 500);
  }

  /** Seconds until the next automatic call, or null when none is scheduled. */
  get nextCallIn(): number | null {
    return this.#nextCallAt === null ? null : Math.max(0, (this.#nextCallAt - this.#clock()) / 1000);
  }

  /** One line on what the switchboard is doing. */
  describe(): string {
    const busy = [...this.#stories.values()].map((s) => {
      const state = s.answeredAt !== null ? (s.transferred ? "transferred, talking" : "talking") : "ringing";
      return `${s.caller.user} ${state} (${s.language}, ${s.service}, queue ${s.queue})`;
    });
    const next = this.nextCallIn;
    const parts = [...busy];
    if (next !== null && this.#idleCaller()) parts.push(`next call in ${Math.ceil(next)} s`);
    else if (busy.length === 0) parts.push("waiting for the desk to be routable (p/u: available)");
    return parts.join(" · ");
  }

  /** Places a call now from an idle citizen (the `c` key); false when all of them are busy. */
  callNow(): boolean {
    const caller = this.#idleCaller();
    if (!caller) {
      this.#o.note("switchboard: every citizen is already on a call");
      return false;
    }
    void this.#place(caller);
    return true;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#statsTimer);
    clearInterval(this.#tickTimer);
    const client = this.#client;
    this.#client = null;
    if (client) await client.endAsync(true).catch(() => undefined);
  }

  #idleCaller(): Baresip | undefined {
    return this.#o.callers.find((c) => !this.#stories.has(c));
  }

  #onMessage(topic: string, payload: Buffer, base: string): void {
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(payload.toString("utf8")) as Record<string, unknown>;
    } catch {
      return;
    }
    if (topic === `${base}/presence`) {
      this.presence = doc as unknown as PresenceDocument;
      this.#schedule();
    } else if (topic === `${base}/events`) {
      this.#o.note(describeEvent(doc));
    }
    this.#o.onChange();
  }

  /** Schedules the next call when the desk is routable and nothing is scheduled. */
  #schedule(): void {
    const routable = this.presence?.routable === true;
    if (!routable) {
      this.#nextCallAt = null;
      return;
    }
    if (this.#nextCallAt !== null) return;
    const wait = this.#firstCallDone ? this.#o.callEvery : this.#o.firstCallAfter;
    this.#nextCallAt = this.#clock() + wait * 1000;
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    const now = this.#clock();
    for (const story of [...this.#stories.values()]) await this.#follow(story, now);
    if (this.#nextCallAt !== null && now >= this.#nextCallAt && this.presence?.routable) {
      const caller = this.#idleCaller();
      if (caller) {
        this.#nextCallAt = null;
        void this.#place(caller);
      }
    }
    this.#o.onChange();
  }

  async #place(caller: Baresip): Promise<void> {
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(this.#random() * xs.length)]!;
    const language = pick(CALLER_LANGUAGES);
    const service = pick(SERVICES);
    const queue = pick(this.#o.queues.length > 0 ? this.#o.queues : ["sociale"]);
    this.#firstCallDone = true;
    const story: CallerStory = {
      caller,
      language,
      service,
      queue,
      dialledAt: this.#clock(),
      answeredAt: null,
      hangUpAt: null,
      from: caller.events.length,
      transferred: false,
      ending: false,
    };
    this.#stories.set(caller, story);
    this.#o.note(`switchboard: citizen ${caller.user} calls (${language}, ${service}, queue ${queue})`);
    try {
      // The citizen speaks the language the IVR recorded.
      await caller.command("ausrc", `aufile,${this.#o.voices[language]}`);
      await caller.dial(this.#o.deskUri, {
        "X-Caller-Language": language,
        "X-Service": service,
        "X-Queue": queue,
      });
    } catch (e) {
      this.#o.note(`switchboard: ${caller.user} could not dial: ${(e as Error).message}`);
      this.#stories.delete(caller);
    }
    this.#o.onChange();
  }

  /** Moves one caller's story on from its new baresip events and its timers. */
  async #follow(s: CallerStory, now: number): Promise<void> {
    const events: BaresipEvent[] = s.caller.events.slice(s.from);
    const count = (type: string): number => events.filter((e) => e.type === type).length;
    const closed = count("CALL_CLOSED");
    // baresip reports a REFER it follows as TRANSFER; the first call closes once the new one is up.
    if (count("TRANSFER") > 0) s.transferred = true;
    if (s.answeredAt === null && count("CALL_ESTABLISHED") > 0) {
      s.answeredAt = now;
      const [min, max] = this.#o.talkSeconds;
      s.hangUpAt = now + (min + this.#random() * (max - min)) * 1000;
    }
    // A transferred call closes once (towards the desk) and goes on with the transfer target.
    const finished = closed >= (s.transferred ? 2 : 1) && count("CALL_ESTABLISHED") <= closed;
    if (finished) {
      this.#end(s, s.answeredAt === null ? "the call was not answered" : "call over");
      return;
    }
    if (s.ending) return;
    if (s.answeredAt === null && now - s.dialledAt > this.#o.giveUpSeconds * 1000) {
      s.ending = true;
      this.#o.note(
        `switchboard: citizen ${s.caller.user} gave up after ${this.#o.giveUpSeconds} s of ringing`,
      );
      await this.#hangUp(s);
    } else if (s.hangUpAt !== null && now >= s.hangUpAt) {
      s.ending = true;
      this.#o.note(`switchboard: citizen ${s.caller.user} says goodbye and hangs up`);
      await this.#hangUp(s);
    }
  }

  async #hangUp(s: CallerStory): Promise<void> {
    await s.caller.hangup().catch(() => undefined);
    // If nothing closes within a few seconds (no call left), the story ends anyway.
    setTimeout(() => this.#end(s, "hung up"), 3000).unref();
  }

  #end(s: CallerStory, why: string): void {
    if (this.#stories.get(s.caller) !== s) return;
    this.#stories.delete(s.caller);
    if (why === "the call was not answered" && !s.ending)
      this.#o.note(`switchboard: ${s.caller.user}: ${why}`);
    // The next call is counted from here (the desk must also be routable: wrap-up first).
    this.#nextCallAt = null;
    this.#schedule();
    this.#o.onChange();
  }

  /** A random walk of plausible figures; the desk's own availability is one of the free agents. */
  #evolve(queue: string, first: boolean): void {
    const r = this.#random;
    const prev = this.queues[queue]!;
    const waiting = first
      ? Math.floor(r() * 4)
      : Math.max(0, Math.min(9, prev.waiting + (r() < 0.45 ? 1 : r() < 0.8 ? -1 : 0)));
    const longest =
      waiting === 0 ? 0 : first ? 20 + Math.floor(r() * 90) : prev.longest_wait + 3 - (r() < 0.2 ? 25 : 0);
    const desk = this.presence?.routable ? 1 : 0;
    const drift = first ? Math.floor(r() * 3) : r() < 0.3 ? 1 : r() < 0.6 ? -1 : 0;
    const others = Math.max(0, Math.min(4, (this.#otherAgents.get(queue) ?? 0) + drift));
    this.#otherAgents.set(queue, others);
    const byLanguage: Record<string, number> = {};
    for (let i = 0; i < waiting; i++) {
      const lang = CALLER_LANGUAGES[Math.floor(r() * CALLER_LANGUAGES.length)]!;
      byLanguage[lang] = (byLanguage[lang] ?? 0) + 1;
    }
    this.queues[queue] = {
      waiting,
      longest_wait: Math.max(waiting === 0 ? 0 : 5, longest),
      available_agents: others + desk,
      by_language: byLanguage,
    };
  }

  async #publishStats(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    await Promise.all(
      Object.entries(this.queues).map(([q, f]) =>
        client
          .publishAsync(`${this.#o.topicPrefix}/queues/${q}/stats`, JSON.stringify({ v: 1, ...f }), {
            qos: 1,
            retain: true,
          })
          .catch(() => undefined),
      ),
    );
    this.#o.onChange();
  }
}

/** One line for an event of the desk's `events` topic. */
export function describeEvent(e: Record<string, unknown>): string {
  const t = String(e["type"] ?? "?");
  const time = typeof e["ts"] === "string" ? `${e["ts"].slice(11, 19)} ` : "";
  const v = (k: string): string => (e[k] === null || e[k] === undefined ? "-" : String(e[k]));
  switch (t) {
    case "call.offered":
      return `${time}call.offered      ${v("direction")} ${v("number")} · ${v("language")} · ${v("service")} · queue ${v("queue")}`;
    case "call.answered":
      return `${time}call.answered     after ${v("ring_time")} s of ringing`;
    case "call.ended":
      return `${time}call.ended        ${v("end_reason")} · talk ${v("talk_time")} s · lost ${v("packets_lost")} · jitter ${v("jitter_ms")} ms`;
    case "call.transferred":
      return `${time}call.transferred  to ${v("target")} · ${e["ok"] === true ? "ok" : `failed ${v("detail")}`}`;
    case "status.changed":
      return `${time}status.changed    ${v("previous_status")} → ${v("status")}${e["reason"] ? ` (${v("reason")})` : ""} by ${v("origin")}`;
    default:
      return `${time}${t}`;
  }
}
