/**
 * `cuffia run [-c FILE]`: the daemon. Builds the app from the config, tells systemd when it is
 * ready, stops once on SIGINT/SIGTERM (a second signal or a hard timer forces the exit) and
 * reloads the config on SIGHUP, keeping the running one if the new one is invalid.
 */
import { parseArgs } from "node:util";
import { buildApp } from "../app.js";
import { ConfigError, formatProblem, loadConfig } from "../config/load.js";
import { createLogger, type Logger, type LogLevel } from "../log/logger.js";
import { SdNotify } from "../process/sd-notify.js";
import { configPath, EXIT, load, version } from "./io.js";

export async function runCommand(args: string[]): Promise<number> {
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
  // The signal handlers go in before READY=1: systemd may send SIGTERM the moment it reads it,
  // and a SIGTERM before them would kill the daemon without its clean stop (BYE, offline presence).
  const exited = new Promise<number>((resolve) => {
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
  await notify.ready(`agent ${loaded.config.agent.id}`);
  notify.startWatchdog(process.env, () => true);
  return exited;
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
