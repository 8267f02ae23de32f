/**
 * The `cuffia` command line (contracts/cli-config-control.md). The only module that touches
 * `process`: argv, environment, signals, exit codes.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildApp } from "./app.js";
import {
  ConfigError,
  formatProblem,
  type LoadedConfig,
  type LoadOptions,
  loadConfig,
} from "./config/load.js";
import { configReference } from "./config/reference.js";
import { jsonSchema } from "./config/schema.js";
import { NoDaemonError, request, subscribe } from "./control/control-client.js";
import { requestFromArgs } from "./control/protocol.js";
import { createLogger, type Logger, type LogLevel } from "./log/logger.js";
import { SdNotify } from "./sd-notify.js";
import { cliCommands } from "./wiring.js";

export const EXIT = { ok: 0, fatal: 1, usage: 64, unavailable: 69, config: 78 } as const;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

const HELP = `cuffia — a call-centre agent phone on a Raspberry Pi and a USB headset

usage: cuffia COMMAND [options]

commands:
  run [-c FILE]                         run the daemon
  check [-c FILE]                       validate a config file (exit 0 valid, 78 invalid)
  ctl COMMAND [ARG] [--socket PATH]     talk to the running daemon:
                                          status, subscribe, answer, reject, hangup,
                                          mute [on|off], hold [on|off], transfer TARGET,
                                          dial TARGET, dtmf DIGITS, login, logout,
                                          pause [REASON], unpause, ready
  devices                               list headsets, serial ports and sound cards
  doctor [-c FILE]                      check what the config expects against the box
  headset inspect --descriptor FILE | --hidraw /dev/hidrawN
                                        decode a HID report descriptor (exit 3: not a headset)
  lcd preview [--size 20x4] [--language it] [--charset a00] [--situation NAME]
                                        show what the LCD displays in each situation
  schema [--markdown]                   print the config's JSON Schema (or the README's reference table)

The config comes from -c, else $CUFFIA_CONFIG, else /etc/cuffia/config.yaml.
Options: --help, --version.
`;

function configPath(flag: string | undefined): string {
  return flag ?? process.env["CUFFIA_CONFIG"] ?? "/etc/cuffia/config.yaml";
}

function out(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}
function err(text: string): void {
  process.stderr.write(text.endsWith("\n") ? text : `${text}\n`);
}

function load(file: string, options: LoadOptions = {}): LoadedConfig | undefined {
  try {
    return loadConfig(file, options);
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) err(formatProblem(p));
      err(`${e.problems.length} problem(s) in ${file}`);
      return undefined;
    }
    throw e;
  }
}

async function cmdCheck(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: "string", short: "c" } },
    allowPositionals: false,
  });
  const file = configPath(values.config);
  const loaded = load(file);
  if (!loaded) return EXIT.config;
  for (const w of loaded.warnings) err(`warning: ${w}`);
  const c = loaded.config;
  const sides = ["sip", "headset", "lcd", "mqtt"].filter((k) => c[k as keyof typeof c] !== undefined);
  out(`${file}: valid (agent ${c.agent.id}; sides: ${sides.join(", ") || "none"})`);
  return EXIT.ok;
}

async function cmdCtl(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      socket: { type: "string" },
      config: { type: "string", short: "c" },
      timeout: { type: "string" },
    },
    allowPositionals: true,
  });
  const [cmd, arg] = positionals;
  if (!cmd) {
    err("usage: cuffia ctl COMMAND [ARG] [--socket PATH]");
    return EXIT.usage;
  }
  let socket = values.socket;
  if (!socket) {
    try {
      socket = loadConfig(configPath(values.config), { hostChecks: false }).config.control.socket;
    } catch {
      socket = "/run/cuffia/control.sock";
    }
  }
  const timeout = Number(values.timeout ?? 5000);
  try {
    if (cmd === "subscribe") {
      const sub = await subscribe(socket, (m) => out(JSON.stringify(m)), timeout);
      const stop = () => sub.close();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      await sub.closed;
      return EXIT.ok;
    }
    const req = requestFromArgs(cmd, arg);
    if (typeof req === "string") {
      err(req);
      return EXIT.usage;
    }
    const answer = await request(socket, req, timeout);
    out(JSON.stringify(answer, null, 2));
    return answer["ok"] === true ? EXIT.ok : EXIT.fatal;
  } catch (e) {
    if (e instanceof NoDaemonError) {
      err(e.message);
      return EXIT.unavailable;
    }
    throw e;
  }
}

async function cmdRun(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: "string", short: "c" } } });
  const file = configPath(values.config);
  // What the box lacks right now (a file on a late mount, an address not up yet) is warned about,
  // not fatal: exit 78 would stop the desk for good (`cuffia check` still treats it as an error).
  const loaded = load(file, { hostChecks: "warn" });
  if (!loaded) return EXIT.config;
  const log = createLogger({ level: loaded.config.log.level as LogLevel });
  for (const w of loaded.warnings) log.warn(w);
  const notify = new SdNotify(process.env, log.child("systemd"));
  let app: Awaited<ReturnType<typeof buildApp>>;
  try {
    app = await buildApp(loaded.config, log, {
      terminal: {
        input: process.stdin,
        output: process.stdout,
        interrupt: () => process.kill(process.pid, "SIGINT"),
      },
    });
    await app.start();
  } catch (e) {
    log.fatal({ err: e instanceof Error ? e.message : String(e) }, "cannot start");
    return EXIT.fatal;
  }
  log.info({ agent: loaded.config.agent.id, version: version(), config: file }, "cuffia running");
  await notify.ready(`agent ${loaded.config.agent.id}`);
  notify.startWatchdog(process.env, () => true);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) {
        log.warn({ signal }, "second signal: exiting now");
        resolve(EXIT.fatal);
        return;
      }
      stopping = true;
      log.info({ signal }, "stopping");
      notify.stopWatchdog();
      await notify.stopping();
      // A hard limit: a side that hangs must not keep the box from restarting.
      const hard = setTimeout(() => {
        log.error("stop took longer than 15 s: exiting");
        resolve(EXIT.fatal);
      }, 15_000);
      hard.unref();
      await app.stop(5000);
      clearTimeout(hard);
      log.info("stopped");
      resolve(EXIT.ok);
    };
    process.on("SIGINT", () => void stop("SIGINT"));
    process.on("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGHUP", () => void reload(file, app, log, notify));
  });
}

async function reload(
  file: string,
  app: Awaited<ReturnType<typeof buildApp>>,
  log: Logger,
  notify: SdNotify,
): Promise<void> {
  await notify.reloading();
  try {
    const next = loadConfig(file, { hostChecks: "warn" });
    for (const w of next.warnings) log.warn(w);
    await app.reload(next.config);
    log.info({ config: file }, "config reloaded");
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) log.error({ problem: formatProblem(p) }, "reload refused: config invalid");
      log.error({ problems: e.problems.length }, "reload refused: keeping the running config");
    } else log.error({ err: String(e) }, "reload failed: keeping the running config");
  }
  await notify.ready("reloaded");
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    out(HELP);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (command === "--version" || command === "-V") {
    out(version());
    return EXIT.ok;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    out(HELP);
    return EXIT.ok;
  }
  try {
    switch (command) {
      case "run":
        return await cmdRun(rest);
      case "check":
        return await cmdCheck(rest);
      case "ctl":
        return await cmdCtl(rest);
      case "schema":
        out(rest.includes("--markdown") ? configReference() : JSON.stringify(jsonSchema(), null, 2));
        return EXIT.ok;
      default: {
        const extra = cliCommands[command];
        if (extra) {
          const r = await extra(rest);
          if (r.stdout) process.stdout.write(r.stdout);
          if (r.stderr) process.stderr.write(r.stderr);
          return r.code;
        }
        err(`unknown command "${command}"\n`);
        err(HELP);
        return EXIT.usage;
      }
    }
  } catch (e) {
    if (
      e instanceof Error &&
      "code" in e &&
      (e as NodeJS.ErrnoException).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
    ) {
      err(e.message);
      return EXIT.usage;
    }
    err(`cuffia: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return EXIT.fatal;
  }
}
