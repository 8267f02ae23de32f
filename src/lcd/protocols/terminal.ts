/**
 * A character LCD drawn in a terminal with ANSI cursor addressing (ECMA-48 CUP, ESC [ row ; col H),
 * for the demo and development. Text bytes are ROM codes; they are shown as what the real panel
 * would show (the charset's decode), so accents missing from an A00 ROM are missing here too.
 */
import type { Charset } from "../charset.js";
import type { Chunk, InitOptions, Protocol } from "./protocol.js";

const goto = (row: number, col: number) => `\u001b[${row};${col}H`;

export function terminal(
  cols: number,
  rows: number,
  charset: Charset,
  origin: { row: number; col: number } = { row: 1, col: 1 },
): Protocol {
  const r0 = Math.max(1, Math.floor(origin.row));
  const c0 = Math.max(1, Math.floor(origin.col));
  return {
    gotoCost: 6,
    init(_o: InitOptions): Chunk[] {
      let s = goto(r0, c0) + "┌" + "─".repeat(cols) + "┐";
      for (let r = 0; r < rows; r++) s += goto(r0 + 1 + r, c0) + "│" + " ".repeat(cols) + "│";
      s += goto(r0 + 1 + rows, c0) + "└" + "─".repeat(cols) + "┘";
      return [{ bytes: Buffer.from(s, "utf8") }];
    },
    write(col, row, text): Chunk[] {
      const s = goto(r0 + 1 + row, c0 + 1 + col) + text.map((b) => charset.decode(b)).join("");
      return [{ bytes: Buffer.from(s, "utf8") }];
    },
  };
}
