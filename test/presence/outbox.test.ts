import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { DeskEvent } from "../../src/core/types.js";
import { memoryLogger, silentLogger } from "../../src/log/logger.js";
import { Outbox } from "../../src/presence/outbox.js";

const status = (i: number): DeskEvent => ({
  type: "status.changed",
  status: i % 2 ? "paused" : "available",
  reason: i % 2 ? `r${i}` : null,
  previous_status: "available",
  previous_reason: null,
  origin: "headset",
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "cuffia-outbox-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const open = (maxBytes = 1 << 20, log = silentLogger) =>
  Outbox.open({ dir, maxBytes, log, clock: () => 1_700_000_000_000 });

describe("Outbox", () => {
  it("stamps v, id, seq, ts and keeps the event's fields", async () => {
    const box = await open();
    const e = await box.append(status(1));
    expect(e?.seq).toBe(1);
    expect(JSON.parse(e!.payload)).toEqual({
      v: 1,
      id: e!.id,
      seq: 1,
      ts: "2023-11-14T22:13:20.000Z",
      ...status(1),
    });
    expect(e!.id).toMatch(/^[0-9a-f-]{36}$/);
    await box.close();
  });

  it("is on disk before append resolves, and survives a reopen in order", async () => {
    const box = await open();
    const stored = await Promise.all([1, 2, 3].map((i) => box.append(status(i))));
    expect(stored.map((e) => e?.seq)).toEqual([1, 2, 3]);
    const lines = (await readFile(join(dir, "outbox.jsonl"), "utf8")).trim().split("\n");
    expect(lines.map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3]);
    // No close(): as after kill -9.
    const again = await open();
    expect(again.unacked().map((e) => e.id)).toEqual(stored.map((e) => e!.id));
    // A crash (no close) skips the rest of the reserved block, never repeats a seq.
    expect((await again.append(status(4)))?.seq).toBeGreaterThan(3);
    await again.close();
    await box.close();
  });

  it("does not republish acknowledged events nor reuse their seq after a restart", async () => {
    const box = await open();
    for (let i = 1; i <= 5; i++) await box.append(status(i));
    for (const s of [1, 2, 3]) box.ack(s);
    await box.settle();
    const again = await open();
    expect(again.unacked().map((e) => e.seq)).toEqual([4, 5]);
    again.ack(4);
    again.ack(5);
    await again.settle();
    await again.close();
    // Everything acknowledged and compacted away: the marker still remembers the last seq.
    const third = await open();
    expect(third.unacked()).toEqual([]);
    expect((await third.append(status(6)))?.seq).toBeGreaterThan(5);
    await third.close();
    await box.close();
  });

  it("keeps an event acknowledged out of order until the ones before it are acknowledged", async () => {
    const box = await open();
    for (let i = 1; i <= 3; i++) await box.append(status(i));
    box.ack(2);
    await box.settle();
    const again = await open();
    // 2 was acknowledged, but the marker cannot pass 1; 2 may be sent again (consumers dedupe on id).
    expect(again.unacked().map((e) => e.seq)).toEqual([1, 2, 3]);
    await again.close();
    await box.close();
  });

  it("drops a torn last line (power cut mid-write) and continues after it", async () => {
    const box = await open();
    await box.append(status(1));
    await box.close();
    await appendFile(join(dir, "outbox.jsonl"), '{"v":1,"id":"x","seq":2,"ts"');
    const { log, lines } = memoryLogger("warn");
    const again = await open(1 << 20, log);
    expect(again.unacked().map((e) => e.seq)).toEqual([1]);
    expect(lines.some((l) => String(l.msg).includes("torn"))).toBe(true);
    expect((await again.append(status(2)))?.seq).toBe(2);
    await again.close();
    const third = await open();
    expect(third.unacked().map((e) => e.seq)).toEqual([1, 2]);
    await third.close();
  });

  it("compacts acknowledged lines away by rename", async () => {
    const box = await open(8 * 1024);
    for (let i = 1; i <= 40; i++) {
      await box.append(status(i));
      box.ack(i);
    }
    await box.settle();
    const size = (await readFile(join(dir, "outbox.jsonl"))).byteLength;
    expect(size).toBeLessThan(8 * 1024 * 1.25);
    await box.close();
  });

  it("refuses new events past the cap with a warning instead of filling the disk", async () => {
    const { log, lines } = memoryLogger("warn");
    const box = await open(1_000, log);
    const results = [];
    for (let i = 1; i <= 10; i++) results.push(await box.append(status(i)));
    const kept = results.filter((r) => r !== null);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(10);
    expect(box.size.bytes).toBeLessThanOrEqual(1_000);
    expect(box.size.dropped).toBe(10 - kept.length);
    expect(lines.some((l) => String(l.msg).includes("outbox full"))).toBe(true);
    // Room again once the broker acknowledged: seqs stay contiguous (drops consume none).
    for (const e of kept) box.ack(e!.seq);
    expect((await box.append(status(11)))?.seq).toBe(kept.length + 1);
    await box.close();
  });

  it("treats a malformed marker as nothing acknowledged (resend rather than lose)", async () => {
    const box = await open();
    await box.append(status(1));
    await box.close();
    await writeFile(join(dir, "outbox.acked"), "garbage");
    const again = await open();
    expect(again.unacked().map((e) => e.seq)).toEqual([1]);
    await again.close();
  });
});
