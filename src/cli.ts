#!/usr/bin/env -S node --max-semi-space-size=1 --v8-pool-size=1
// The installed `cuffia` command (package.json bin; /usr/bin/cuffia in the Debian package).
//
// The shebang sizes V8 for a small box: a 1 MB young generation (the daemon allocates little per
// call, and the default 16 MB semi-spaces are mostly headroom on a 512 MB-1 GB Pi) and one V8
// worker thread instead of one per core (a Pi 4 has four). Idle RSS 79 → 67 MB measured. It only
// applies when the file is executed (/usr/bin/cuffia, npx cuffia, the systemd unit);
// `node dist/cli.js` runs with V8's defaults.
import { main } from "./main.js";

// stdout and stderr are asynchronous when they are pipes: exit only once what was written is out
// (`cuffia check` on a file with thousands of problems otherwise loses the end of its report).
const flushed = (s: NodeJS.WriteStream): Promise<void> =>
  new Promise((resolve) => s.write("", () => resolve()));
const exit = (code: number): void => {
  void Promise.all([flushed(process.stdout), flushed(process.stderr)]).then(() => process.exit(code));
};

main(process.argv.slice(2)).then(exit, (e: unknown) => {
  process.stderr.write(`cuffia: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  exit(1);
});
