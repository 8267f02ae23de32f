/**
 * Matrix Orbital LK/VK command set, also spoken by the Adafruit USB/serial backpack and SURE boards
 * (reference/serial-lcd.md § 2). Commands are FE + command byte; goto is 1-based.
 */
import { type Chunk, clampByte, type InitOptions, type Protocol } from "./protocol.js";

const CMD = 0xfe;

/** FE starts a command; the Adafruit firmware also acts on 08, 0A, 0D: all become a space (§ 6). */
export function matrixOrbitalText(b: number): number {
  return b === 0xfe || (b >= 0x08 && b < 0x20) ? 0x20 : b & 0xff;
}

export function matrixOrbital(): Protocol {
  return {
    gotoCost: 4,
    init(o: InitOptions): Chunk[] {
      const bytes: number[] = [
        ...[CMD, 0x58], // clear: the only hardware clear we ever send
        ...[CMD, 0x52], // autoscroll off: writing the last cell must not scroll the panel
        ...[CMD, 0x54], // block cursor off
        ...[CMD, 0x4b], // underline cursor off
      ];
      // Backlight on (FE 42 00) is not stored; level, colour and contrast are (Adafruit saves on change).
      if (o.backlight?.level === 0) bytes.push(CMD, 0x46);
      else if (o.backlight) bytes.push(CMD, 0x42, 0x00);
      if (o.backlight?.level !== undefined && o.backlight.level > 0)
        bytes.push(CMD, 0x99, clampByte(o.backlight.level));
      if (o.backlight?.rgb) bytes.push(CMD, 0xd0, ...o.backlight.rgb.map((c) => clampByte(c)));
      if (o.contrast !== undefined) bytes.push(CMD, 0x50, clampByte(o.contrast));
      // RAM glyphs (FE 4E); never FE C1, which saves a bank to EEPROM.
      o.glyphs.slice(0, 8).forEach((g, n) => {
        bytes.push(CMD, 0x4e, n, ...g.rows.slice(0, 8).map((r) => r & 0x1f));
      });
      return [{ bytes: Buffer.from(bytes) }];
    },
    write(col, row, text): Chunk[] {
      return [{ bytes: Buffer.from([CMD, 0x47, col + 1, row + 1, ...text.map(matrixOrbitalText)]) }];
    },
  };
}
