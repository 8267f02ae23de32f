/**
 * The durable event outbox: every desk event is on disk (fsync'd) before it is published, and
 * leaves only when the broker acknowledged it, so neither a broker outage nor a power cut loses
 * one, and a restart neither duplicates acknowledged ones nor reuses a `seq`.
 *
 * Two files in the state dir, both crash-safe without a store library:
 * - `outbox.jsonl`: append-only, one event per line, written with a group-committed datasync.
 *   A power cut can tear only the last line; it is dropped on open (it was never durable, so
 *   never published).
 * - `outbox.acked`: `{"seq":N,"last":M}`, N the highest seq acknowledged with all before it,
 *   M the highest seq handed out when it was written; replaced by write-to-temp, fsync,
 *   rename, fsync(dir), so it is always the old or the new value.
 * Acknowledged lines are dropped by compaction: the unacknowledged tail is written to a temp
 * file and renamed over the log. A crash at any point leaves lines with seq ≤ N, which open()
 * skips. The next seq is max(N, M, last seq in the log) + 1, so no seq is reused even after a
 * compaction emptied the log.
 *
 * The cap (`maxBytes`) counts unacknowledged bytes: past it new events are dropped with a
 * warning rather than filling the SD card during a very long outage; compaction keeps the file
 * under 1.25 × the cap.
 */
import { randomUUID } from "node:crypto";
import { type FileHandle, mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import type { DeskEvent } from "../core/types.js";
import type { Logger } from "../log/logger.js";

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
}

const LOG_FILE = "outbox.jsonl";
const ACK_FILE = "outbox.acked";

interface Waiting {
  readonly event: StoredEvent;
  readonly bytes: number;
  readonly resolve: (e: StoredEvent | null) => void;
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeAtomically(dir: string, name: string, data: string): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
  await fsyncDir(dir);
}

export class Outbox {
  /** Durable, not yet acknowledged, in seq order. */
  private readonly durable: StoredEvent[] = [];
  private readonly bytesOf = new Map<number, number>();
  private readonly ackedOutOfOrder = new Set<number>();
  private waiting: Waiting[] = [];
  private working: Promise<void> | null = null;
  /** Bytes of unacknowledged events (durable or being written): what the cap limits. */
  private unackedBytes = 0;
  /** Bytes in the log file that belong to acknowledged events. */
  private ackedBytesInFile = 0;
  private dropped = 0;
  private closed = false;

  private constructor(
    private readonly opts: OutboxOptions,
    private fh: FileHandle,
    private nextSeq: number,
    private ackedSeq: number,
    private persistedAck: number,
  ) {}

