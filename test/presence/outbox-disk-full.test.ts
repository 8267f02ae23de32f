/**
 * The outbox on a disk that fills up (issue 11): a short or failed write is never published
 * torn nor glued to the next line, seqs are never reused across a crash, and the outbox recovers
 * by itself when space comes back. The failures are injected under the outbox's own fs calls
 * (StoreFs); one test uses a real 64 KiB tmpfs when this machine lets us mount one (root).
 */
import { execFileSync } from "node:child_process";
import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { DeskEvent } from "../../src/core/types.js";
import { memoryLogger, silentLogger } from "../../src/log/logger.js";
import { Outbox, SEQ_BLOCK } from "../../src/presence/outbox.js";
import { nodeStoreFs, type StoreFile, type StoreFs } from "../../src/state-dir/high-water.js";

const status = (i: number): DeskEvent => ({
  type: "status.changed",
  status: i % 2 ? "paused" : "available",
  reason: i % 2 ? `reason-${i}-${"x".repeat(40)}` : null,
  previous_status: "available",
  previous_reason: null,
  origin: "headset",
});

const enospc = (): Error =>
  Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });

/**
 * Node's fs, with a switch that makes writes come up short once and then fail (a disk filling
 * up). Like a real full disk, it still lets the seq file's allocated bytes be overwritten in
 * place, unless `refuseAll`.
 */
