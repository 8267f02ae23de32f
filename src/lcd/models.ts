/**
 * Display models as data (device/lcds/*.yaml): geometry, protocol, default baud, character ROM.
 * The config names a model to get sensible defaults; everything is checked by one zod schema.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { LCD_CHARSETS, LCD_DRIVERS } from "./options.js";

export const lcdModelSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
    name: z.string().min(1),
    driver: z.enum(LCD_DRIVERS),
    cols: z.number().int().min(8).max(40),
    rows: z.number().int().min(1).max(4),
    baud: z.number().int().positive(),
    charset: z.enum(LCD_CHARSETS),
    /** Where glyph definitions are kept: "eeprom" boards must never see them rotated (§ 3, § 9). */
    glyphs: z.enum(["ram", "eeprom"]),
    usb: z
      .object({
        vendor_id: z.number().int().min(0).max(0xffff),
        product_id: z.number().int().min(0).max(0xffff),
      })
      .strict()
      .optional(),
    contrast_max: z.number().int().positive().optional(),
    notes: z.string().optional(),
  })
  .strict();

export type LcdModel = z.infer<typeof lcdModelSchema>;

/** Every model in a directory; throws with the file name and zod's issues on the first bad one. */
export function loadLcdModels(dir: string): LcdModel[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => {
      const result = lcdModelSchema.safeParse(parse(readFileSync(join(dir, f), "utf8")));
      if (!result.success)
        throw new Error(
          `${f}: ${result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
        );
      if (`${result.data.id}.yaml` !== f) throw new Error(`${f}: id must match the file name`);
      return result.data;
    });
}
