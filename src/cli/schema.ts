/** `cuffia schema [--markdown]`: the config's JSON Schema, or the README's reference table. */
import { configReference } from "../config/reference.js";
import { jsonSchema } from "../config/schema.js";
import type { CliResult } from "./io.js";

export async function schemaCommand(args: string[]): Promise<CliResult> {
  const text = args.includes("--markdown") ? configReference() : JSON.stringify(jsonSchema(), null, 2);
  return { code: 0, stdout: text.endsWith("\n") ? text : `${text}\n` };
}
