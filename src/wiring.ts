/**
 * Where each side's construction from the config lives, and the CLI commands a side brings
 * (`headset inspect`, `lcd preview`, `devices`, `doctor`). main.ts and app.ts stay free of
 * side-specific code.
 */
import { sideFactories } from "./app.js";

export interface CliResult {
  readonly code: number;
  readonly stdout?: string;
  readonly stderr?: string;
}

export const cliCommands: Record<string, (args: string[]) => Promise<CliResult>> = {};

void sideFactories;
