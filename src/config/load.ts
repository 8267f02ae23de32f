/**
 * Reads a config file: YAML with positions → ${ENV} substitution → one schema → secrets read
 * from files → frozen. Every problem is reported at once as
 * `file:line:col key.path: what is expected`, so IT fixes a file in one round.
 */
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { LineCounter, parseDocument, type Scalar } from "yaml";
import type { z } from "zod";
import {
  addressProblems,
  fileProblems,
  type HostAccess,
  realHost,
  relativePathWarnings,
  securityWarnings,
} from "./host-checks.js";
import { type Config, configSchema, type ParsedConfig } from "./schema.js";
import { type KeyPath, MAX_ALIAS_COUNT, NodeIndex, scanTree } from "./yaml-tree.js";

/** A config is a few kilobytes; a bigger file is refused before it is parsed. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

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
  /** Files and addresses of this box; injectable for tests. */
  readonly host?: HostAccess;
  /**
   * The checks against this box (named files, rtp.address): errors by default (`check`,
   * `doctor`); "warn" turns them into warnings (`run` and reload: at boot a late mount or an
   * interface still without its address must not stop the desk for good with exit 78 — the side
   * that needs the file or address reports it in health and retries); false skips them (`ctl`
   * finding the socket).
   */
  readonly hostChecks?: boolean | "warn";
}

/**
 * Reads and validates a config file. Throws ConfigError listing every problem, and only
 * ConfigError: whatever the file holds, the daemon exits 78 (systemd: stop, do not restart).
 */
export function loadConfig(file: string, options: LoadOptions = {}): LoadedConfig {
  let text: string;
  try {
    text = readBounded(file, MAX_CONFIG_BYTES);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ConfigError([
      { file, line: 1, col: 1, path: "", message: `cannot read the file (${err.code ?? err.message})` },
    ]);
  }
  return parseConfig(text, file, options);
}

/** Reads at most `max` bytes + 1: a huge file (or /dev/zero) is never read whole. */
function readBounded(file: string, max: number): string {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > max) break;
    }
    return buf.subarray(0, n).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

export function parseConfig(text: string, file: string, options: LoadOptions = {}): LoadedConfig {
  try {
    return parseChecked(text, file, options);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    // A parser or library limit we did not foresee: still a config problem, never a crash.
    const message = e instanceof Error ? e.message : String(e);
    throw new ConfigError([
      { file, line: 1, col: 1, path: "", message: `cannot be read as a config: ${message}` },
    ]);
  }
}

function parseChecked(text: string, file: string, options: LoadOptions): LoadedConfig {
  if (Buffer.byteLength(text, "utf8") > MAX_CONFIG_BYTES)
    throw new ConfigError([
      {
        file,
        line: 1,
        col: 1,
        path: "",
        message: `the file is larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB: that is not a config (limit against resource exhaustion)`,
      },
    ]);
  const env = options.env ?? process.env;
  // A relative *_file path is relative to the config file (/etc/cuffia/secrets/sip.password).
  const base = dirname(resolve(file));
  const read = options.readSecret ?? ((p: string) => readFileSync(p, "utf8"));
  const readSecret = (p: string): string => read(resolve(base, p));
  const lines = new LineCounter();
  // uniqueKeys: yaml's check compares each key with all earlier ones (quadratic); scanTree
  // finds duplicates with a Set instead.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
  const index = new NodeIndex(doc);
  const problems: ConfigProblem[] = [];
  const at = (offset: number, path: string, message: string): void => {
    const { line, col } = lines.linePos(offset);
    problems.push({ file, line, col, path, message });
  };

  // After a syntax error the parser misreads what follows: the rest are mostly echoes of the
  // first, so IT sees only that one (schema problems, below, are all reported at once).
  const syntax = doc.errors[0];
  if (syntax) {
    const first = syntax.message.split("\n")[0] ?? "";
    at(
      syntax.pos[0],
      "",
      /call stack/i.test(first)
        ? "nested too deeply: that is not a config (limit against resource exhaustion)"
        : `YAML syntax: ${first}`,
    );
    throw new ConfigError(problems);
  }

  const fromEnv = new Set<string>();
  const scan = scanTree(doc, (node, path) => substituteEnv(node, formatPath(path), env, at, fromEnv));
  for (const p of scan.problems)
    at(
      p.offset,
      formatPath(p.path),
      p.firstAt === undefined ? p.message : `${p.message} (first at line ${lines.linePos(p.firstAt).line})`,
    );
  if (scan.problems.length > 0) throw new ConfigError(sorted(problems));

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (e) {
    if (!(e instanceof ReferenceError)) throw e;
    // yaml counts how far aliases expand: past the limit it is a "billion laughs" file.
    at(
      scan.firstAlias ?? 0,
      "",
      `aliases expand to too many values (more than ${MAX_ALIAS_COUNT}; an "alias bomb"?): write the values out`,
    );
    throw new ConfigError(problems);
  }
  if (typeof raw !== "object" || Array.isArray(raw)) {
    at(0, "", "the file must be a YAML mapping of sections (agent:, sip:, ...)");
    throw new ConfigError(problems);
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) report(index, raw, issue, at);
  }
  rawChecks(raw as Record<string, unknown>, index, at);
  if (!parsed.success) throw new ConfigError(sorted(problems));

  const warnings: string[] = [];
  const config = resolveSecrets(
    parsed.data,
    index,
    fromEnv,
    readSecret,
    at,
    warnings,
    file,
    (o) => lines.linePos(o).line,
  );
  crossChecks(config, index, at);
  const host = options.host ?? realHost;
  if (options.hostChecks !== false)
    for (const f of [...fileProblems(config, host), ...addressProblems(config, host)]) {
      const offset = offsetOf(index, f.path);
      if (options.hostChecks !== "warn") at(offset, formatPath(f.path), f.message);
      else {
        const { line, col } = lines.linePos(offset);
        warnings.push(`${file}:${line}:${col} ${formatPath(f.path)}: ${f.message}`);
      }
    }
  if (problems.length > 0) throw new ConfigError(sorted(problems));
  for (const w of [...securityWarnings(raw as Record<string, unknown>), ...relativePathWarnings(config)]) {
    const { line, col } = lines.linePos(offsetOf(index, w.path));
    warnings.push(`${file}:${line}:${col} ${w.message}`);
  }
  return { config: deepFreeze(config), warnings, file };
}

