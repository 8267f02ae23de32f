#!/usr/bin/env node
// The npm registry this project's machines reach carries only the Linux builds of some
// platform-specific optional packages (biome's CLI). `npm install` then leaves the others out of
// package-lock.json, and `npm ci` refuses a lock that does not list every optional dependency.
// This adds the missing ones as optional entries with their os/cpu/libc, which npm skips on a
// platform they do not match without fetching them. Run after any `npm install`:
//   node test/tools/lock-platforms.mjs
import { readFileSync, writeFileSync } from "node:fs";

/** Platform of a package named like `@scope/cli-linux-arm64-musl` or `@scope/binding-win32-x64-msvc`. */
export function platformOf(name) {
  const m = /-(linux|darwin|win32|android|freebsd)-(x64|arm64|arm|ia32)(?:-(musl|gnu|msvc|gnueabihf))?$/.exec(
    name,
  );
  if (!m) return null;
  const p = { os: [m[1]], cpu: [m[2]] };
  if (m[3] === "musl") p.libc = ["musl"];
  if (m[3] === "gnu") p.libc = ["glibc"];
  return p;
}

export function missingOptionals(lock) {
  const out = [];
  for (const [key, entry] of Object.entries(lock.packages)) {
    for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
      const where = `node_modules/${dep}`;
      if (!lock.packages[where]) out.push({ parent: key, dep, version, dev: entry.dev === true });
    }
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
  const missing = missingOptionals(lock);
  for (const m of missing) {
    const plat = platformOf(m.dep);
    if (!plat) throw new Error(`cannot tell the platform of ${m.dep}`);
    lock.packages[`node_modules/${m.dep}`] = {
      version: m.version,
      ...plat,
      ...(m.dev ? { dev: true } : {}),
      optional: true,
    };
  }
  const keys = Object.keys(lock.packages).sort((a, b) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b)));
  lock.packages = Object.fromEntries(keys.map((k) => [k, lock.packages[k]]));
  writeFileSync("package-lock.json", `${JSON.stringify(lock, null, 2)}\n`);
  process.stdout.write(
    `added ${missing.length} optional platform entr${missing.length === 1 ? "y" : "ies"}\n`,
  );
}
