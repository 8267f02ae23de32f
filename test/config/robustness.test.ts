/**
 * Config that never crashes (issue 11): whatever the file holds, loading ends in a ConfigError
 * with file:line:col, never another exception (which `cuffia run` turns into exit 1 and systemd
 * into a restart every 5 s). Limits on size, values and depth; loading linear in the file's size.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  formatProblem,
  loadConfig,
  MAX_CONFIG_BYTES,
  parseConfig,
} from "../../src/config/load.js";
import { MAX_DEPTH, MAX_NODES } from "../../src/config/yaml-tree.js";

const problemsOf = (text: string, env: NodeJS.ProcessEnv = {}): string[] => {
  try {
    parseConfig(text, "c.yaml", { env });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map(formatProblem);
    throw e;
  }
  return [];
};

/** The classic "billion laughs": 9 levels of 9 aliases each, 9^9 strings once expanded. */
function aliasBomb(): string {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(",")}]`);
  }
  lines.push("agent:\n  name: *i");
  return `${lines.join("\n")}\n`;
}

describe("config that never crashes", () => {
  it("an alias to no anchor is a problem at the alias, not a ReferenceError", () => {
    expect(problemsOf("agent:\n  id: *nothing\n")).toEqual([
      "c.yaml:2:7 agent.id: alias *nothing refers to no anchor &nothing above it",
    ]);
    // An alias above its anchor does not resolve either.
    expect(problemsOf("agent:\n  name: *n\n  id: &n desk\n")).toEqual([
      "c.yaml:2:9 agent.name: alias *n refers to no anchor &n above it",
    ]);
  });

  it("an alias bomb is refused with a position, at once", () => {
    const ps = problemsOf(aliasBomb());
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatch(/^c\.yaml:2:\d+ \(top level\): aliases expand to too many values .*alias bomb/);
  });

  it("ordinary aliases still work", () => {
    const { config } = parseConfig(
      "sip:\n  server: tcp://pbx:5060\n  aor: sip:1@pbx\n  password: ${P}\n  transfer_targets: &t { polo1: sip:2001@pbx }\nheadset:\n  idle_hook_off: { dial: polo1 }\n",
      "c.yaml",
      { env: { P: "x" } },
    );
    expect(config.sip?.transfer_targets).toEqual({ polo1: "sip:2001@pbx" });
  });

  it("duplicate keys are each reported with the line of the first", () => {
    expect(problemsOf("agent:\n  id: a\n  name: n\n  id: b\nlog: { level: info, level: debug }\n")).toEqual([
      "c.yaml:4:3 agent.id: duplicate key: each key may appear once per mapping (first at line 2)",
      "c.yaml:5:21 log.level: duplicate key: each key may appear once per mapping (first at line 5)",
    ]);
  });

  it("YAML syntax errors, tabs, several documents and odd tags end in a position, never a throw", () => {
    for (const text of [
      "agent: [\n",
      "agent:\n\tid: x\n",
      "agent: {}\n---\nagent: {}\n",
      "agent: !!binary AAAA\n",
      "agent: !custom { id: x }\n",
      "agent: { id: x }}\n",
      "\u0000\u0001\u0002",
      "&a a: *a\n",
      "agent: 'unterminated\n",
      "%YAML 9.9\n---\na: 1\n",
      "a: !!int nope\n",
      "__proto__: { polluted: true }\n",
    ]) {
      const ps = problemsOf(text);
      for (const p of ps) expect(p).toMatch(/^c\.yaml:\d+:\d+ /);
    }
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });

  it("a key that is a collection is refused (JavaScript objects cannot hold it)", () => {
    expect(problemsOf("? [a, b]\n: c\n")).toEqual([
      "c.yaml:1:3 (top level): a key must be a plain word, not a list or mapping",
    ]);
  });

  it("refuses a file over the size limit before parsing it", () => {
    const ps = problemsOf(`# ${"x".repeat(MAX_CONFIG_BYTES)}\n`);
    expect(ps).toEqual([expect.stringMatching(/^c\.yaml:1:1 \(top level\): the file is larger than 1 MiB/)]);
    const dir = mkdtempSync(join(tmpdir(), "cuffia-big-"));
    writeFileSync(join(dir, "c.yaml"), Buffer.alloc(MAX_CONFIG_BYTES + 10, 0x20));
    expect(() => loadConfig(join(dir, "c.yaml"))).toThrow(/larger than 1 MiB/);
  });

  it("refuses more values than the node limit, and nesting deeper than the depth limit", () => {
    const many = `policy:\n  pause_reasons: [${Array(MAX_NODES + 1)
      .fill("a")
      .join(",")}]\n`;
    expect(problemsOf(many)).toEqual([expect.stringContaining(`more than ${MAX_NODES} values`)]);
    const deep = `a: ${"[".repeat(MAX_DEPTH + 2)}${"]".repeat(MAX_DEPTH + 2)}\n`;
    expect(problemsOf(deep)).toEqual([expect.stringContaining(`nested more than ${MAX_DEPTH} levels`)]);
    const deeper = `a: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`;
    expect(problemsOf(deeper)).toEqual([expect.stringMatching(/^c\.yaml:\d+:\d+ .*nested/)]);
  });

  // Regression: a mapping with 40k keys took 41 s (yaml's uniqueKeys compared every key with all
  // earlier ones, and each unknown key's position was found by scanning its mapping). Quadratic,
  // 40k keys take minutes and this test times out; linear, they take well under a second.
  it("checks a mapping with 40,000 keys in linear time (unknown keys, each with its position)", () => {
    const n = 40_000;
    const text = `policy:\n${Array.from({ length: n }, (_, i) => `  k${i}: 1\n`).join("")}`;
    const ps = problemsOf(text);
    expect(ps).toHaveLength(n);
    expect(ps[0]).toBe("c.yaml:2:3 policy.k0: unknown key");
    expect(ps[n - 1]).toBe(`c.yaml:${n + 1}:3 policy.k${n - 1}: unknown key`);
  });

  it("checks 40,000 valid transfer targets and 40,000 ${ENV} values in linear time", () => {
    const n = 40_000;
    const targets = Array.from({ length: n }, (_, i) => `    t${i}: sip:${i}@pbx\n`).join("");
    const { config } = parseConfig(
      `sip:\n  server: tcp://pbx:5060\n  aor: sip:1@pbx\n  password: \${P}\n  transfer_targets:\n${targets}`,
      "c.yaml",
      { env: { P: "x" } },
    );
    expect(Object.keys(config.sip?.transfer_targets ?? {})).toHaveLength(n);
    const reasons = Array.from({ length: n }, () => "    - ${R}\n").join("");
    const loaded = parseConfig(`policy:\n  pause_reasons:\n${reasons}`, "c.yaml", { env: { R: "brk" } });
    expect(loaded.config.policy.pause_reasons).toHaveLength(n);
    expect(loaded.config.policy.pause_reasons[n - 1]).toBe("brk");
  });
});
