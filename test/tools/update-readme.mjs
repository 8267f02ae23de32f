#!/usr/bin/env node
// Regenerates the README's generated blocks from the code (run `npm run build` first):
//   node test/tools/update-readme.mjs
// The blocks sit between <!-- NAME:start --> and <!-- NAME:end --> markers; test/readme.test.ts
// fails while they differ from what the code renders.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

const render = (args) => execFileSync(process.execPath, ["dist/cli.js", ...args], { encoding: "utf8" });
const blocks = {
  "config-reference": render(["schema", "--markdown"]),
  "lcd-gallery": render(["lcd", "preview", "--gallery"]),
};
let readme = readFileSync("README.md", "utf8");
for (const [name, body] of Object.entries(blocks)) {
  const re = new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`);
  if (!re.test(readme)) throw new Error(`README.md has no ${name} markers`);
  readme = readme.replace(re, (_m, a, b) => `${a}${body.trimEnd()}\n${b}`);
}
writeFileSync("README.md", readme);
