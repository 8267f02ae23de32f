/**
 * Queue statistics from the switchboard (`P/queues/Q/stats`, retained), validated and summed
 * over the desk's queues. Pure: the caller passes the clock and schedules the next check.
 */
import { z } from "zod";
import type { QueueSummary } from "../core/types.js";

/** A stats message is a few hundred bytes; anything much larger is a mistake or an attack. */
export const MAX_STATS_BYTES = 16 * 1024;

const count = z.number().int().nonnegative().max(1_000_000);

const statsSchema = z.object({
  v: z.literal(1),
  waiting: count,
  longest_wait: z
    .number()
    .nonnegative()
    .max(10 * 365 * 86_400),
  available_agents: count.nullable().optional(),
  by_language: z
    .record(z.string().min(1).max(35), count)
    .refine((r) => Object.keys(r).length <= 64, "at most 64 languages")
    .optional(),
});

export type QueueStatsMessage = z.infer<typeof statsSchema>;

export type StatsParse =
  | { readonly ok: true; readonly stats: QueueStatsMessage }
  /** An empty retained payload: the switchboard cleared the queue's figures. */
  | { readonly ok: true; readonly stats: null }
  | { readonly ok: false; readonly error: string };

export function parseQueueStats(payload: Uint8Array): StatsParse {
  if (payload.byteLength === 0) return { ok: true, stats: null };
  if (payload.byteLength > MAX_STATS_BYTES) {
    return { ok: false, error: `payload of ${payload.byteLength} bytes exceeds ${MAX_STATS_BYTES}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload).toString("utf8"));
  } catch {
    return { ok: false, error: "payload is not JSON" };
  }
  const r = statsSchema.safeParse(json);
  if (!r.success) {
    return {
      ok: false,
      error: r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; "),
    };
  }
  return { ok: true, stats: r.data };
}

interface Entry {
  readonly stats: QueueStatsMessage;
  readonly receivedAt: number;
  readonly expiresAt: number;
}

export type QueueStatsSummary = Omit<QueueSummary, "receivedAt">;

/** The latest figures per queue, each with its own expiry. */
export class QueueStatsTable {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly queues: readonly string[],
    private readonly staleMs: number,
  ) {}

  /**
   * Records a queue's figures (null clears them). `expirySeconds` is the MQTT 5 message expiry
   * left when the broker delivered it: figures never outlive it, nor `statsStaleSeconds`.
   */
  set(queue: string, stats: QueueStatsMessage | null, now: number, expirySeconds?: number): void {
    if (!this.queues.includes(queue)) return;
    if (stats === null) {
      this.entries.delete(queue);
      return;
    }
    const life = expirySeconds === undefined ? this.staleMs : Math.min(this.staleMs, expirySeconds * 1000);
    this.entries.set(queue, { stats, receivedAt: now, expiresAt: now + life });
  }

  /** When the next figures go stale (ms), or null when none are held. */
  nextExpiry(): number | null {
    let next: number | null = null;
    for (const e of this.entries.values()) if (next === null || e.expiresAt < next) next = e.expiresAt;
    return next;
  }

  /**
   * Sum of `waiting` and `available_agents`, max of `longest_wait` (aged to `now`, since queues
   * were heard at different times), merged `by_language`; null when no queue's figures are fresh.
   */
  summary(now: number): QueueStatsSummary | null {
    let fresh = 0;
    let waiting = 0;
    let longestWait = 0;
    let availableAgents: number | null = null;
    const byLanguage: Record<string, number> = {};
    for (const [queue, e] of this.entries) {
      if (e.expiresAt <= now) {
        this.entries.delete(queue);
        continue;
      }
      fresh++;
      waiting += e.stats.waiting;
      // A queue with nobody waiting has no longest wait to age.
      const aged = e.stats.waiting > 0 ? e.stats.longest_wait + Math.floor((now - e.receivedAt) / 1000) : 0;
      longestWait = Math.max(longestWait, aged);
      if (e.stats.available_agents !== undefined && e.stats.available_agents !== null) {
        availableAgents = (availableAgents ?? 0) + e.stats.available_agents;
      }
      for (const [lang, n] of Object.entries(e.stats.by_language ?? {})) {
        byLanguage[lang] = (byLanguage[lang] ?? 0) + n;
      }
    }
    if (fresh === 0) return null;
    return { waiting, longestWait, availableAgents, byLanguage };
  }
}
