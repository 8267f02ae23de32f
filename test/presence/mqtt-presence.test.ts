/** MqttPresence without a broker: start-up order and a state dir that cannot be used. */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { DeskInput } from "../../src/core/types.js";
import { memoryLogger, silentLogger } from "../../src/log/logger.js";
import { MqttPresence } from "../../src/presence/mqtt-presence.js";
import { presenceOptions } from "./harness.js";

// Nothing listens on port 1: the side must start anyway and keep retrying in the background.
const NOWHERE = "mqtt://127.0.0.1:1";
const ended = {
  type: "status.changed",
  status: "available",
  reason: null,
  previous_status: "logged_out",
  previous_reason: null,
  origin: "control",
} as const;

let dir: string;
let side: MqttPresence | null = null;
afterEach(async () => {
  await side?.stop();
  side = null;
  await rm(dir, { recursive: true, force: true });
});

describe("MqttPresence", () => {
  it("keeps events the desk makes before the side has started, in order", async () => {
    dir = await mkdtemp(join(tmpdir(), "cuffia-presence-"));
    side = new MqttPresence({
      options: presenceOptions(NOWHERE),
      agent: { id: "d1", name: null },
      stateDir: dir,
      log: silentLogger,
    });
    const first = side.execute({ type: "event", event: ended });
    const second = side.execute({ type: "event", event: { ...ended, status: "paused", reason: "break" } });
    await side.start(() => ({ ok: true }));
    await Promise.all([first, second]);
    await side.flush();
    const lines = (await readFile(join(dir, "outbox.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.seq, l.status])).toEqual([
      [1, "available"],
      [2, "paused"],
    ]);
    expect(side.connected).toBe(false);
  });

  it("starts without a usable state dir, reports it, keeps events in memory, and writes them once it is usable", async () => {
    dir = await mkdtemp(join(tmpdir(), "cuffia-presence-"));
    const stateDir = join(dir, "state");
    await writeFile(stateDir, "");
    const inputs: DeskInput[] = [];
    const { log, lines } = memoryLogger("warn");
    side = new MqttPresence({
      options: presenceOptions(NOWHERE),
      agent: { id: "d1", name: null },
      stateDir,
      log,
      outboxRetryDelay: () => 50,
    });
    await side.start((input) => {
      inputs.push(input);
      return { ok: true };
    });
    expect(inputs).toContainEqual({
      type: "health",
      side: "presence",
      fault: expect.stringMatching(/^event outbox unavailable/),
    });
    expect(
      lines.some((l) => String(l.msg).startsWith("event outbox unavailable: events wait in memory")),
    ).toBe(true);
    const written = side.execute({ type: "event", event: ended });
    // The state dir becomes usable (a file in the way removed): the retry opens the outbox.
    await rm(stateDir);
    await written;
    await side.flush();
    const stored = (await readFile(join(stateDir, "outbox.jsonl"), "utf8")).trim().split("\n");
    expect(stored.map((l) => JSON.parse(l).status)).toEqual(["available"]);
    expect(inputs).toContainEqual({ type: "health", side: "presence", fault: null });
  });
});
