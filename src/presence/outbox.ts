/**
 * The durable event outbox: every desk event is on disk (fsync'd) before it is published, and
 * leaves only when the broker acknowledged it, so neither a broker outage nor a power cut loses
 * one, and a restart neither duplicates acknowledged ones nor reuses a `seq`.
 *
 * Three files in the state dir, all crash-safe without a store library:
 * - `outbox.jsonl`: one event per line, written at the end of the last whole line with a
 *   group-committed datasync, and every write's length is checked. A write that fails or comes
 *   up short (full disk) is cut off again (truncate), and the next write starts where the last
 *   whole line ends, so a torn piece never glues onto the next event. On open, lines that do not
 *   parse are dropped (a glued pair from an older version is repaired: the second event is kept).
 * - `outbox.acked`: `{"seq":N,"last":M}`, N the highest seq acknowledged with all before it,
 *   M the highest seq handed out when it was written; replaced by write-to-temp, fsync,
 *   rename, fsync(dir), so it is always the old or the new value.
 * - `outbox.seq`: the seq high-water mark (state-dir/high-water.ts). Seqs are reserved in blocks of
 *   SEQ_BLOCK, durably, before any of them is published; after a crash the next seq starts above
 *   the reservation, so a crash skips numbers but never repeats one. A clean close records the
 *   exact last seq, so a normal restart skips none.
 * Acknowledged lines are dropped by compaction (the unacknowledged tail is written to a temp
 * file and renamed over the log). The next seq is max(N, M, reservation, last seq in the log) + 1.
 *
 * A disk that refuses writes (full, read-only) does not stop the events: an event whose seq is
 * reserved but whose line could not be written is kept in memory and published all the same
 * (logged as not durable: it is lost only if the daemon also dies before the broker has it), and
 * the log is written again, with a jittered backoff, until the disk takes it. A daemon that
 * starts on a full disk reads its backlog, publishes it, and re-opens the log the same way once
 * there is room. Only when no seq can be reserved (a first start on a full disk) do new events
 * wait in memory, unpublished, until one can.
 *
 * The cap (`maxBytes`) counts unacknowledged bytes: past it new events are dropped with a
 * warning rather than filling the SD card during a very long outage; compaction keeps the file
 * under 1.25 × the cap.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { DeskEvent } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import {
  fsyncDir,
  HighWaterFile,
  nodeStoreFs,
  type StoreFile,
  type StoreFs,
  writeFully,
} from "../state-dir/high-water.js";
import { backoffDelay, POLICIES } from "../supervise/backoff.js";

export interface StoredEvent {
  readonly seq: number;
  readonly id: string;
  /** The JSON published on `P/agents/A/events`. */
  readonly payload: string;
}

export interface OutboxOptions {
  readonly dir: string;
  readonly maxBytes: number;
  readonly log: Logger;
  readonly clock: () => number;
  /** The file system (tests inject failing writes); Node's by default. */
  readonly fs?: StoreFs;
  /** Delay before retrying a failed write; attempt counts from 0 (default: POLICIES.disk, up to 30 s). */
  readonly retryDelay?: (attempt: number) => number;
}

const LOG_FILE = "outbox.jsonl";
const ACK_FILE = "outbox.acked";
const SEQ_FILE = "outbox.seq";
/** Seqs reserved per write of the high-water mark: one small write per this many events. */
export const SEQ_BLOCK = 100;

interface Entry extends StoredEvent {
  /** The line is in the log file (false: kept in memory only, rewritten when the disk allows). */
  written: boolean;
}

interface Waiting {
  readonly event: StoredEvent;
  readonly bytes: number;
  readonly resolve: (e: StoredEvent | null) => void;
}

const defaultRetry = (attempt: number): number => backoffDelay(POLICIES.disk, attempt);

async function writeAtomically(fs: StoreFs, dir: string, name: string, data: string): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const fh = await fs.open(tmp, "w");
  try {
    await writeFully(fh, Buffer.from(data), 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, join(dir, name));
  await fsyncDir(fs, dir);
}

