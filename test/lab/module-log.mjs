/**
 * `node --import ./test/lab/module-log.mjs ...` with MODULE_LOG=FILE: every ES module the process
 * loads is appended to FILE, one URL a line (from the loader hooks' thread); on SIGUSR2 the
 * CommonJS modules loaded so far (require's cache) follow, then Node's own modules loaded so far
 * (`builtin:` and their process.moduleLoadList name), then a line `--`. How a test sees what a
 * started daemon holds in memory (test/integration/start-modules.test.ts).
 */
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";
import { isMainThread } from "node:worker_threads";

const file = process.env.MODULE_LOG;

if (isMainThread && file) {
  register(import.meta.url);
  process.on("SIGUSR2", () => {
    const cache = createRequire(import.meta.url).cache;
    const cjs = Object.keys(cache).map((p) => `file://${p}\n`);
    const builtins = process.moduleLoadList.map((m) => `builtin:${m}\n`);
    appendFileSync(file, `${cjs.join("")}${builtins.join("")}--\n`);
  });
}

/** The loader hook: records the module, changes nothing. */
export async function load(url, context, next) {
  if (file) appendFileSync(file, `${url}\n`);
  return next(url, context);
}
