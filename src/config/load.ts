/**
 * Reads a config file: YAML with positions → ${ENV} substitution → one schema → secrets read
 * from files → frozen. Every problem is reported at once as
 * `file:line:col key.path: what is expected`, so IT fixes a file in one round.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type Document, isMap, isPair, isScalar, LineCounter, type Node, parseDocument, visit } from "yaml";
import type { z } from "zod";
import { type Config, configSchema, type ParsedConfig } from "./schema.js";

export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly path: string;
  readonly message: string;
}

export class ConfigError extends Error {
  readonly code = "config_invalid";
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
  }
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col} ${p.path || "(top level)"}: ${p.message}`;
}

export interface LoadedConfig {
  readonly config: Config;
  /** Things that work but should be fixed (an inline password...). */
  readonly warnings: readonly string[];
  readonly file: string;
}

export interface LoadOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Reads secret files; injectable for tests. */
  readonly readSecret?: (path: string) => string;
}

/** Reads and validates a config file. Throws ConfigError listing every problem. */
export function loadConfig(file: string, options: LoadOptions = {}): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ConfigError([
      { file, line: 1, col: 1, path: "", message: `cannot read the file (${err.code ?? err.message})` },
    ]);
  }
  return parseConfig(text, file, options);
}

export function parseConfig(text: string, file: string, options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  // A relative *_file path is relative to the config file (/etc/cuffia/secrets/sip.password).
  const base = dirname(resolve(file));
  const read = options.readSecret ?? ((p: string) => readFileSync(p, "utf8"));
  const readSecret = (p: string): string => read(resolve(base, p));
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const problems: ConfigProblem[] = [];
  const at = (offset: number, path: string, message: string): void => {
    const { line, col } = lines.linePos(offset);
    problems.push({ file, line, col, path, message });
  };

  // After a syntax error the parser misreads what follows: the rest are mostly echoes of the
  // first, so IT sees only that one (schema problems, below, are all reported at once).
  const syntax = doc.errors[0];
  if (syntax) {
    at(syntax.pos[0], "", `YAML syntax: ${syntax.message.split("\n")[0]}`);
    throw new ConfigError(problems);
  }

  const fromEnv = substituteEnv(doc, env, at);
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    at(0, "", "the file must be a YAML mapping of sections (agent:, sip:, ...)");
    throw new ConfigError(problems);
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) report(doc, raw, issue, at);
  }
  rawChecks(raw as Record<string, unknown>, doc, at);
  if (!parsed.success) throw new ConfigError(sorted(problems));

  const warnings: string[] = [];
  const config = resolveSecrets(
    parsed.data,
    doc,
    fromEnv,
    readSecret,
    at,
    warnings,
    file,
    (o) => lines.linePos(o).line,
  );
  crossChecks(config, doc, at);
  if (problems.length > 0) throw new ConfigError(sorted(problems));
  return { config: deepFreeze(config), warnings, file };
}

function sorted(ps: ConfigProblem[]): ConfigProblem[] {
  return [...ps].sort((a, b) => a.line - b.line || a.col - b.col);
}

type At = (offset: number, path: string, message: string) => void;

/** `${NAME}` in any string value is replaced by the environment variable; a missing one is an error. */
function substituteEnv(doc: Document, env: NodeJS.ProcessEnv, at: At): Set<string> {
  const substituted = new Set<string>();
  visit(doc, {
    Scalar(key, node, path) {
      if (key === "key" || typeof node.value !== "string" || !node.value.includes("${")) return;
      const keyPath = pathOf(path, node);
      node.value = node.value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
        const v = env[name];
        if (v === undefined) {
          at(node.range?.[0] ?? 0, keyPath, `environment variable ${name} is not set`);
          return `\${${name}}`; // kept, so it is not also reported as empty
        }
        substituted.add(keyPath);
        return v;
      });
    },
  });
  return substituted;
}

