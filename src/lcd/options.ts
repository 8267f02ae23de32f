/**
 * What the LCD side needs from the config (`lcd:` in contracts/cli-config-control.md), already
 * validated by the config schema. `size: 20x4` arrives here as `cols`/`rows`.
 */
import { everyKeyRead } from "../config/every-key-read.js";
import type { Config } from "../config/schema.js";

export const LCD_DRIVERS = [
  "matrix-orbital",
  "sparkfun-serlcd",
  "crystalfontz",
  "hd44780-serial",
  "terminal",
] as const;
export type LcdDriver = (typeof LCD_DRIVERS)[number];

/** Character ROMs (reference/serial-lcd.md § 8): HD44780 A00 (Japanese), A02 (European), KS0073 on CFA-631/635. */
export const LCD_CHARSETS = ["a00", "a02", "crystalfontz"] as const;
export type LcdCharset = (typeof LCD_CHARSETS)[number];

export const LCD_LANGUAGES = ["it", "en", "fr", "es"] as const;
export type LcdLanguage = (typeof LCD_LANGUAGES)[number];

export interface LcdBacklight {
  /** Brightness 0–255 (0 = off). Sent once at init, never on state changes (EEPROM wear, § 9). */
  readonly level?: number;
  /** RGB colour for Adafruit / SparkFun RGB boards; sent once at init only. */
  readonly rgb?: readonly [number, number, number];
}

export interface LcdOptions {
  /** Serial device (`/dev/lcd`); for the terminal driver "-" or "stdout" means the injected stream. */
  readonly port: string;
  readonly driver: LcdDriver;
  readonly baud: number;
  readonly cols: number;
  readonly rows: number;
  readonly charset: LcdCharset;
  readonly language: LcdLanguage;
  /** Absent = leave the display as it is (no init command that could write EEPROM). */
  readonly backlight?: LcdBacklight;
  /** Raw device value (MO 0–255, CFA-533/633 0–50, SparkFun 0–255); absent = untouched. */
  readonly contrast?: number;
  /** Full repaint every N seconds for panels that drift (§ 7); 0 or absent = only after (re)open. */
  readonly refreshSeconds?: number;
  /** Model id from device/lcds/*.yaml (informational; geometry and protocol come from the fields above). */
  readonly model?: string;
  /** Terminal driver: where the box's top-left corner goes (1-based row/column). Default 1,1. */
  readonly terminalOrigin?: { readonly row: number; readonly col: number };
}

/** "20x4" → { cols: 20, rows: 4 }; null when malformed or outside 8–40 × 1–4. */
export function parseSize(size: string): { cols: number; rows: number } | null {
  const m = /^\s*(\d{1,2})\s*[xX×]\s*(\d)\s*$/.exec(size);
  if (!m) return null;
  const cols = Number(m[1]);
  const rows = Number(m[2]);
  if (cols < 8 || cols > 40 || rows < 1 || rows > 4) return null;
  return { cols, rows };
}

/**
 * The `lcd:` section as the LCD side takes it (with the agent's language); undefined without one.
 * Throws on a size that is not a geometry (the schema already refuses one).
 */
export function lcdOptionsFromConfig(config: Config): LcdOptions | undefined {
  if (!config.lcd) return undefined;
  const { port, driver, model, baud, size, charset, backlight, contrast, refresh_seconds, ...rest } =
    config.lcd;
  everyKeyRead(rest);
  const geometry = parseSize(size);
  if (!geometry) throw new Error(`lcd.size ${size} is not a geometry`);
  return {
    port,
    driver,
    baud,
    cols: geometry.cols,
    rows: geometry.rows,
    charset,
    language: config.agent.language,
    ...(backlight !== undefined ? { backlight: { level: backlight } } : {}),
    ...(contrast !== undefined ? { contrast } : {}),
    ...(refresh_seconds > 0 ? { refreshSeconds: refresh_seconds } : {}),
    ...(model !== undefined ? { model } : {}),
  };
}
