/**
 * The desk's `seq` (the presence document's) never goes back, across restarts and crashes alike,
 * and stays a small number a switchboard can keep in a 32-bit integer for years.
 *
 * Seqs are reserved ahead in `state_dir/desk.seq` (a HighWaterFile: overwritten in place, so it
 * still works on a full disk): a run starts at the reserved mark of the run before, and moves the
 * mark a block further whenever its seq comes within half a block of it. The mark is always a seq
 * no run has used. A crash therefore skips at most one block; a clean stop records the seq right
 * after its last one, so a restart leaves no gap.
 */
import { join } from "node:path";
import type { Logger } from "../log/logger.js";
import { HighWaterFile, nodeStoreFs, type StoreFs } from "./high-water.js";

export const SEQ_BLOCK = 10_000;

export class SeqReserve {
  private reserved: number;
  private writing: Promise<void> | null = null;
  private highest = 0;
  /** The last write failed: not retried in a loop; the next change tries again. */
  private failed = false;
  private warned = false;

  private constructor(
    private readonly file: HighWaterFile | null,
    /** Where this run's seq starts: above every seq an earlier run may have published. */
    readonly start: number,
    private readonly log: Logger,
  ) {
    this.reserved = start;
  }

  /** Reads the mark and reserves the first block; a disk that refuses is logged, never fatal. */
  static async open(dir: string, log: Logger, fs: StoreFs = nodeStoreFs): Promise<SeqReserve> {
    let file: HighWaterFile | null = null;
    try {
      await fs.mkdir(dir);
      file = await HighWaterFile.open(join(dir, "desk.seq"), fs);
    } catch (err) {
      log.warn({ err: String(err) }, "cannot read desk.seq: the presence seq starts from 0");
    }
    const reserve = new SeqReserve(file, file?.value ?? 0, log);
    await reserve.extend(reserve.start + SEQ_BLOCK);
    return reserve;
  }

  /** The desk's seq moved to `seq`: reserve the next block ahead of it when it gets near. */
  follow(seq: number): void {
    if (seq > this.highest) this.highest = seq;
    if (this.writing || this.highest < this.reserved - SEQ_BLOCK / 2) return;
    // Half a block of margin: the desk would need thousands of changes during one datasync to
    // publish a seq not yet reserved. Whatever came during a write is looked at right after it.
    this.writing = this.extend(this.highest + SEQ_BLOCK).finally(() => {
      this.writing = null;
      if (!this.failed) this.follow(this.highest);
    });
  }

  /** A clean stop at `seq`: the next run starts right after it. */
  async close(seq: number): Promise<void> {
    await this.writing;
    if (seq >= this.start) await this.extend(seq + 1, true);
  }

  private async extend(mark: number, exact = false): Promise<void> {
    if (!this.file) return;
    try {
      await this.file.set(mark);
      this.reserved = mark;
      this.failed = false;
    } catch (err) {
      this.failed = true;
      if (exact || this.warned) return;
      this.warned = true;
      this.log.warn(
        { err: String(err) },
        "cannot write desk.seq: after a crash the presence seq may repeat numbers",
      );
    }
  }
}
