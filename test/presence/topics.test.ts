import { describe, expect, it } from "vitest";
import { topics } from "../../src/presence/topics.js";

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
