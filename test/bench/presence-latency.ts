/**
 * Presence benchmarks against a real Mosquitto on loopback:
 * 1. latency from a desk state change to the message at a subscriber, over 1000 changes, for
 *    the retained presence document and for the event (which goes through the fsync'd outbox);
 * 2. a fleet of 200 desks in one process reconnecting after a broker restart: how the
 *    reconnections spread over time (full-jitter backoff) and when every presence is back.
 */
import type { Command } from "../../src/core/types.js";
import { startMosquitto } from "../lab/mosquitto.js";
import { type Desk, startDesk, Watcher, waitUntil } from "../presence/harness.js";

export interface LatencyFigures {
  readonly changes: number;
  readonly presence: Percentiles;
  readonly event: Percentiles;
}
export interface Percentiles {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}
export interface FleetFigures {
  readonly desks: number;
  /** ms after the broker accepted connections again. */
  readonly firstReconnect: number;
  readonly medianReconnect: number;
  readonly lastReconnect: number;
  readonly allPresenceBack: number;
  /** Reconnections per 250 ms bucket. */
  readonly histogram: readonly number[];
}

function percentiles(xs: number[]): Percentiles {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), max: s.at(-1) ?? Number.NaN };
}

const ms = (n: number): string => `${n.toFixed(2)} ms`;

export async function measureLatency(changes = 1000): Promise<LatencyFigures> {
  const broker = await startMosquitto();
  let desk: Desk | null = null;
  const w = await Watcher.connect(broker.url, ["cuffia/agents/bench/presence", "cuffia/agents/bench/events"]);
  try {
    desk = await startDesk({ url: broker.url, agentId: "bench" });
    await waitUntil("connected", () => desk?.presence.connected);
    desk.command({ cmd: "login" });
    await w.waitFor("logged in", (s) => s.json?.status === "available" && s.topic.endsWith("/presence"));
    const presenceArrivals = new Map<number, number>();
    const eventArrivals = new Map<string, number>();
    w.client.on("message", (topic, payload) => {
      const at = performance.now();
      const doc = JSON.parse(payload.toString()) as { seq: number; status: string; reason: string | null };
      if (topic.endsWith("/presence")) presenceArrivals.set(doc.seq, at);
      else eventArrivals.set(`${doc.status}/${doc.reason}/${doc.seq}`, at);
    });
    const toPresence: number[] = [];
    const toEvent: number[] = [];
    const reasons = ["break", "lunch", "training"];
    let eventsSeen = 0;
    for (let i = 0; i < changes; i++) {
      const command: Command =
        i % 2 === 0 ? { cmd: "pause", reason: reasons[(i / 2) % 3]! } : { cmd: "unpause" };
      const t0 = performance.now();
      desk.command(command);
      const seq = desk.runner.state.seq;
      const arrived = await waitUntil(`presence ${seq}`, () => presenceArrivals.get(seq), 5_000);
      const target = eventsSeen + 1;
      await waitUntil(`event ${target}`, () => eventArrivals.size >= target, 5_000);
      eventsSeen = eventArrivals.size;
      const eventAt = [...eventArrivals.values()].at(-1)!;
      toPresence.push(arrived - t0);
      toEvent.push(eventAt - t0);
    }
    return { changes, presence: percentiles(toPresence), event: percentiles(toEvent) };
  } finally {
    await desk?.stop();
    await w.close();
    await broker.stop();
  }
}

export async function measureFleet(size = 200): Promise<FleetFigures> {
  const broker = await startMosquitto();
  const desks: Desk[] = [];
  let w: Watcher | null = null;
  try {
    for (let i = 0; i < size; i++) {
      desks.push(await startDesk({ url: broker.url, agentId: `fleet-${i}` }));
    }
    await waitUntil("fleet connected", () => desks.every((d) => d.presence.connected), 30_000);
    const sessions = desks.map((d) => d.presence.session);
    await broker.restart();
    const up = performance.now();
    w = await Watcher.connect(broker.url, ["cuffia/agents/+/presence"]);
    const reconnectedAt = new Array<number>(size).fill(0);
    await waitUntil(
      "fleet reconnected",
      () => {
        const now = performance.now();
        desks.forEach((d, i) => {
          if (reconnectedAt[i] === 0 && d.presence.connected && d.presence.session !== sessions[i])
            reconnectedAt[i] = now;
        });
        return reconnectedAt.every((t) => t > 0);
      },
      120_000,
    );
    const watcher = w;
    const back = await waitUntil(
      "every presence back",
      () => (new Set(watcher.seen.map((s) => s.topic)).size >= size ? performance.now() : null),
      120_000,
    );
    const rel = reconnectedAt.map((t) => t - up).sort((a, b) => a - b);
    const buckets = new Array<number>(Math.ceil((rel.at(-1) ?? 0) / 250) + 1).fill(0);
    for (const t of rel) buckets[Math.floor(Math.max(0, t) / 250)]! += 1;
    return {
      desks: size,
      firstReconnect: rel[0] ?? Number.NaN,
      medianReconnect: rel[Math.floor(size / 2)] ?? Number.NaN,
      lastReconnect: rel.at(-1) ?? Number.NaN,
      allPresenceBack: back - up,
      histogram: buckets,
    };
  } finally {
    await Promise.all(desks.map((d) => d.stop()));
    await w?.close();
    await broker.stop();
  }
}

export async function main(write: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const l = await measureLatency(1000);
  write(`presence latency, state change → subscriber, ${l.changes} changes (Mosquitto, loopback)\n`);
  write(
    `  presence document: p50 ${ms(l.presence.p50)}  p99 ${ms(l.presence.p99)}  max ${ms(l.presence.max)}\n`,
  );
  write(`  event (fsync'd outbox): p50 ${ms(l.event.p50)}  p99 ${ms(l.event.p99)}  max ${ms(l.event.max)}\n`);
  const f = await measureFleet(200);
  write(`fleet of ${f.desks} desks, broker restart (times after it listens again)\n`);
  write(
    `  reconnections: first ${ms(f.firstReconnect)}  median ${ms(f.medianReconnect)}  last ${ms(f.lastReconnect)}\n`,
  );
  write(`  every presence back after ${ms(f.allPresenceBack)}\n`);
  write(`  reconnections per 250 ms: ${f.histogram.join(" ")}\n`);
}
