/**
 * What every `cuffia` command shares: exit codes (contracts/cli-config-control.md), where the
 * config is, printing, loading a config with every problem listed.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ConfigError,
  formatProblem,
  type LoadedConfig,
  type LoadOptions,
  loadConfig,
} from "../config/load.js";

export const EXIT = { ok: 0, fatal: 1, usage: 64, unavailable: 69, config: 78 } as const;

/** A command's outcome when it prints through main.ts rather than by itself. */
export interface CliResult {
  readonly code: number;
  readonly stdout?: string;
  readonly stderr?: string;
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export function version(): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

export function configPath(flag: string | undefined): string {
  return flag ?? process.env["CUFFIA_CONFIG"] ?? "/etc/cuffia/config.yaml";
}

export function out(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}
export function err(text: string): void {
  process.stderr.write(text.endsWith("\n") ? text : `${text}\n`);
}

export function load(file: string, options: LoadOptions = {}): LoadedConfig | undefined {
  try {
    return loadConfig(file, options);
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) err(formatProblem(p));
      err(`${e.problems.length} problem(s) in ${file}`);
      return undefined;
    }
    throw e;
  }
}