/** Reads the log's lines: unparsable ones dropped, a glued pair repaired, seq > acked, by seq. */
function readLines(text: string, acked: number): { kept: StoredEvent[]; maxSeq: number; torn: number } {
  const bySeq = new Map<number, StoredEvent>();
  let maxSeq = 0;
  let torn = 0;
  const parse = (line: string): StoredEvent | null => {
    try {
      const rec = JSON.parse(line) as { seq?: unknown; id?: unknown };
      if (typeof rec.seq !== "number" || !Number.isSafeInteger(rec.seq) || typeof rec.id !== "string")
        return null;
      return { seq: rec.seq, id: rec.id, payload: line };
    } catch {
      return null;
    }
  };
  for (const line of text.split("\n")) {
    if (line.length === 0) continue;
    let rec = parse(line);
    if (rec === null) {
      torn++;
      // An older version appended after a torn piece: `{"v":1,... torn{"v":1,...whole}`.
      const at = line.lastIndexOf('{"v":1,');
      if (at > 0) rec = parse(line.slice(at));
      if (rec === null) continue;
    }
    maxSeq = Math.max(maxSeq, rec.seq);
    if (rec.seq > acked && !bySeq.has(rec.seq)) bySeq.set(rec.seq, rec);
  }
  return { kept: [...bySeq.values()].sort((a, b) => a.seq - b.seq), maxSeq, torn };
}

export class Outbox {
  /** Publishable, not yet acknowledged, in seq order. */
  private readonly entries: Entry[] = [];
  private readonly bytesOf = new Map<number, number>();
  private readonly ackedOutOfOrder = new Set<number>();
  private waiting: Waiting[] = [];
  private working: Promise<void> | null = null;
  /** Bytes of unacknowledged events (durable or being written): what the cap limits. */
  private unackedBytes = 0;
  /** Bytes in the log file that belong to acknowledged events. */
  private ackedBytesInFile = 0;
  /** Where the last whole line in the log ends: the next write goes there. */
  private goodSize = 0;
  private dropped = 0;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** The last failure logged, so a full disk is said once, not on every retry. */
  /** What is failing now (write, ack, ...): each said once at error, and its recovery once. */
  private readonly failing = new Set<string>();
  private readonly fs: StoreFs;

  private constructor(
    private readonly opts: OutboxOptions,
    /** null: the log could not be (re)opened; the next work round rewrites it whole. */
    private fh: StoreFile | null,
    private nextSeq: number,
    private ackedSeq: number,
    private persistedAck: number,
    private readonly hw: HighWaterFile,
  ) {
    this.fs = opts.fs ?? nodeStoreFs;
  }