  static async open(opts: OutboxOptions): Promise<Outbox> {
    await mkdir(opts.dir, { recursive: true });
    const log = opts.log;
    let acked = 0;
    let lastSeq = 0;
    try {
      const marker: unknown = JSON.parse(await readFile(join(opts.dir, ACK_FILE), "utf8"));
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
      text = await readFile(join(opts.dir, LOG_FILE), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const kept: StoredEvent[] = [];
    let maxSeq = Math.max(acked, lastSeq);
    let torn = 0;
    for (const line of text.split("\n")) {
      if (line.length === 0) continue;
      let rec: { seq?: unknown; id?: unknown };
      try {
        rec = JSON.parse(line) as { seq?: unknown; id?: unknown };
      } catch {
        torn++;
        continue;
      }
      if (typeof rec.seq !== "number" || typeof rec.id !== "string") {
        torn++;
        continue;
      }
      maxSeq = Math.max(maxSeq, rec.seq);
      if (rec.seq > acked && (kept.length === 0 || rec.seq > kept[kept.length - 1]!.seq)) {
        kept.push({ seq: rec.seq, id: rec.id, payload: line });
      }
    }
    if (torn > 0)
      log.warn({ lines: torn }, "outbox: dropped torn or unreadable lines (written during a power cut)");
    // Start from a clean file: no torn tail to append after, no acknowledged lines.
    await writeAtomically(opts.dir, LOG_FILE, kept.map((e) => e.payload + "\n").join(""));
    const fh = await open(join(opts.dir, LOG_FILE), "a");
    const box = new Outbox(opts, fh, maxSeq + 1, acked, acked);
    for (const e of kept) {
      box.durable.push(e);
      const bytes = Buffer.byteLength(e.payload) + 1;
      box.bytesOf.set(e.seq, bytes);
      box.unackedBytes += bytes;
    }
    if (kept.length > 0) log.info({ backlog: kept.length, from: kept[0]!.seq }, "outbox: backlog to publish");
    return box;
  }

  /** Durable, unacknowledged events in seq order (the publisher walks this). */
  unacked(): readonly StoredEvent[] {
    return this.durable;
  }

  get size(): { readonly events: number; readonly bytes: number; readonly dropped: number } {
    return {
      events: this.durable.length + this.waiting.length,
      bytes: this.unackedBytes,
      dropped: this.dropped,
    };
  }

  /**
   * Stamps the event (v, id, seq, ts) and makes it durable. Resolves with the stored event once
   * fsync'd, or null when it was dropped (cap reached, disk error, closed).
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
   * The only writer of both files, so a compaction can never race an append. Group commit:
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
        await this.writeBatch();
      } else if (this.ackedSeq > this.persistedAck) {
        await this.guard("could not record acknowledgement", async () => {
          const target = this.ackedSeq;
          const marker = { seq: target, last: this.nextSeq - 1 };
          await writeAtomically(this.opts.dir, ACK_FILE, JSON.stringify(marker) + "\n");
          this.persistedAck = target;
        });
      } else if (this.ackedBytesInFile >= Math.min(64 * 1024, this.opts.maxBytes / 4)) {
        await this.guard("compaction failed", () => this.compact());
      } else {
        return;
      }
    }
  }

  private async guard(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.opts.log.error({ err: String(err) }, `outbox: ${what}`);
      // Do not spin on a broken disk: the next append or ack tries again.
      this.persistedAck = this.ackedSeq;
      this.ackedBytesInFile = 0;
    }
  }

  private async writeBatch(): Promise<void> {
    const batch = this.waiting;
    this.waiting = [];
    try {
      await this.fh.write(batch.map((w) => w.event.payload + "\n").join(""));
      await this.fh.datasync();
      for (const w of batch) {
        this.durable.push(w.event);
        this.bytesOf.set(w.event.seq, w.bytes);
        w.resolve(w.event);
      }
    } catch (err) {
      // The seqs stay consumed: a partly written batch may be on disk and must not be reused.
      for (const w of batch) {
        this.unackedBytes -= w.bytes;
        w.resolve(null);
      }
      this.opts.log.error({ err: String(err), events: batch.length }, "outbox: write failed, events dropped");
    }
  }

  /** The broker acknowledged `seq`: forget it, persist the marker, compact now and then. */
  ack(seq: number): void {
    const i = this.durable.findIndex((e) => e.seq === seq);
    if (i < 0) return;
    this.durable.splice(i, 1);
    const bytes = this.bytesOf.get(seq) ?? 0;
    this.bytesOf.delete(seq);
    this.unackedBytes -= bytes;
    this.ackedBytesInFile += bytes;
    this.ackedOutOfOrder.add(seq);
    // The marker only moves over a contiguous run: an earlier event still in flight must survive.
    const firstUnacked = this.durable[0]?.seq ?? this.waiting[0]?.event.seq ?? this.nextSeq;
    for (const s of [...this.ackedOutOfOrder].sort((a, b) => a - b)) {
      if (s >= firstUnacked) break;
      this.ackedSeq = Math.max(this.ackedSeq, s);
      this.ackedOutOfOrder.delete(s);
    }
    if (!this.closed) this.kick();
  }

  /** Rewrites the log with only the unacknowledged lines (temp file + rename). */
  private async compact(): Promise<void> {
    const tail = this.durable.filter((e) => e.seq > this.persistedAck);
    await writeAtomically(this.opts.dir, LOG_FILE, tail.map((e) => e.payload + "\n").join(""));
    await this.fh.close();
    this.fh = await open(join(this.opts.dir, LOG_FILE), "a");
    this.ackedBytesInFile = 0;
  }

  /** Waits for pending writes and acknowledgements to reach the disk. */
  async settle(): Promise<void> {
    while (this.working) await this.working;
  }

  async close(): Promise<void> {
    await this.settle();
    this.closed = true;
    await this.fh.close();
  }
}
