import { describe, expect, it } from "vitest";
import { backoffDelay, RECONNECT, REFUSED } from "../../src/presence/backoff.js";
import { topics } from "../../src/presence/topics.js";

describe("backoffDelay (full jitter)", () => {
  it("stays under min(cap, base·2^attempt)", () => {
    expect(backoffDelay(RECONNECT, 0, () => 0.999)).toBe(999);
    expect(backoffDelay(RECONNECT, 3, () => 0.5)).toBe(4_000);
    expect(backoffDelay(RECONNECT, 50, () => 0.999)).toBe(59_940);
    expect(backoffDelay(RECONNECT, 2, () => 0)).toBe(0);
  });
  it("retries refused connections slowly", () => {
    expect(backoffDelay(REFUSED, 0, () => 0)).toBe(10_000);
    expect(backoffDelay(REFUSED, 0, () => 0.999)).toBeLessThan(30_000);
    expect(backoffDelay(REFUSED, 40, () => 0.999)).toBeLessThan(300_000);
  });
});

describe("topics", () => {
  const t = topics("cuffia", "desk-17");
  it("follows contracts/mqtt.md", () => {
    expect(t.online).toBe("cuffia/agents/desk-17/online");
    expect(t.presence).toBe("cuffia/agents/desk-17/presence");
    expect(t.events).toBe("cuffia/agents/desk-17/events");
    expect(t.commands).toBe("cuffia/agents/desk-17/commands");
    expect(t.commandResult).toBe("cuffia/agents/desk-17/commands/result");
    expect(t.queueStats("sociale")).toBe("cuffia/queues/sociale/stats");
    expect(t.queueOf("cuffia/queues/sociale/stats")).toBe("sociale");
    expect(t.queueOf("cuffia/queues/a/b/stats")).toBeNull();
  });
  it("refuses an agent id that would be a wildcard", () => {
    expect(() => topics("cuffia", "desk/#")).toThrow(/topic level/);
    expect(() => topics("cuffia", "+")).toThrow(/topic level/);
  });
});
