/**
 * A call's sound card xruns as health sees them: the call's underrun and overrun counts, and how
 * many of them came in the last minute. Consulted from the packet clock (every half second or
 * so); says when the figures changed, so the desk hears of them only then (a minute after the
 * last xrun, once more: the last minute is clean again).
 */
import type { AudioXruns } from "../core/types.js";

/** The window health looks back over, ms. */
export const XRUN_WINDOW_MS = 60_000;

export class XrunWindow {
  /** (time, total xruns) when the total last changed, oldest first, within the window. */
  private readonly marks: Array<{ readonly at: number; readonly total: number }> = [];
  private last: AudioXruns | null = null;

  constructor(private readonly callId: string) {}

  /** The call's counts now; the figures to report if they changed, else null. */
  update(now: number, underruns: number, overruns: number): AudioXruns | null {
    const total = underruns + overruns;
    const newest = this.marks.at(-1);
    if (!newest || newest.total !== total) this.marks.push({ at: now, total });
    // The total a minute ago: the last mark at or before the window's start (the counts only grow).
    while (this.marks.length > 1 && (this.marks[1]?.at ?? now) <= now - XRUN_WINDOW_MS) this.marks.shift();
    const first = this.marks[0];
    // No mark that old: the call is younger than the window, and its counts began at 0.
    const before = first && first.at <= now - XRUN_WINDOW_MS ? first.total : 0;
    const x: AudioXruns = { callId: this.callId, underruns, overruns, lastMinute: total - before };
    const l = this.last;
    if (l && l.underruns === x.underruns && l.overruns === x.overruns && l.lastMinute === x.lastMinute)
      return null;
    this.last = x;
    return x;
  }

  /** Whether anything was reported (the card's closing is then reported too). */
  get reported(): boolean {
    return this.last !== null;
  }
}
