/**
 * One logger interface for the whole daemon. Sides get a child named after their folder
 * (`sip`, `headset:hid`, `lcd:serial`, `presence:mqtt`); libraries' logs are routed into it.
 * Secrets never reach it: redaction covers every key that can hold one.
 */
import { pino } from "pino";

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

type LogFn = {
  (msg: string): void;
  (obj: Record<string, unknown>, msg?: string): void;
};

export interface Logger {
  readonly trace: LogFn;
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
  readonly fatal: LogFn;
  /** A logger for a sub-namespace: `log.child("hid")` under `headset` logs as `headset:hid`. */
  child(name: string): Logger;
  /** Whether a level is enabled (to skip building costly log objects). */
  enabled(level: LogLevel): boolean;
  /** Changes the level of this logger and every child (a reloaded config). */
  setLevel(level: LogLevel): void;
}

/** Keys whose values never reach a log line, at any depth we log. */
const REDACT = [
  "password",
  "*.password",
  "*.*.password",
  "passwd",
  "secret",
  "*.secret",
  "authorization",
  "*.authorization",
  "key",
  "*.key",
];

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Where lines go; default stdout (journald takes plain lines from there under systemd). */
  readonly destination?: NodeJS.WritableStream | { write(line: string): void };
}

export function createLogger(options: LoggerOptions): Logger {
  const root = pino(
    {
      level: options.level,
      base: undefined,
      redact: { paths: REDACT, censor: "[secret]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // biome-ignore lint/suspicious/noExplicitAny: pino accepts any object with write()
    (options.destination ?? process.stdout) as any,
  );
  // pino children copy their parent's level when made; the threshold is kept here instead so
  // a reload changes every namespace at once. pino itself lets everything through.
  const threshold = { value: LEVEL_VALUES[options.level] };
  root.level = "trace";
  return wrap(root, "", threshold);
}

type Threshold = { value: number };

const LEVEL_VALUES: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
};

function wrap(p: pino.Logger, ns: string, threshold: Threshold): Logger {
  const fn =
    (level: "trace" | "debug" | "info" | "warn" | "error" | "fatal"): LogFn =>
    (a: string | Record<string, unknown>, msg?: string) => {
      if (LEVEL_VALUES[level] < threshold.value) return;
      if (typeof a === "string") p[level](a);
      else p[level](a, msg);
    };
  return {
    trace: fn("trace"),
    debug: fn("debug"),
    info: fn("info"),
    warn: fn("warn"),
    error: fn("error"),
    fatal: fn("fatal"),
    child(name: string): Logger {
      const full = ns ? `${ns}:${name}` : name;
      return wrap(p.child({ ns: full }), full, threshold);
    },
    enabled: (level) => LEVEL_VALUES[level] >= threshold.value,
    setLevel(level) {
      threshold.value = LEVEL_VALUES[level];
    },
  };
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = createLogger({ level: "silent" });

/** A logger that keeps lines in memory, for tests that assert what was logged. */
export function memoryLogger(level: LogLevel = "trace"): {
  log: Logger;
  lines: Array<Record<string, unknown>>;
} {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level, destination: { write: (line: string) => lines.push(JSON.parse(line)) } });
  return { log, lines };
}
