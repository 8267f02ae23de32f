#!/usr/bin/env node
// The installed `cuffia` command (package.json bin; /usr/bin/cuffia in the Debian package).
import { main } from "./main.js";

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`cuffia: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