function sorted(ps: ConfigProblem[]): ConfigProblem[] {
  return [...ps].sort((a, b) => a.line - b.line || a.col - b.col);
}

type At = (offset: number, path: string, message: string) => void;

/** `${NAME}` in any string value is replaced by the environment variable; a missing one is an error. */
function substituteEnv(
  node: Scalar,
  keyPath: string,
  env: NodeJS.ProcessEnv,
  at: At,
  substituted: Set<string>,
): void {
  if (typeof node.value !== "string" || !node.value.includes("${")) return;
  node.value = node.value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const v = env[name];
    if (v === undefined) {
      at(node.range?.[0] ?? 0, keyPath, `environment variable ${name} is not set`);
      return `\${${name}}`; // kept, so it is not also reported as empty
    }
    substituted.add(keyPath);
    return v;
  });
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
function offsetOf(index: NodeIndex, path: KeyPath, key = false): number {
  for (let n = path.length; n >= 0; n--) {
    const sub = path.slice(0, n);
    if (key && n === path.length && n > 0) {
      const pair = index.pair(index.get(sub.slice(0, -1)), sub[sub.length - 1] as string | number);
      const r = (pair?.key as { range?: number[] } | null | undefined)?.range;
      if (r) return r[0] as number;
    }
    const node = index.get(sub);
    // A missing key is reported at its parent's first key, i.e. where it would go.
    if (node?.range) return node.range[0];
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

function report(doc: NodeIndex, raw: unknown, issue: z.core.$ZodIssue, at: At): void {
  const path = issue.path;
  if (issue.code === "unrecognized_keys") {
    for (const k of issue.keys) {
      const full = [...path, k];
      const hint = suggest(k, knownKeys(path));
      at(
        offsetOf(doc, full as KeyPath, true),
        formatPath(full),
        `unknown key${hint ? ` (did you mean "${hint}"?)` : ""}`,
      );
    }
    return;
  }
  at(offsetOf(doc, path as KeyPath), formatPath(path), describe(issue, valueAt(raw, path)));
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
  doc: NodeIndex,
  fromEnv: Set<string>,
  readSecret: (p: string) => string,
  at: At,
  warnings: string[],
  file: string,
  lineAt: (offset: number) => number,
): Config {
  const secretOf = (
    section: "sip" | "mqtt" | KeyPath,
    s: { password?: string; password_file?: string },
  ): string | undefined => {
    const path: KeyPath = typeof section === "string" ? [section] : section;
    const name = path.join(".").replace(/\.(\d+)(?=\.|$)/g, "[$1]");
    if (s.password !== undefined && s.password_file !== undefined) {
      at(
        offsetOf(doc, [...path, "password"], true),
        `${name}.password`,
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
          offsetOf(doc, [...path, "password_file"]),
          `${name}.password_file`,
          `cannot read ${s.password_file} (${err.code ?? err.message})`,
        );
        return undefined;
      }
    }
    if (s.password !== undefined && !fromEnv.has(`${name}.password`)) {
      const line = lineAt(offsetOf(doc, [...path, "password"]));
      warnings.push(
        `${file}:${line} ${name}.password is written in the config file: prefer ${name}.password_file (mode 0600) or "\${ENV_NAME}"`,
      );
    }
    return s.password;
  };

  const { sip, mqtt, rtp, ...rest } = c;
  // rtp.ice.turn_servers[i]: the TURN long-term credential's password (RFC 8489 §9.2).
  const turn_servers = rtp.ice.turn_servers.map(({ password: _p, password_file: _f, ...t }, i) => {
    const password = secretOf(["rtp", "ice", "turn_servers", i], {
      ...(_p !== undefined ? { password: _p } : {}),
      ...(_f !== undefined ? { password_file: _f } : {}),
    });
    if (password === undefined && _p === undefined && _f === undefined) {
      at(
        offsetOf(doc, ["rtp", "ice", "turn_servers", i]),
        `rtp.ice.turn_servers[${i}].password_file`,
        "is required (or password)",
      );
    }
    return { ...t, password: password ?? "" };
  });
  const out: { -readonly [K in keyof Config]: Config[K] } = {
    ...rest,
    rtp: { ...rtp, ice: { ...rtp.ice, turn_servers } },
  };
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
function rawChecks(raw: Record<string, unknown>, doc: NodeIndex, at: At): void {
  const sip = raw["sip"];
  if (sip && typeof sip === "object" && !("password" in sip) && !("password_file" in sip))
    at(offsetOf(doc, ["sip"]), "sip.password_file", "is required (or sip.password)");
}

/** Checks across sections that one schema node cannot see. */
function crossChecks(c: Config, doc: NodeIndex, at: At): void {
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
