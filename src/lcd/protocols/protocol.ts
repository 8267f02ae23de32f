/** What every display protocol encoder provides (pure: bytes out, no I/O). */
import type { LcdBacklight } from "../options.js";

/** One unit on the wire. Crystalfontz units are packets that wait for their reply (§ 4). */
export interface Chunk {
  readonly bytes: Buffer;
  /** Milliseconds the controller needs before the next byte (HD44780 clear/home: 1.6 ms, § 5). */
  readonly waitMs?: number;
  /** Packet type of the reply to wait for (Crystalfontz: 0x40 | command). */
  readonly reply?: number;
}

export interface InitOptions {
  readonly backlight?: LcdBacklight;
  readonly contrast?: number;
  /** CGRAM glyphs, slot n = glyphs[n] (charset.ts). */
  readonly glyphs: readonly { readonly rows: readonly number[] }[];
}

export interface Protocol {
  /**
   * Clear once, set up, upload glyphs. Backlight, colour and contrast only when configured, and
   * only here: never on a state change (EEPROM wear, § 9).
   */
  init(options: InitOptions): Chunk[];
  /** One goto and one write of `bytes` (already ROM codes) at 0-based `col`, `row`. */
  write(col: number, row: number, bytes: readonly number[]): Chunk[];
  /** Bytes a goto costs, so the diff can decide whether to merge two runs. */
  readonly gotoCost: number;
}

export const clampByte = (n: number | undefined, max = 255): number =>
  Math.max(0, Math.min(max, Math.round(Number.isFinite(n) ? (n as number) : 0)));

/** HD44780 DDRAM address of a cell (HD44780_position in lcdproc; § 5). */
export function hd44780Address(col: number, row: number, cols: number): number {
  return col + (row % 2 === 1 ? 0x40 : 0) + (row >= 2 ? cols : 0);
}