/** The dotted key path of a node from yaml's visitor path. */
function pathOf(path: readonly unknown[], node: Node): string {
  const parts: string[] = [];
  const chain = [...path, node];
  for (let i = 0; i < chain.length; i++) {
    const p = chain[i];
    if (isPair(p) && isScalar(p.key)) parts.push(String(p.key.value));
    else if (p && typeof p === "object" && "items" in p && !isMap(p)) {
      const next = chain[i + 1];
      const idx = (p as { items: unknown[] }).items.indexOf(next);
      if (idx >= 0) parts.push(`[${idx}]`);
    }
  }
  return parts.join(".").replace(/\.\[/g, "[");
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const k of path) {
    if (typeof k === "number") out += `[${k}]`;
    else out += out ? `.${String(k)}` : String(k);
  }
  return out;
}

/** The offset of the node at a path, or of its nearest present ancestor. */
function offsetOf(doc: Document, path: readonly PropertyKey[], key = false): number {
  for (let n = path.length; n >= 0; n--) {
    const sub = path.slice(0, n) as Array<string | number>;
    if (key && n === path.length && n > 0) {
      const parent = sub.length > 1 ? doc.getIn(sub.slice(0, -1), true) : doc.contents;
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === sub[sub.length - 1]);
        if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
      }
    }
    const node = n === 0 ? doc.contents : doc.getIn(sub, true);
    if (node && typeof node === "object" && "range" in node && Array.isArray(node.range)) {
      // A missing key is reported at its parent's first key, i.e. where it would go.
      return node.range[0] as number;
    }
  }
  return 0;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function report(doc: Document, raw: unknown, issue: z.core.$ZodIssue, at: At): void {
  const path = issue.path;
  if (issue.code === "unrecognized_keys") {
    for (const k of issue.keys) {
      const full = [...path, k];
      const hint = suggest(k, knownKeys(path));
      at(
        offsetOf(doc, full, true),
        formatPath(full),
        `unknown key${hint ? ` (did you mean "${hint}"?)` : ""}`,
      );
    }
    return;
  }
  at(offsetOf(doc, path), formatPath(path), describe(issue, valueAt(raw, path)));
}

