/**
 * `cuffia lcd preview`: every screen (or one situation) for sample states as text boxes, shown
 * through the chosen character ROM, i.e. what the panel would really show (an A00 panel without a
 * free glyph shows "e" for "é").
 */

import { createCharset } from "./charset.js";
import { LCD_CHARSETS, LCD_LANGUAGES, type LcdCharset, type LcdLanguage, parseSize } from "./options.js";
import { screen } from "./screens.js";
import { SAMPLE_NOW, SITUATIONS, type Situation, sampleState } from "./situations.js";

/** A framed box of the lines, as a person reads them on the panel. */
export function box(lines: readonly string[], cols: number): string {
  const edge = "+" + "-".repeat(cols) + "+";
  return [edge, ...lines.map((l) => "|" + l + "|"), edge].join("\n");
}

/** The lines as the ROM shows them: encode each cell, then read the byte back. */
export function asShown(lines: readonly string[], charset: LcdCharset, language: LcdLanguage): string[] {
  const cs = createCharset(charset, language);
  return lines.map((l) =>
    cs
      .encodeRow(l)
      .map((b) => cs.decode(b))
      .join(""),
  );
}

export function lcdPreview(args: { size: string; language: string; charset?: string; situation?: string }): {
  code: number;
  stdout: string;
} {
  const size = parseSize(args.size);
  if (!size)
    return { code: 2, stdout: `invalid size "${args.size}": expected COLSxROWS, e.g. 16x2, 20x2, 20x4\n` };
  if (!(LCD_LANGUAGES as readonly string[]).includes(args.language)) {
    return {
      code: 2,
      stdout: `invalid language "${args.language}": expected one of ${LCD_LANGUAGES.join(", ")}\n`,
    };
  }
  const charset = args.charset ?? "a02";
  if (!(LCD_CHARSETS as readonly string[]).includes(charset)) {
    return { code: 2, stdout: `invalid charset "${charset}": expected one of ${LCD_CHARSETS.join(", ")}\n` };
  }
  if (args.situation !== undefined && !(SITUATIONS as readonly string[]).includes(args.situation)) {
    return {
      code: 2,
      stdout: `unknown situation "${args.situation}": expected one of ${SITUATIONS.join(", ")}\n`,
    };
  }
  const language = args.language as LcdLanguage;
  const list = args.situation ? [args.situation as Situation] : [...SITUATIONS];
  const out = list.map((s) => {
    const lines = screen(sampleState(s), { language, ...size, now: SAMPLE_NOW, agentName: "Sportello 17" });
    return `${s}\n${box(asShown(lines, charset as LcdCharset, language), size.cols)}`;
  });
  return { code: 0, stdout: out.join("\n\n") + "\n" };
}

/**
 * Every situation side by side (Italian and English, 20x4 and 16x2, A02 ROM): the README's
 * "What the LCD shows" gallery, which a test keeps identical to this output.
 */
export function lcdGallery(): string {
  const columns: Array<{ language: LcdLanguage; cols: number; rows: number }> = [
    { language: "it", cols: 20, rows: 4 },
    { language: "en", cols: 20, rows: 4 },
    { language: "it", cols: 16, rows: 2 },
    { language: "en", cols: 16, rows: 2 },
  ];
  return SITUATIONS.map((s) => {
    const boxes = columns.map((c) => {
      const lines = screen(sampleState(s), { ...c, now: SAMPLE_NOW, agentName: "Sportello 17" });
      return box(asShown(lines, "a02", c.language), c.cols).split("\n");
    });
    const height = Math.max(...boxes.map((b) => b.length));
    const rows: string[] = [];
    for (let i = 0; i < height; i++) {
      rows.push(
        boxes
          .map((b, j) => (b[i] ?? "").padEnd((columns[j]?.cols ?? 0) + 2))
          .join("  ")
          .trimEnd(),
      );
    }
    return `#### ${s}\n\n\`\`\`text\n${rows.join("\n")}\n\`\`\`\n`;
  }).join("\n");
}
