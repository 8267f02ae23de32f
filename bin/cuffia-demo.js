#!/usr/bin/env node
// npm run demo: a whole desk on this machine (see the README, "Try it: the demo").
// Runs the compiled demo; npm ci builds dist/ (the prepare script).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const entry = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "demo", "main.js");
if (!existsSync(entry)) {
  process.stderr.write("cuffia demo: dist/ has no demo yet: run npm run build (npm ci does it too)\n");
  process.exit(1);
}
const { runDemo } = await import(pathToFileURL(entry).href);
runDemo(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stdout.write("\u001b[?25h");
    process.stderr.write(`cuffia demo: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