class FillingFs implements StoreFs {
  full = false;
  refuseAll = false;
  /** When filling: the first write stores this many bytes, then ENOSPC. */
  shortBytes = 10;
  private spent = false;
  async open(path: string, flags: string): Promise<StoreFile> {
    const fh = await nodeStoreFs.open(path, flags);
    const outer = this;
    return {
      async write(buffer, offset, length, position) {
        const inPlace = flags === "r+" && path.endsWith("outbox.seq") && !outer.refuseAll;
        if (outer.full && !inPlace) {
          if (!outer.spent && outer.shortBytes > 0) {
            outer.spent = true;
            return fh.write(buffer, offset, Math.min(length, outer.shortBytes), position);
          }
          throw enospc();
        }
        return fh.write(buffer, offset, length, position);
      },
      datasync: () => fh.datasync(),
      sync: () => fh.sync(),
      truncate: (len) => fh.truncate(len),
      close: () => fh.close(),
    };
  }
  readFile = nodeStoreFs.readFile;
  rename = async (from: string, to: string) => {
    if (this.full) throw enospc();
    return nodeStoreFs.rename(from, to);
  };
  mkdir = nodeStoreFs.mkdir;
  free(): void {
    this.full = false;
    this.spent = false;
  }
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "cuffia-outbox-full-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const open = (fs: StoreFs, log = silentLogger) =>
  Outbox.open({ dir, maxBytes: 1 << 20, log, clock: () => 1_700_000_000_000, fs, retryDelay: () => 20 });

const readLog = async (at = dir) => (await readFile(join(at, "outbox.jsonl"), "utf8")).split("\n");
const waitFor = async (what: string, check: () => boolean | Promise<boolean>, ms = 5_000) => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("outbox on a full disk", () => {
  it("a short write is cut off, kept in memory and published, never torn; the next event is not glued to it", async () => {
    const fs = new FillingFs();
    const { log, lines } = memoryLogger("warn");
    const box = await open(fs, log);
    await box.append(status(1));
    fs.full = true;
    const second = await box.append(status(2));
    // Not durable, but kept and publishable, whole, with its seq.
    expect(second?.seq).toBe(2);
    expect(box.unacked().map((e) => e.seq)).toEqual([1, 2]);
    expect(JSON.parse(box.unacked()[1]!.payload)).toMatchObject({ seq: 2, id: second!.id });
    expect(box.size.notDurable).toBe(1);
    expect(lines.some((l) => String(l.msg).includes("not durable"))).toBe(true);
    // The torn 10 bytes were cut: the file holds exactly the one whole line.
    expect((await readLog()).filter((l) => l.length > 0)).toHaveLength(1);
    fs.free();
    const third = await box.append(status(3));
    await box.settle();
    const onDisk = (await readLog()).filter((l) => l.length > 0).map((l) => JSON.parse(l));
    expect(onDisk.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(onDisk[1].id).toBe(second!.id);
    expect(onDisk[2].id).toBe(third!.id);
    expect(box.healthy).toBe(true);
    await box.close();
  });

  it("rewrites what the disk refused by itself once space comes back (no new event needed)", async () => {
    const fs = new FillingFs();
    fs.shortBytes = 0;
    const { log, lines } = memoryLogger("warn");
    const box = await open(fs, log);
    await box.append(status(1));
    fs.full = true;
    await box.append(status(2));
    expect(box.healthy).toBe(false);
    fs.free();
    await waitFor("the retry to write it", () => box.healthy);
    expect((await readLog()).filter((l) => l.length > 0).map((l) => JSON.parse(l).seq)).toEqual([1, 2]);
    expect(lines.some((l) => String(l.msg).includes("takes writes again"))).toBe(true);
    await box.close();
  });

  it("a daemon that starts on a full disk publishes its backlog and re-opens the log when space returns", async () => {
    const first = await open(nodeStoreFs);
    const a = await first.append(status(1));
    await first.append(status(2));
    // kill -9: no close.
    const fs = new FillingFs();
    fs.full = true;
    fs.shortBytes = 0;
    const box = await open(fs);
    expect(box.unacked().map((e) => e.id)).toContain(a!.id);
    expect(box.healthy).toBe(false);
    const c = await box.append(status(3));
    // Above the first run's reservation (it was killed), reserved by overwriting the seq file in
    // place, which a full disk allows: publishable at once.
    expect(c!.seq).toBe(SEQ_BLOCK + 1);
    expect(box.unacked().map((e) => e.seq)).toEqual([1, 2, SEQ_BLOCK + 1]);
    fs.free();
    await waitFor("the log re-opened", () => box.healthy);
    const onDisk = (await readLog()).filter((l) => l.length > 0).map((l) => JSON.parse(l));
    expect(onDisk.map((e) => [e.seq, e.id])).toEqual(box.unacked().map((e) => [e.seq, e.id]));
    await box.close();
  });

  it("never publishes a seq it could not reserve durably; publishes once it can", async () => {
    const fs = new FillingFs();
    fs.full = true;
    fs.refuseAll = true;
    fs.shortBytes = 0;
    const box = await open(fs);
    let stored: unknown = "pending";
    const p = box.append(status(1)).then((e) => {
      stored = e;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(stored).toBe("pending");
    expect(box.unacked()).toEqual([]);
    fs.free();
    await p;
    expect(box.unacked().map((e) => e.seq)).toEqual([1]);
    await box.close();
  });

  it("seq across crashes: skips the rest of the reserved block, never repeats; a replayed line keeps id and seq", async () => {
    const seen = new Map<number, string>();
    let last = 0;
    for (let run = 0; run < 3; run++) {
      const box = await open(nodeStoreFs);
      for (const e of box.unacked()) expect(seen.get(e.seq)).toBe(e.id);
      for (let i = 0; i < 5; i++) {
        const e = await box.append(status(i));
        expect(e!.seq).toBeGreaterThan(last);
        expect(seen.has(e!.seq)).toBe(false);
        seen.set(e!.seq, e!.id);
        last = e!.seq;
      }
      // Acknowledge some (compacted away later): their seqs must not come back either.
      for (const e of box.unacked().slice(0, 3)) box.ack(e.seq);
      await box.settle();
      // kill -9: no close
    }
    expect(last).toBeGreaterThan(2 * SEQ_BLOCK);
    // A clean close records the exact last seq: no skip.
    const box = await open(nodeStoreFs);
    const before = (await box.append(status(9)))!.seq;
    await box.close();
    const again = await open(nodeStoreFs);
    expect((await again.append(status(10)))!.seq).toBe(before + 1);
    await again.close();
  });

  it("a torn line from an older version glued to the next event is repaired at load", async () => {
    const box = await open(nodeStoreFs);
    const one = await box.append(status(1));
    await box.close();
    const whole = JSON.stringify({
      v: 1,
      id: "glued-2",
      seq: 3,
      ts: "2023-11-14T22:13:20.000Z",
      ...status(3),
    });
    await appendFile(
      join(dir, "outbox.jsonl"),
      `{"v":1,"id":"torn","seq":2,"ts"${whole}\n{"v":1,"id":"x","se`,
    );
    const { log, lines } = memoryLogger("warn");
    const again = await open(nodeStoreFs, log);
    expect(again.unacked().map((e) => [e.seq, e.id])).toEqual([
      [1, one!.id],
      [3, "glued-2"],
    ]);
    expect(lines.some((l) => String(l.msg).includes("torn"))).toBe(true);
    // The next seq is above everything seen, torn lines included.
    expect((await again.append(status(4)))!.seq).toBeGreaterThan(3);
    await again.close();
  });

  it("a destroyed seq file falls back to the log and the ack marker, never below them", async () => {
    const box = await open(nodeStoreFs);
    for (let i = 0; i < 3; i++) await box.append(status(i));
    await box.close();
    await writeFile(join(dir, "outbox.seq"), "garbage");
    const again = await open(nodeStoreFs);
    expect((await again.append(status(4)))!.seq).toBe(4);
    await again.close();
  });
});

/** A real full disk: a 64 KiB tmpfs (needs root and mount; otherwise covered by the tests above). */
function mountTmpfs(at: string): boolean {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", at], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("outbox on a real 64 KiB tmpfs", () => {
  it("a daemon that starts on the full tmpfs publishes its backlog and re-opens the log once space is freed", async (ctx) => {
    const mnt = await mkdtemp(join(tmpdir(), "cuffia-tmpfs-"));
    if (!mountTmpfs(mnt)) {
      await rm(mnt, { recursive: true, force: true });
      ctx.skip();
      return;
    }
    try {
      const opts = {
        dir: mnt,
        maxBytes: 1 << 20,
        log: silentLogger,
        clock: () => 1_700_000_000_000,
        retryDelay: () => 20,
      };
      const first = await Outbox.open(opts);
      const kept = [];
      for (let i = 0; i < 5; i++) kept.push(await first.append(status(i)));
      // kill -9 (no close), then the disk fills up completely before the next start.
      const ballast = join(mnt, "ballast");
      await writeFile(ballast, Buffer.alloc(64 * 1024)).catch(() => {});
      const box = await Outbox.open(opts);
      expect(box.unacked().map((e) => e.id)).toEqual(kept.map((e) => e!.id));
      expect(box.healthy).toBe(false);
      const more = await box.append(status(6));
      expect(more!.seq).toBeGreaterThan(kept.at(-1)!.seq);
      expect(box.unacked().at(-1)!.id).toBe(more!.id);
      await rm(ballast, { force: true });
      await waitFor("the log re-opened", () => box.healthy);
      const onDisk = (await readLog(mnt)).filter((l) => l.length > 0).map((l) => JSON.parse(l));
      expect(onDisk.map((e) => e.id)).toEqual([...kept, more].map((e) => e!.id));
      await box.close();
      await first.close().catch(() => {});
    } finally {
      execFileSync("umount", [mnt]);
      await rm(mnt, { recursive: true, force: true });
    }
  });

  it("fills up: no torn line on disk, seqs unique, everything written once space is freed", async (ctx) => {
    const mnt = await mkdtemp(join(tmpdir(), "cuffia-tmpfs-"));
    if (!mountTmpfs(mnt)) {
      await rm(mnt, { recursive: true, force: true });
      ctx.skip();
      return;
    }
    try {
      const box = await Outbox.open({
        dir: mnt,
        maxBytes: 1 << 20,
        log: silentLogger,
        clock: () => 1_700_000_000_000,
        retryDelay: () => 20,
      });
      // Fill the rest with a ballast file, leaving a few hundred bytes.
      const ballast = join(mnt, "ballast");
      try {
        await writeFile(ballast, Buffer.alloc(60 * 1024));
      } catch {
        // ENOSPC part way is fine: what matters is that the disk is (nearly) full.
      }
      const stored = [];
      for (let i = 0; i < 40; i++) stored.push(await box.append(status(i)));
      expect(stored.every((e) => e !== null)).toBe(true);
      const seqs = stored.map((e) => e!.seq);
      expect(new Set(seqs).size).toBe(40);
      expect(box.size.notDurable).toBeGreaterThan(0);
      for (const line of (await readLog(mnt)).filter((l) => l.length > 0))
        expect(() => JSON.parse(line)).not.toThrow();
      await rm(ballast, { force: true });
      await waitFor("the log rewritten", () => box.healthy);
      const onDisk = (await readLog(mnt)).filter((l) => l.length > 0).map((l) => JSON.parse(l));
      expect(onDisk.map((e) => e.seq)).toEqual(seqs);
      await box.close();
    } finally {
      execFileSync("umount", [mnt]);
      await rm(mnt, { recursive: true, force: true });
    }
  });
});
