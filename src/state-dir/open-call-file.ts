/**
 * The call that is open right now (state_dir/open-call.json), so that a daemon killed during a
 * call can end it at the next start (`call.ended` with `desk_restart`). Written atomically (temp
 * file, fsync, rename) when the call is offered or answered and every ALIVE_EVERY_MS during it
 * (its `aliveAt` bounds the call's times after a crash); removed when it ends. Writes run in the
 * background, in order, so the desk never waits on the disk; a failed write is logged and costs
 * only the restart's `call.ended`. Each write starts on the next turn of the event loop: the call
 * is offered and auto-answered in one turn, and the 200 OK leaves before the file work begins.
 */
import { readFileSync } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Call, OpenCallRecord } from "../core/types.js";
import type { Logger } from "../log/logger.js";

/** How often the record is refreshed during a call. */
export const ALIVE_EVERY_MS = 30_000;

export class OpenCallFile {
  readonly path: string;
  private chain: Promise<void> = Promise.resolve();
  /** `id answeredAt` of the record on disk (or being written); "" when none. */
  private key = "";
  private current: OpenCallRecord | null = null;
  private lastWrite = 0;
  /** state_dir exists (made by the first write; made again after a write that failed). */
  private dirMade = false;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {
    this.path = join(dir, "open-call.json");
  }

  /** The record the previous run left, or null (none, or unreadable: logged). */
  load(): OpenCallRecord | null {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch {
      return null;
    }
    try {
      const v = JSON.parse(text) as Partial<OpenCallRecord>;
      const num = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
      if (
        typeof v.id !== "string" ||
        (v.direction !== "inbound" && v.direction !== "outbound") ||
        !num(v.offeredAt) ||
        !(v.answeredAt === null || num(v.answeredAt)) ||
        !num(v.aliveAt)
      )
        throw new Error("missing fields");
      return {
        id: v.id,
        direction: v.direction,
        number: typeof v.number === "string" ? v.number : null,
        queue: typeof v.queue === "string" ? v.queue : null,
        offeredAt: v.offeredAt,
        answeredAt: v.answeredAt ?? null,
        aliveAt: v.aliveAt,
      };
    } catch (err) {
      this.log.warn({ err: String(err), file: this.path }, "open call record unreadable: ignored");
      return null;
    }
  }

  /** Follows the desk's call: written when it appears or is answered, removed when it ends. */
  track(call: Call | null, now: number): void {
    const key = call ? `${call.id} ${call.answeredAt}` : "";
    if (key === this.key) return;
    this.key = key;
    this.current = call && {
      id: call.id,
      direction: call.direction,
      number: call.number,
      queue: call.queue,
      offeredAt: call.offeredAt,
      answeredAt: call.answeredAt,
      aliveAt: now,
    };
    this.write(this.current, now);
  }

  /** Called now and then (each second): refreshes `aliveAt` every ALIVE_EVERY_MS during a call. */
  touch(now: number): void {
    if (this.current && now - this.lastWrite >= ALIVE_EVERY_MS) {
      this.current = { ...this.current, aliveAt: now };
      this.write(this.current, now);
    }
  }

  /** Removes the record (the previous run's call has been ended). */
  clear(): void {
    this.key = "";
    this.current = null;
    this.write(null, 0);
  }

  /** Resolves once every write asked so far is done. */
  flush(): Promise<void> {
    return this.chain;
  }

  private write(rec: OpenCallRecord | null, now: number): void {
    this.lastWrite = now;
    this.chain = this.chain.then(nextTurn).then(async () => {
      try {
        if (rec === null) {
          await rm(this.path, { force: true });
          return;
        }
        if (!this.dirMade) await mkdir(this.dir, { recursive: true });
        this.dirMade = true;
        const tmp = `${this.path}.tmp`;
        const fh = await open(tmp, "w", 0o640);
        try {
          const data = Buffer.from(`${JSON.stringify(rec)}\n`);
          let done = 0;
          while (done < data.byteLength) {
            const { bytesWritten } = await fh.write(data, done, data.byteLength - done, done);
            if (bytesWritten <= 0) throw new Error("short write (disk full?)");
            done += bytesWritten;
          }
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(tmp, this.path);
      } catch (err) {
        this.dirMade = false;
        this.log.error(
          { err: String(err), file: this.path },
          "could not record the open call: a crash now would leave it without its call.ended",
        );
      }
    });
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