  static async open(opts: OutboxOptions): Promise<Outbox> {
    const fs = opts.fs ?? nodeStoreFs;
    await fs.mkdir(opts.dir);
    const log = opts.log;
    let acked = 0;
    let lastSeq = 0;
    try {
      const marker: unknown = JSON.parse((await fs.readFile(join(opts.dir, ACK_FILE))).toString("utf8"));
      const { seq, last } = marker as { seq?: unknown; last?: unknown };
      if (typeof seq === "number" && Number.isSafeInteger(seq) && seq >= 0) acked = seq;
      else log.warn({ file: ACK_FILE }, "outbox ack marker is malformed; republishing every stored event");
      if (typeof last === "number" && Number.isSafeInteger(last)) lastSeq = last;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        log.warn({ err: String(err) }, "outbox ack marker unreadable; republishing every stored event");
      }
    }
    let text = "";
    try {
      text = (await fs.readFile(join(opts.dir, LOG_FILE))).toString("utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const hw = await HighWaterFile.open(join(opts.dir, SEQ_FILE), fs);
    const { kept, maxSeq, torn } = readLines(text, acked);
    if (torn > 0)
      log.warn(
        { lines: torn },
        "outbox: dropped torn or unreadable lines (written during a power cut or on a full disk)",
      );
    const box = new Outbox(opts, null, Math.max(acked, lastSeq, hw.value, maxSeq) + 1, acked, acked, hw);
    for (const e of kept) {
      box.entries.push({ ...e, written: true });
      const bytes = Buffer.byteLength(e.payload) + 1;
      box.bytesOf.set(e.seq, bytes);
      box.unackedBytes += bytes;
    }
    // Start from a clean file: no torn tail to write after, no acknowledged lines. On a full disk
    // this fails: the backlog is still in the old file, so it is published, and the log is
    // rewritten as soon as the disk has room (see work()).
    try {
      await box.rewrite();
    } catch (err) {
      // The backlog is still in the old file, which stays as it is until the rewrite succeeds.
      box.failed("rewrite", "could not rewrite the log at start (disk full?); will retry", err);
      box.retryLater();
    }
    if (kept.length > 0) log.info({ backlog: kept.length, from: kept[0]!.seq }, "outbox: backlog to publish");
    return box;
  }

  /** Publishable, unacknowledged events in seq order (the publisher walks this). */
  unacked(): readonly StoredEvent[] {
    return this.entries;
  }

  get size(): {
    readonly events: number;
    readonly bytes: number;
    readonly dropped: number;
    /** Events kept in memory only: the disk refused them (published all the same). */
    readonly notDurable: number;
  } {
    return {
      events: this.entries.length + this.waiting.length,
      bytes: this.unackedBytes,
      dropped: this.dropped,
      notDurable: this.entries.filter((e) => !e.written).length,
    };
  }

  /** Whether the log file is open and every publishable event is in it. */
  get healthy(): boolean {
    return this.fh !== null && this.entries.every((e) => e.written) && this.waiting.length === 0;
  }

  /**
   * Stamps the event (v, id, seq, ts) and makes it durable. Resolves with the stored event once
   * fsync'd, or, when the disk refused it, once it is kept in memory to be published anyway; with
   * null when it was dropped (cap reached, closed).
   */
  append(event: DeskEvent): Promise<StoredEvent | null> {
    if (this.closed) {
      this.opts.log.error({ type: event.type }, "outbox closed: event dropped");
      return Promise.resolve(null);
    }
    const seq = this.nextSeq;
    const id = randomUUID();
    const payload = JSON.stringify({
      v: 1,
      id,
      seq,
      ts: new Date(this.opts.clock()).toISOString(),
      ...event,
    });
    const bytes = Buffer.byteLength(payload) + 1;
    if (this.unackedBytes + bytes > this.opts.maxBytes) {
      this.dropped++;
      // Loud, but once per 100 drops: a long outage would otherwise flood the journal.
      if (this.dropped % 100 === 1) {
        this.opts.log.warn(
          { dropped: this.dropped, pendingBytes: this.unackedBytes, maxBytes: this.opts.maxBytes },
          "event outbox full (broker unreachable for long?): dropping new events; raise mqtt.outbox_max_bytes or fix the broker link",
        );
      }
      return Promise.resolve(null);
    }
    this.nextSeq++;
    this.unackedBytes += bytes;
    return new Promise((resolve) => {
      this.waiting.push({ event: { seq, id, payload }, bytes, resolve });
      this.kick();
    });
  }

  /**
   * The only writer of the files, so a compaction can never race an append. Group commit:
   * everything queued while the previous datasync ran goes in one write.
   */
  private kick(): void {
    this.working ??= this.work().finally(() => {
      this.working = null;
    });
  }

  private async work(): Promise<void> {
    for (;;) {
      if (this.waiting.length > 0) {
        if (!(await this.writeBatch())) return this.retryLater();
      } else if (this.fh === null || this.entries.some((e) => !e.written)) {
        if (!(await this.tryRewrite())) return this.retryLater();
      } else if (this.ackedSeq > this.persistedAck) {
        await this.guard("ack", "could not record acknowledgement", async () => {
          const target = this.ackedSeq;
          const marker = { seq: target, last: this.nextSeq - 1 };
          await writeAtomically(this.fs, this.opts.dir, ACK_FILE, JSON.stringify(marker) + "\n");
          this.persistedAck = target;
        });
      } else if (this.ackedBytesInFile >= Math.min(64 * 1024, this.opts.maxBytes / 4)) {
        await this.guard("compaction", "compaction failed", () => this.rewrite());
      } else {
        return;
      }
    }
  }

  private async guard(kind: string, what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
      this.ok(kind);
    } catch (err) {
      this.failed(kind, what, err);
      // Do not spin on a broken disk: the next append or ack tries again.
      this.persistedAck = this.ackedSeq;
      this.ackedBytesInFile = 0;
    }
  }

  /**
   * Reserves seqs for the waiting events, then writes them. Returns false when something failed
   * and must be retried later (the events are then published from memory if their seq is safe).
   */
  private async writeBatch(): Promise<boolean> {
    const last = this.waiting[this.waiting.length - 1]!.event.seq;
    if (last > this.hw.value) {
      try {
        await this.hw.set(last + SEQ_BLOCK - 1);
      } catch (err) {
        // Publishing a seq that a crash could hand out again would break the record: wait.
        this.failed("reserve", "could not reserve event numbers (disk full?); events wait in memory", err);
        return false;
      }
      this.ok("reserve");
    }
    const batch = this.waiting;
    this.waiting = [];
    for (const w of batch) {
      this.entries.push({ ...w.event, written: false });
      this.bytesOf.set(w.event.seq, w.bytes);
    }
    const streak = this.failing.has("write");
    const ok = await this.tryWriteUnwritten();
    if (!ok) {
      // Said at error once per streak of failures (a full disk fails every write), then at debug.
      this.opts.log[streak ? "debug" : "error"](
        { events: batch.length, seqs: batch.map((w) => w.event.seq) },
        "outbox: events not durable (disk refused the write); kept in memory and published, rewritten when the disk has room",
      );
    }
    for (const w of batch) w.resolve(w.event);
    return ok;
  }

