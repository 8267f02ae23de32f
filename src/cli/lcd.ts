/** `cuffia lcd preview [--size 20x4] [--language it] …`: what the LCD shows in each situation. */
import { parseArgs } from "node:util";
import type { CliResult } from "./io.js";

export async function lcdCommand(args: string[]): Promise<CliResult> {
  const [sub, ...rest] = args;
  if (sub !== "preview")
    return {
      code: 64,
      stderr: "usage: cuffia lcd preview [--size 20x4] [--language it] [--charset a02] [--situation NAME]\n",
    };
  const { values } = parseArgs({
    args: rest,
    options: {
      size: { type: "string" },
      language: { type: "string" },
      charset: { type: "string" },
      situation: { type: "string" },
      gallery: { type: "boolean" },
    },
  });
  const { lcdGallery, lcdPreview } = await import("../lcd/preview.js");
  if (values.gallery) return { code: 0, stdout: lcdGallery() };
  const r = lcdPreview({
    size: values.size ?? "20x4",
    language: values.language ?? "it",
    ...(values.charset !== undefined ? { charset: values.charset } : {}),
    ...(values.situation !== undefined ? { situation: values.situation } : {}),
  });
  return r.code === 0 ? { code: 0, stdout: r.stdout } : { code: r.code, stderr: r.stdout };
}
