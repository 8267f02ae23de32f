import { describe, expect, it } from "vitest";
import { MAX_STATS_BYTES, parseQueueStats, QueueStatsTable } from "../../src/presence/queue-stats.js";

const enc = (o: unknown): Buffer => Buffer.from(typeof o === "string" ? o : JSON.stringify(o));
const stats = (o: object) => {
  const r = parseQueueStats(enc({ v: 1, ...o }));
  if (!r.ok || r.stats === null) throw new Error("fixture invalid");
  return r.stats;
};

describe("parseQueueStats", () => {
  it("accepts the contract's example", () => {
    const r = parseQueueStats(
      enc({ v: 1, waiting: 3, longest_wait: 95, available_agents: 2, by_language: { it: 2, ar: 1 } }),
    );
    expect(r).toEqual({
      ok: true,
      stats: { v: 1, waiting: 3, longest_wait: 95, available_agents: 2, by_language: { it: 2, ar: 1 } },
    });
  });
  it("reads an empty retained payload as cleared figures", () => {
    expect(parseQueueStats(Buffer.alloc(0))).toEqual({ ok: true, stats: null });
  });
  it.each([
    ["not JSON", "nope"],
    ["v 2", { v: 2, waiting: 1, longest_wait: 1 }],
    ["negative waiting", { v: 1, waiting: -1, longest_wait: 0 }],
    ["fractional waiting", { v: 1, waiting: 1.5, longest_wait: 0 }],
    ["string waiting", { v: 1, waiting: "3", longest_wait: 0 }],
    ["missing longest_wait", { v: 1, waiting: 1 }],
    ["bad language count", { v: 1, waiting: 1, longest_wait: 1, by_language: { it: -2 } }],
  ])("refuses %s", (_n, msg) => {
    expect(parseQueueStats(enc(msg)).ok).toBe(false);
  });
  it("refuses an oversized payload", () => {
    const r = parseQueueStats(Buffer.alloc(MAX_STATS_BYTES + 1, 32));
    expect(r).toMatchObject({ ok: false, error: expect.stringMatching(/exceeds/) });
  });
});

describe("QueueStatsTable", () => {
  const t0 = 1_000_000;
  it("sums waiting and agents, takes the longest wait, merges languages", () => {
    const t = new QueueStatsTable(["a", "b"], 60_000);
    t.set(
      "a",
      stats({ waiting: 3, longest_wait: 95, available_agents: 2, by_language: { it: 2, ar: 1 } }),
      t0,
    );
    t.set(
      "b",
      stats({ waiting: 1, longest_wait: 20, available_agents: 1, by_language: { it: 1, fr: 1 } }),
      t0,
    );
    expect(t.summary(t0)).toEqual({
      waiting: 4,
      longestWait: 95,
      availableAgents: 3,
      byLanguage: { it: 3, ar: 1, fr: 1 },
    });
  });
  it("is null when no queue is known, and ignores queues the desk does not serve", () => {
    const t = new QueueStatsTable(["a"], 60_000);
    expect(t.summary(t0)).toBeNull();
    t.set("zz", stats({ waiting: 3, longest_wait: 1 }), t0);
    expect(t.summary(t0)).toBeNull();
  });
  it("keeps availableAgents null when no queue publishes it", () => {
    const t = new QueueStatsTable(["a"], 60_000);
    t.set("a", stats({ waiting: 0, longest_wait: 0 }), t0);
    expect(t.summary(t0)).toEqual({ waiting: 0, longestWait: 0, availableAgents: null, byLanguage: {} });
  });
  it("ages the longest wait of a queue heard earlier", () => {
    const t = new QueueStatsTable(["a", "b"], 60_000);
    t.set("a", stats({ waiting: 1, longest_wait: 10 }), t0);
    t.set("b", stats({ waiting: 1, longest_wait: 12 }), t0 + 5_000);
    expect(t.summary(t0 + 5_000)?.longestWait).toBe(15);
  });
  it("forgets figures after statsStaleSeconds, or sooner when the MQTT 5 expiry says so", () => {
    const t = new QueueStatsTable(["a", "b"], 60_000);
    t.set("a", stats({ waiting: 1, longest_wait: 1 }), t0);
    t.set("b", stats({ waiting: 2, longest_wait: 1 }), t0, 10);
    expect(t.nextExpiry()).toBe(t0 + 10_000);
    expect(t.summary(t0 + 10_000)?.waiting).toBe(1);
    expect(t.summary(t0 + 60_000)).toBeNull();
    expect(t.nextExpiry()).toBeNull();
  });
  it("clears a queue on an empty retained payload", () => {
    const t = new QueueStatsTable(["a"], 60_000);
    t.set("a", stats({ waiting: 1, longest_wait: 1 }), t0);
    t.set("a", null, t0);
    expect(t.summary(t0)).toBeNull();
  });
});
