/**
 * HD44780 behind an instruction-escape backpack (reference/serial-lcd.md § 5; lcdproc
 * hd44780-serial): escape + instruction, data raw; 0-based DDRAM goto.
 */
import { type Chunk, hd44780Address, type InitOptions, type Protocol } from "./protocol.js";

const ESC = 0xfe;

export function hd44780SerialText(b: number): number {
  // The escape byte in text would start an instruction: lcdproc sends "?" instead (§ 6).
  if (b === ESC) return 0x3f;
  return b >= 0x08 && b < 0x20 ? 0x20 : b & 0xff;
}

export function hd44780Serial(cols: number): Protocol {
  return {
    gotoCost: 2,
    init(o: InitOptions): Chunk[] {
      const glyphs: number[] = [];
      o.glyphs.slice(0, 8).forEach((g, n) => {
        // Set CGRAM address (40 + 8n) then 8 data rows; the next goto moves back to DDRAM.
        glyphs.push(ESC, 0x40 + 8 * n, ...g.rows.slice(0, 8).map((r) => r & 0x1f));
      });
      return [
        // 8-bit, 2 lines, 5×8; display off (lcdproc common_init)
        { bytes: Buffer.from([ESC, 0x38, ESC, 0x08, ESC, 0x01]), waitMs: 2 }, // clear needs ≥ 1.6 ms
        { bytes: Buffer.from([ESC, 0x06, ESC, 0x02]), waitMs: 2 }, // entry mode increment; home ≥ 1.6 ms
        { bytes: Buffer.from([ESC, 0x0c, ...glyphs]) }, // display on, no cursor; glyphs
      ];
    },
    write(col, row, text): Chunk[] {
      return [
        {
          bytes: Buffer.from([
            ESC,
            0x80 | (hd44780Address(col, row, cols) & 0x7f),
            ...text.map(hd44780SerialText),
          ]),
        },
      ];
    },
  };
}
