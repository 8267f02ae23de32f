import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { memoryLogger, silentLogger } from "../../src/log/logger.js";
import { ALIVE_EVERY_MS, OpenCallFile } from "../../src/state-dir/open-call-file.js";
import { sampleCall } from "../samples.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "cuffia-open-call-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("OpenCallFile", () => {
  it("records the call when offered and answered, refreshes aliveAt, and removes it when it ends", async () => {
    const f = new OpenCallFile(dir, silentLogger);
    const call = sampleCall(1_000, { id: "c9", offeredAt: 1_000, answeredAt: null });
    f.track(call, 1_000);
    await f.flush();
    expect(new OpenCallFile(dir, silentLogger).load()).toMatchObject({
      id: "c9",
      answeredAt: null,
      aliveAt: 1_000,
    });
    f.track({ ...call, answeredAt: 3_000 }, 3_000);
    f.touch(3_000 + ALIVE_EVERY_MS);
    await f.flush();
    expect(new OpenCallFile(dir, silentLogger).load()).toMatchObject({
      id: "c9",
      answeredAt: 3_000,
      aliveAt: 3_000 + ALIVE_EVERY_MS,
    });
    f.track(null, 40_000);
    await f.flush();
    expect(new OpenCallFile(dir, silentLogger).load()).toBeNull();
  });

  it("ignores an unreadable record, loudly", async () => {
    await writeFile(join(dir, "open-call.json"), '{"id":"x"');
    const { log, lines } = memoryLogger("warn");
    expect(new OpenCallFile(dir, log).load()).toBeNull();
    expect(lines.some((l) => String(l.msg).includes("unreadable"))).toBe(true);
  });
});
