#!/usr/bin/env node
// The installed command: runs the compiled daemon (npm run build puts it in dist/).
import { main } from "../dist/main.js";

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`cuffia: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
