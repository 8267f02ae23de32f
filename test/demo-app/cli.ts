#!/usr/bin/env node
// npm run demo: a whole desk on this machine (see the README, "Try it: the demo").
import { runDemo } from "./main.js";

runDemo(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stdout.write("\u001b[?25h");
    process.stderr.write(`cuffia demo: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