function describe(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case "invalid_type":
      if (value === undefined) return "is required";
      return `must be ${article(issue.expected)}${issue.expected === "object" ? " (a mapping of keys)" : ""}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "too_small":
      return issue.origin === "array"
        ? `needs at least ${issue.minimum} item(s)`
        : issue.origin === "string"
          ? "must not be empty"
          : `must be at least ${issue.minimum}`;
    case "too_big":
      return issue.origin === "string"
        ? `must be at most ${issue.maximum} characters`
        : `must be at most ${issue.maximum}`;
    case "invalid_union": {
      if ("options" in issue && issue.discriminator && issue.options)
        return `"${issue.discriminator}" must be one of ${issue.options.map((o) => JSON.stringify(o)).join(", ")}`;
      const branch = issue.errors.flat()[0];
      return branch
        ? `does not match any accepted form (${branch.message.toLowerCase()})`
        : "does not match any accepted form";
    }
    default:
      return issue.message;
  }
}

function article(t: string): string {
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

/** Keys the schema accepts at a path (for "did you mean"). */
function knownKeys(path: readonly PropertyKey[]): string[] {
  // biome-ignore lint/suspicious/noExplicitAny: walking zod's internal definitions
  let schemas: any[] = [configSchema];
  for (const k of path) {
    // biome-ignore lint/suspicious/noExplicitAny: as above
    const next: any[] = [];
    for (const s of schemas.flatMap(unwrap)) {
      const shape = s?.def?.shape ?? s?.shape;
      if (shape && typeof k === "string" && shape[k]) next.push(shape[k]);
      if (s?.def?.type === "record" && s.def.valueType) next.push(s.def.valueType);
      if (s?.def?.type === "array" && s.def.element) next.push(s.def.element);
    }
    schemas = next;
  }
  return [...new Set(schemas.flatMap(unwrap).flatMap((s) => Object.keys(s?.def?.shape ?? s?.shape ?? {})))];
}

// biome-ignore lint/suspicious/noExplicitAny: zod internals
function unwrap(s: any): any[] {
  const t = s?.def?.type;
  if (t === "optional" || t === "default" || t === "prefault" || t === "nullable")
    return unwrap(s.def.innerType);
  if (t === "pipe") return unwrap(s.def.in);
  if (t === "union") return s.def.options.flatMap(unwrap);
  return [s];
}

function suggest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== null && (bestD <= Math.max(2, Math.floor(word.length / 3)) || best.startsWith(word))
    ? best
    : null;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

function resolveSecrets(
  c: ParsedConfig,
  doc: Document,
  fromEnv: Set<string>,
  readSecret: (p: string) => string,
  at: At,
  warnings: string[],
  file: string,
  lineAt: (offset: number) => number,
): Config {
  const secretOf = (
    section: "sip" | "mqtt",
    s: { password?: string; password_file?: string },
  ): string | undefined => {
    if (s.password !== undefined && s.password_file !== undefined) {
      at(
        offsetOf(doc, [section, "password"], true),
        `${section}.password`,
        "give password or password_file, not both",
      );
      return undefined;
    }
    if (s.password_file !== undefined) {
      try {
        return readSecret(s.password_file).replace(/\r?\n$/, "");
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        at(
          offsetOf(doc, [section, "password_file"]),
          `${section}.password_file`,
          `cannot read ${s.password_file} (${err.code ?? err.message})`,
        );
        return undefined;
      }
    }
    if (s.password !== undefined && !fromEnv.has(`${section}.password`)) {
      const line = lineAt(offsetOf(doc, [section, "password"]));
      warnings.push(
        `${file}:${line} ${section}.password is written in the config file: prefer ${section}.password_file (mode 0600) or "\${ENV_NAME}"`,
      );
    }
    return s.password;
  };

  const { sip, mqtt, ...rest } = c;
  const out: { -readonly [K in keyof Config]: Config[K] } = { ...rest };
  if (sip) {
    const { password: _p, password_file: _f, ...sipRest } = sip;
    const password = secretOf("sip", sip) ?? "";
    const username = sip.username ?? /^sips?:([^@]+)@/.exec(sip.aor)?.[1] ?? "";
    out.sip = { ...sipRest, password, username };
  }
  if (mqtt) {
    const { password: _p, password_file: _f, ...mqttRest } = mqtt;
    const password = secretOf("mqtt", mqtt);
    out.mqtt = password === undefined ? mqttRest : { ...mqttRest, password };
  }
  return out;
}

/** Checks zod would skip once a sibling key failed (object refinements do not run then). */
function rawChecks(raw: Record<string, unknown>, doc: Document, at: At): void {
  const sip = raw["sip"];
  if (sip && typeof sip === "object" && !("password" in sip) && !("password_file" in sip))
    at(offsetOf(doc, ["sip"]), "sip.password_file", "is required (or sip.password)");
}

/** Checks across sections that one schema node cannot see. */
function crossChecks(c: Config, doc: Document, at: At): void {
  const hook = c.headset?.idle_hook_off;
  if (hook && hook !== "ignore") {
    const t = hook.dial;
    const named = c.sip?.transfer_targets[t] !== undefined;
    if (!named && !/^((sips?|tel):|\+?[0-9*#]+$)/.test(t))
      at(
        offsetOf(doc, ["headset", "idle_hook_off", "dial"]),
        "headset.idle_hook_off.dial",
        `"${t}" is neither a sip.transfer_targets name nor a SIP URI or number`,
      );
    if (!c.sip)
      at(
        offsetOf(doc, ["headset", "idle_hook_off"]),
        "headset.idle_hook_off",
        "dialling needs a sip section",
      );
  }
  const usesHeadsetCard =
    (c.audio.source.type === "microphone" && c.audio.source.device === "headset") ||
    (c.audio.sink.type === "speaker" && c.audio.sink.device === "headset");
  if (usesHeadsetCard && !c.headset)
    at(
      offsetOf(doc, ["audio"]),
      "audio",
      'device "headset" needs a headset section to find the headset\'s sound card',
    );
  if ((c.mqtt?.cert_file === undefined) !== (c.mqtt?.key_file === undefined))
    at(
      offsetOf(doc, ["mqtt"]),
      "mqtt",
      "cert_file and key_file go together (client certificate authentication)",
    );
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