  /** Writes the unwritten entries at the end of the last whole line; false when the disk refused. */
  private async tryWriteUnwritten(): Promise<boolean> {
    if (this.fh === null) return this.tryRewrite();
    const fh = this.fh;
    const pending = this.entries.filter((e) => !e.written);
    if (pending.length === 0) return true;
    const data = Buffer.from(pending.map((e) => e.payload + "\n").join(""));
    try {
      await writeFully(fh, data, this.goodSize);
      await fh.datasync();
    } catch (err) {
      // Cut the torn piece off; if even that fails, the next write starts at goodSize anyway.
      await fh.truncate(this.goodSize).catch(() => {});
      this.failed("write", "write failed", err);
      return false;
    }
    this.ok("write");
    this.goodSize += data.byteLength;
    for (const e of pending) e.written = true;
    return true;
  }

  private async tryRewrite(): Promise<boolean> {
    try {
      await this.rewrite();
      this.ok("rewrite");
      this.ok("write");
      return true;
    } catch (err) {
      this.failed("rewrite", "could not rewrite the log (disk full?)", err);
      return false;
    }
  }

  /**
   * Rewrites the log with only the unacknowledged lines (temp file + rename) and reopens it:
   * compaction, the clean start, and the recovery after a full disk.
   */
  private async rewrite(): Promise<void> {
    const tail = this.entries.filter((e) => e.seq > this.persistedAck);
    const data = tail.map((e) => e.payload + "\n").join("");
    await writeAtomically(this.fs, this.opts.dir, LOG_FILE, data);
    const old = this.fh;
    this.fh = null;
    await old?.close().catch(() => {});
    this.fh = await this.fs.open(join(this.opts.dir, LOG_FILE), "r+");
    this.goodSize = Buffer.byteLength(data);
    for (const e of tail) e.written = true;
    this.ackedBytesInFile = 0;
  }

  private failed(kind: string, what: string, err: unknown): void {
    if (!this.failing.has(kind)) this.opts.log.error({ err: String(err) }, `outbox: ${what}`);
    else this.opts.log.debug({ err: String(err) }, `outbox: ${what} (again)`);
    this.failing.add(kind);
  }

  private ok(kind: string): void {
    if (!this.failing.delete(kind)) return;
    if (kind === "write" || kind === "rewrite") this.failures = 0;
    if (this.failing.size === 0)
      this.opts.log.warn("outbox: the disk takes writes again; every pending event is durable");
  }

  private retryLater(): void {
    if (this.closed || this.retryTimer) return;
    const delay = (this.opts.retryDelay ?? defaultRetry)(this.failures++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, delay);
    this.retryTimer.unref();
  }

  /** The broker acknowledged `seq`: forget it, persist the marker, compact now and then. */
  ack(seq: number): void {
    const i = this.entries.findIndex((e) => e.seq === seq);
    if (i < 0) return;
    const [entry] = this.entries.splice(i, 1);
    const bytes = this.bytesOf.get(seq) ?? 0;
    this.bytesOf.delete(seq);
    this.unackedBytes -= bytes;
    if (entry!.written) this.ackedBytesInFile += bytes;
    this.ackedOutOfOrder.add(seq);
    // The marker only moves over a contiguous run: an earlier event still in flight must survive.
    const firstUnacked = this.entries[0]?.seq ?? this.waiting[0]?.event.seq ?? this.nextSeq;
    for (const s of [...this.ackedOutOfOrder].sort((a, b) => a - b)) {
      if (s >= firstUnacked) break;
      this.ackedSeq = Math.max(this.ackedSeq, s);
      this.ackedOutOfOrder.delete(s);
    }
    if (!this.closed) this.kick();
  }

  /** Waits for pending writes and acknowledgements to reach the disk (or fail). */
  async settle(): Promise<void> {
    while (this.working) await this.working;
  }

  async close(): Promise<void> {
    await this.settle();
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    // A clean stop records the exact last seq: the next start skips none.
    const last = this.nextSeq - 1;
    if (this.waiting.length === 0 && this.hw.found && this.hw.value > last) {
      await this.hw
        .set(last)
        .catch((err: unknown) => this.failed("close", "could not record the last seq", err));
    }
    for (const w of this.waiting.splice(0)) w.resolve(null);
    await this.fh?.close();
    this.fh = null;
  }
}
