#!/usr/bin/env -S node --max-semi-space-size=1
// The installed `cuffia` command (package.json bin; /usr/bin/cuffia in the Debian package).
//
// The shebang gives V8 a small young generation: the daemon allocates little per call (RTP
// frames, SIP messages) and runs on boxes with 512 MB-1 GB, where the default 16 MB semi-spaces
// are mostly headroom (idle RSS 79 → 70 MB measured). It only applies when the file is executed
// (/usr/bin/cuffia, npx cuffia, the systemd unit); `node dist/cli.js` runs with V8's defaults.
import { main } from "./main.js";

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`cuffia: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
