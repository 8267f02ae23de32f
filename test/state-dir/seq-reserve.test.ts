import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { memoryLogger, silentLogger } from "../../src/log/logger.js";
import { nodeStoreFs, type StoreFs } from "../../src/state-dir/high-water.js";
import { SEQ_BLOCK, SeqReserve } from "../../src/state-dir/seq-reserve.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "cuffia-seq-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Follows every seq from `from` to `to` as the runner does, letting each write settle. */
async function run(reserve: SeqReserve, from: number, to: number): Promise<void> {
  for (let seq = from; seq <= to; seq++) {
    reserve.follow(seq);
    if (seq % 500 === 0) await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 20));
}

describe("SeqReserve (state_dir/desk.seq)", () => {
  it("starts at 0, and after a clean stop right after the last seq", async () => {
    const first = await SeqReserve.open(dir, silentLogger);
    expect(first.start).toBe(0);
    await run(first, 1, 42);
    await first.close(42);
    const second = await SeqReserve.open(dir, silentLogger);
    expect(second.start).toBe(43);
  });

  it("after crashes (no close) starts above every seq any earlier run reached, in small numbers", async () => {
    let highest = -1;
    let start = 0;
    for (const length of [10, 3 * SEQ_BLOCK + 7, 1, SEQ_BLOCK]) {
      const reserve = await SeqReserve.open(dir, silentLogger);
      expect(reserve.start).toBeGreaterThan(highest);
      expect(reserve.start).toBeGreaterThanOrEqual(start);
      start = reserve.start;
      await run(reserve, start + 1, start + length);
      highest = start + length;
      // killed here: nothing recorded on the way out
    }
    // four crashed runs of ~4 blocks in all skip at most a block each
    expect(start).toBeLessThan(highest + 2 * SEQ_BLOCK);
  });

  it("writes the mark about once per half block, not on every change", async () => {
    let writes = 0;
    const counting: StoreFs = {
      ...nodeStoreFs,
      open: async (path, flags) => {
        if (flags !== "r") writes++;
        return nodeStoreFs.open(path, flags);
      },
    };
    const reserve = await SeqReserve.open(dir, silentLogger, counting);
    await run(reserve, 1, 5 * SEQ_BLOCK);
    expect(writes).toBeLessThanOrEqual(12);
    // and the mark kept ahead of the desk all along: a crash now still starts above it
    expect((await SeqReserve.open(dir, silentLogger)).start).toBeGreaterThan(5 * SEQ_BLOCK);
  });

  it("a disk that refuses the mark is logged once and the desk still starts", async () => {
    const refusing: StoreFs = {
      ...nodeStoreFs,
      open: async (path, flags) => {
        if (flags !== "r")
          throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
        return nodeStoreFs.open(path, flags);
      },
    };
    const log = memoryLogger();
    const reserve = await SeqReserve.open(dir, log.log, refusing);
    expect(reserve.start).toBe(0);
    await run(reserve, 1, 2 * SEQ_BLOCK);
    expect(log.lines.filter((l) => /cannot write desk\.seq/.test(String(l.msg)))).toHaveLength(1);
  });
});
