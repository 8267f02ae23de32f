#!/usr/bin/env node
// npm postinstall: make sip.js 0.21's generated SIP parser decode its rule tables once.
//
// The peggy-generated parser (sip.js/lib/grammar/pegjs/dist/grammar.js) builds its bytecode
// table — a few hundred peg$decode("...") calls — inside peg$parse(), i.e. again for every
// header it parses. Profiling the daemon answering calls put 28-30 % of its CPU in peg$decode,
// and it is most of sip.js's ~2 ms per INVITE (shared/reference/sip-lab.md). The table is pure
// data: keeping it in a module-level cache gives the same parse results at a fraction of the cost.
//
// The change is one expression: `const peg$bytecode = (peg$bytecodeCache ??= [ ... ]);`.
// Idempotent; if the file does not look as expected (another sip.js version) it says so and
// leaves it alone: the daemon works either way, only slower.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const file = fileURLToPath(new URL("../../node_modules/sip.js/lib/grammar/pegjs/dist/grammar.js", import.meta.url));
const say = (m) => process.stdout.write(`sipjs-parser-cache: ${m}\n`);

export function patch(source) {
  if (source.includes("peg$bytecodeCache")) return { source, status: "already" };
  const open = "    const peg$bytecode = [\n";
  const start = source.indexOf(open);
  const end = start < 0 ? -1 : source.indexOf("\n    ];\n", start);
  const fn = "function peg$parse(input, options) {";
  if (start < 0 || end < 0 || !source.includes(fn)) return { source, status: "unexpected" };
  const body = source.slice(start + open.length, end);
  // Only constant tables may be cached: every element must be a peg$decode of a literal.
  if (!body.split("\n").every((l) => /^\s*peg\$decode\(".*"\),?$/.test(l))) return { source, status: "unexpected" };
  const patched =
    source.slice(0, start) +
    "    const peg$bytecode = (peg$bytecodeCache ??= [\n" +
    body +
    "\n    ]);\n" +
    source.slice(end + "\n    ];\n".length);
  return { source: patched.replace(fn, `let peg$bytecodeCache;\n${fn}`), status: "patched" };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (!existsSync(file)) {
    say("sip.js is not installed here; nothing to do");
  } else {
    const { source, status } = patch(readFileSync(file, "utf8"));
    if (status === "patched") writeFileSync(file, source);
    say(
      status === "unexpected"
        ? "WARNING: sip.js's grammar is not the expected 0.21 layout; left as is (SIP parsing stays slower)"
        : `parser tables ${status === "patched" ? "now decoded once" : "already decoded once"}`,
    );
  }
}
