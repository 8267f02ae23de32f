/**
 * The composition is explicit (issue 12): no module of ours is imported for its side effect
 * (a forgotten `import "./wiring.js"` once left the daemon without sides, silently), and no two
 * modules import each other, directly or around a loop, statically or lazily.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { importCycles, importEdges } from "./import-graph.js";

const SRC = resolve(import.meta.dirname, "..", "..", "src");

describe("src/ imports", () => {
  const edges = importEdges(SRC);

  it("are read from the sources (the composition root's edges are there)", () => {
    expect(edges).toContainEqual({ from: "main.ts", to: "cli/run.ts", kind: "dynamic" });
    expect(edges).toContainEqual({ from: "cli/run.ts", to: "app.ts", kind: "static" });
    expect(edges).toContainEqual({ from: "app.ts", to: "wiring.ts", kind: "static" });
    expect(edges).toContainEqual({ from: "wiring.ts", to: "sip/sip-agent.ts", kind: "dynamic" });
    expect(edges.length).toBeGreaterThan(150);
  });

  it("import no module of ours for its side effect alone", () => {
    expect(edges.filter((e) => e.kind === "bare")).toEqual([]);
  });

  it("have no cycle", () => {
    expect(importCycles(edges).map((c) => c.join(" → "))).toEqual([]);
  });

  it("keep the rooms' rules (README § Development and tests)", () => {
    const room = (f: string) => (f.includes("/") ? f.split("/")[0]! : f);
    const SIDES = ["sip", "media", "audio", "headset", "lcd", "presence", "control"];
    /** The call path is one stack: SIP drives the media, the media drives the audio. */
    const allowed = new Set(["sip → media", "media → audio"]);
    const broken = edges
      .filter((e) => room(e.from) !== room(e.to))
      .map((e) => ({ ...e, rule: `${room(e.from)} → ${room(e.to)}` }))
      .filter(
        (e) =>
          // The core is pure: it imports no other room.
          room(e.from) === "core" ||
          // Sides never import each other (but along the call path).
          (SIDES.includes(room(e.from)) && SIDES.includes(room(e.to)) && !allowed.has(e.rule)) ||
          // Only the command line reaches the composition root, and nothing reaches the command line.
          (["app.ts", "wiring.ts"].includes(e.to) && !["main.ts", "cli", "app.ts"].includes(room(e.from))) ||
          (room(e.to) === "cli" && room(e.from) !== "main.ts"),
      )
      .map((e) => `${e.from} → ${e.to}`);
    expect(broken).toEqual([]);
  });

  it("stay inside the product: nothing under src/ imports the tests, the lab or the demo", () => {
    expect(edges.filter((e) => e.to.startsWith("..")).map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });
});

describe("the import walker", () => {
  it("finds a cycle through a lazy import and a bare import", () => {
    const dir = mkdtempSync(join(tmpdir(), "cuffia-imports-"));
    try {
      mkdirSync(join(dir, "cli"));
      writeFileSync(join(dir, "app.ts"), 'import type { X } from "./x.js";\nexport const sides = {};\n');
      writeFileSync(join(dir, "wiring.ts"), 'import { sides } from "./app.js";\n// import "./nope.js";\n');
      writeFileSync(
        join(dir, "cli", "doctor.ts"),
        '/* import "./nope.js" */\nimport "../wiring.js";\nimport {\n  a,\n  type b,\n} from "../app.js";\n',
      );
      writeFileSync(join(dir, "x.ts"), 'export const f = () => import("./cli/doctor.js");\n');
      const edges = importEdges(dir);
      expect(edges).toEqual(
        expect.arrayContaining([
          { from: "cli/doctor.ts", to: "wiring.ts", kind: "bare" },
          { from: "cli/doctor.ts", to: "app.ts", kind: "static" },
          { from: "wiring.ts", to: "app.ts", kind: "static" },
          { from: "x.ts", to: "cli/doctor.ts", kind: "dynamic" },
        ]),
      );
      expect(edges).toHaveLength(4); // the type-only import and the commented ones are not edges
      expect(importCycles(edges)).toEqual([]);
      writeFileSync(join(dir, "app.ts"), 'import { f } from "./x.js";\nexport const sides = {};\n');
      expect(importCycles(importEdges(dir))).toEqual([
        ["app.ts", "x.ts", "cli/doctor.ts", "app.ts"],
        ["app.ts", "x.ts", "cli/doctor.ts", "wiring.ts", "app.ts"],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
