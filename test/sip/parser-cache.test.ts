/**
 * The postinstall step (config/npm/sipjs-parser-cache.mjs) makes sip.js's generated parser
 * decode its rule tables once instead of for every header. Same results, less CPU: this proves
 * the "same results" part on real SIP text, against the parser as sip.js ships it.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs install step without types
import { patch } from "../../config/npm/sipjs-parser-cache.mjs";

const LIB = resolve("node_modules/sip.js/lib");
const GRAMMAR = join(LIB, "grammar/pegjs/dist/grammar.js");

type Parse = (input: string, options: { startRule: string }) => unknown;

/** The shipped (unpatched) parser, rebuilt from the installed one, loaded from a copy of sip.js's lib. */
async function shippedParser(): Promise<Parse> {
  const installed = readFileSync(GRAMMAR, "utf8");
  const original = installed
    .replace("let peg$bytecodeCache;\n", "")
    .replace("    const peg$bytecode = (peg$bytecodeCache ??= [\n", "    const peg$bytecode = [\n")
    .replace(/\n {4}\]\);\n/, "\n    ];\n");
  expect(original).not.toContain("peg$bytecodeCache");
  expect(patch(original).source).toBe(installed);
  const dir = mkdtempSync(join(tmpdir(), "sipjs-"));
  for (const f of ["name-addr-header.js", "uri.js", "parameters.js"])
    copyFileSync(join(LIB, "grammar", f), join(dir, f));
  mkdirSync(join(dir, "pegjs", "dist"), { recursive: true });
  writeFileSync(join(dir, "pegjs", "dist", "grammar.js"), original);
  return ((await import(pathToFileURL(join(dir, "pegjs", "dist", "grammar.js")).href)) as { parse: Parse })
    .parse;
}

const SAMPLES: Array<[string, string]> = [
  ["Via", "SIP/2.0/WSS 192.0.2.1:8443;branch=z9hG4bK776asdhds;rport;received=203.0.113.9"],
  ["From", '"Municipio di Esempio" <sip:+39061234567@pbx.example.org;user=phone>;tag=1928301774'],
  ["To", "<sip:1017@pbx.example.org>"],
  [
    "Contact",
    '<sip:abc@df7jal23ls0d.invalid;transport=ws>;expires=600;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"',
  ],
  ["CSeq", "314159 INVITE"],
  ["Call_ID", "a84b4c76e66710@pc33.atlanta.example.com"],
  ["SIP_URI", "sip:alice:secret@atlanta.com;transport=tcp;maddr=239.255.255.1?subject=project%20x"],
  [
    "Refer_To",
    "<sip:2001@pbx.example.org?Replaces=12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994>",
  ],
  ["Event", "refer;id=93809824"],
];

describe("sip.js parser with its tables decoded once", () => {
  it("is installed (npm ci ran the postinstall step)", () => {
    expect(readFileSync(GRAMMAR, "utf8")).toContain("peg$bytecodeCache ??=");
  });

  it("parses exactly as the shipped parser, repeatedly", async () => {
    const shipped = await shippedParser();
    const dir = dirname(GRAMMAR);
    const installed = ((await import(pathToFileURL(join(dir, "grammar.js")).href)) as { parse: Parse }).parse;
    for (const [rule, text] of SAMPLES) {
      const a = JSON.stringify(shipped(text, { startRule: rule }));
      for (let i = 0; i < 3; i++) expect(JSON.stringify(installed(text, { startRule: rule }))).toBe(a);
    }
    expect(() => installed("not a via", { startRule: "Via" })).toThrow();
  });
});
