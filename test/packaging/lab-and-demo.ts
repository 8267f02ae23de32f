/**
 * What "the product contains neither the lab nor the demo" means for a package's file list and
 * its JavaScript: no path of the lab or the demo, and no definition of a function or class the
 * lab (test/lab/) or the demo (test/demo-app/) exports, whatever file it were compiled into.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const REPO = resolve(import.meta.dirname, "..", "..");

/** A path of the lab, the demo or the tests (as the .deb or the npm tarball would name it). */
export const LAB_OR_DEMO_PATH = /(^|\/)(lab|demo|demo-app|test)(\/|$)|kamailio\.cfg$|install\.sh$/;

function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((n) => n.endsWith(".ts"))
    .map((n) => join(dir, n));
}

/**
 * Every function and class the lab and the demo export (startKamailio, runDemo, …), but for the
 * names src/ defines too (the demo's screen has a `clock`, so has the LCD's layout).
 */
export function labAndDemoNames(): string[] {
  const product = sources(join(REPO, "src"))
    .map((f) => readFileSync(f, "utf8"))
    .join("\n");
  const names = new Set<string>();
  for (const dir of ["test/lab", "test/demo-app"]) {
    for (const f of readdirSync(join(REPO, dir)).filter((n) => n.endsWith(".ts"))) {
      const text = readFileSync(join(REPO, dir, f), "utf8");
      for (const m of text.matchAll(/^export (?:async )?(?:function\*? |class )(\w+)/gm))
        if (labOrDemoDefinitions(product, [m[1]!]).length === 0) names.add(m[1]!);
    }
  }
  return [...names].sort();
}

/** The lab's and the demo's definitions found in a JavaScript text. */
export function labOrDemoDefinitions(js: string, names: readonly string[]): string[] {
  return names.filter((n) => new RegExp(`(function\\*?|class)\\s+${n}\\b`).test(js));
}
