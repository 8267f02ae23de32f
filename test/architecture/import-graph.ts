/**
 * The runtime imports between our own modules, read from the sources: static imports and
 * re-exports, dynamic `import("…")` with a literal, and bare `import "…"` (side effect only).
 * `import type` / `export type` are left out: they are erased and load nothing.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

export interface ImportEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: "static" | "dynamic" | "bare";
}

function sourcesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourcesUnder(path));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** Comments out, strings kept (a `//` inside "ws://…" is not a comment start at line start). */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

/** Every edge between files under `root` (paths relative to it), for relative specifiers only. */
export function importEdges(root: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of sourcesUnder(root)) {
    const text = withoutComments(readFileSync(file, "utf8"));
    const from = relative(root, file);
    const add = (spec: string, kind: ImportEdge["kind"]) => {
      if (!spec.startsWith(".")) return;
      const target = resolve(dirname(file), spec).replace(/\.js$/, ".ts");
      edges.push({ from, to: relative(root, target), kind });
    };
    for (const m of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^;]*?\sfrom\s+["']([^"']+)["']/gm))
      if (!m[1]) add(m[2]!, "static");
    for (const m of text.matchAll(/^\s*import\s+["']([^"']+)["']/gm)) add(m[1]!, "bare");
    for (const m of text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) add(m[1]!, "dynamic");
  }
  return edges;
}

/** The import cycles (each as a path a → b → … → a), dynamic imports included. */
export function importCycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const state = new Map<string, "open" | "done">();
  const cycles: string[][] = [];
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const to of next.get(node) ?? []) {
      const s = state.get(to);
      if (s === "open") cycles.push([...stack.slice(stack.indexOf(to)), to]);
      else if (s === undefined) visit(to);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...next.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}
