/**
 * Frame buffer and backing store (reference/serial-lcd.md § 7, after lcdproc's flush functions):
 * the backing store is what the panel shows; a flush sends only the cells that differ, as runs of
 * one goto + one write. Two changed spans on a row are merged when rewriting the unchanged cells
 * between them costs no more than a second goto.
 */

export interface Run {
  readonly row: number;
  readonly col: number;
  readonly bytes: readonly number[];
}

/** Runs that turn `shown` into `next` (`shown` null = unknown: everything is written). */
export function diffRuns(
  shown: readonly (readonly number[])[] | null,
  next: readonly (readonly number[])[],
  gotoCost: number,
): Run[] {
  const runs: Run[] = [];
  next.forEach((line, row) => {
    const old = shown?.[row];
    let start = -1;
    let end = -1;
    const flush = () => {
      if (start >= 0) runs.push({ row, col: start, bytes: line.slice(start, end + 1) });
      start = -1;
    };
    for (let col = 0; col < line.length; col++) {
      if (old !== undefined && old[col] === line[col]) continue;
      // Unchanged gap since the last changed cell: merge when writing it is cheaper than a goto.
      if (start >= 0 && col - end - 1 > gotoCost) flush();
      if (start < 0) start = col;
      end = col;
    }
    flush();
  });
  return runs;
}

export class FrameBuffer {
  #shown: number[][] | null = null;

  /** Forget what the panel shows (after a (re)open or for the periodic repaint): next diff is full. */
  invalidate(): void {
    this.#shown = null;
  }

  get valid(): boolean {
    return this.#shown !== null;
  }

  diff(next: readonly (readonly number[])[], gotoCost: number): Run[] {
    return diffRuns(this.#shown, next, gotoCost);
  }

  commit(next: readonly (readonly number[])[]): void {
    this.#shown = next.map((l) => [...l]);
  }
}
