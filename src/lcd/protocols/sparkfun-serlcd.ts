/**
 * SparkFun SerLCD / OpenLCD (reference/serial-lcd.md § 3). 7C = setting (stored in EEPROM with
 * EEPROM.update, so resending the same value is free), FE = raw HD44780 instruction.
 */
import { type Chunk, clampByte, type InitOptions, type Protocol } from "./protocol.js";

const SETTING = 0x7c;
const RAW = 0xfe;
/** The firmware decodes goto with the 20-column row map whatever the width (§ 3). */
const ROW_START = [0x00, 0x40, 0x14, 0x54];

/** Text bytes: 7C is doubled for a literal bar; FE, 08 and the other controls become a space. */
export function sparkfunText(b: number): number[] {
  if (b === SETTING) return [SETTING, SETTING];
  if (b === RAW || (b >= 0x08 && b < 0x20)) return [0x20];
  return [b & 0xff];
}

export function sparkfunSerlcd(): Protocol {
  return {
    gotoCost: 2,
    init(o: InitOptions): Chunk[] {
      const bytes: number[] = [SETTING, 0x2f]; // system messages off, else each setting blanks the screen 500 ms
      // Glyphs live in EEPROM and the firmware re-initialises the LCD after each: define them
      // once, before the clear and before any text; the same bitmap again costs no write.
      o.glyphs.slice(0, 8).forEach((g, n) => {
        bytes.push(SETTING, 0x1b + n, ...g.rows.slice(0, 8).map((r) => r & 0x1f));
      });
      if (o.contrast !== undefined) bytes.push(SETTING, 0x18, clampByte(o.contrast));
      if (o.backlight?.rgb) bytes.push(SETTING, 0x2b, ...o.backlight.rgb.map((c) => clampByte(c)));
      else if (o.backlight?.level !== undefined) {
        const l = clampByte(o.backlight.level);
        bytes.push(SETTING, 0x2b, l, l, l);
      }
      bytes.push(RAW, 0x0c, SETTING, 0x2d); // display on without cursor; clear (also the firmware's copy)
      return [{ bytes: Buffer.from(bytes) }];
    },
    write(col, row, text): Chunk[] {
      const addr = (ROW_START[row] ?? 0) + col;
      return [{ bytes: Buffer.from([RAW, 0x80 | (addr & 0x7f), ...text.flatMap(sparkfunText)]) }];
    },
  };
}
