/**
 * The composition root: builds the sides present in the config, wires them to the desk through
 * the runner, and applies a reloaded config. The only module that imports implementations.
 *
 * Start order: headset, presence, LCD, SIP, control. Stop runs in reverse: the control socket
 * closes first, the call is ended and the account unregistered, the LCD shows the desk offline,
 * presence publishes offline and closes, the headset is released last.
 */
import type { Readable, Writable } from "node:stream";
import { policyFromConfig } from "./config/policy.js";
import type { Config } from "./config/schema.js";
import { ControlServer } from "./control/control-server.js";
import { initialState } from "./core/desk.js";
import { Runner } from "./core/runner.js";
import type { Emit, Side } from "./core/side.js";
import type { HidBackend } from "./headset/hid-device.js";
import type { Logger } from "./log/logger.js";
import { StatusFile } from "./store/status-file.js";

export interface AppOptions {
  readonly clock?: () => number;
  /** The terminal the keyboard headset reads and the terminal LCD draws on (default stdin/stdout). */
  readonly terminal?: {
    readonly input: Readable;
    readonly output: Writable;
    readonly interrupt?: () => void;
  };
  /** The HID backend under the headset side (tests put a fake device with a real descriptor here). */
  readonly hidBackend?: HidBackend;
}

export interface App {
  readonly runner: Runner;
  readonly config: Config;
  start(): Promise<void>;
  stop(timeoutMs?: number): Promise<void>;
  /** Applies a new config: policy at once, side changes when it is safe (SIP only while idle). */
  reload(next: Config): Promise<void>;
}

type SideKey = "headset" | "mqtt" | "lcd" | "sip";

/** Builds one side from the config, or none when its section is absent. */
type SideFactory = (
  config: Config,
  log: Logger,
  options: AppOptions,
  desk: { readonly dispatch: Emit },
) => Promise<Side | undefined>;

/**
 * Factories of the optional sides, filled in by the side modules' wiring (src/wiring.ts).
 * Kept as a table so a side's construction lives in one place and the app stays small.
 */
export const sideFactories: Partial<Record<SideKey, SideFactory>> = {};

const ORDER: readonly SideKey[] = ["headset", "mqtt", "lcd", "sip"];

export async function buildApp(config: Config, log: Logger, options: AppOptions = {}): Promise<App> {
  const clock = options.clock ?? Date.now;
  const statusFile = new StatusFile(config.state_dir);
  const persisted = statusFile.load();
  const runner = new Runner({
    initial: initialState(policyFromConfig(config), clock(), persisted),
    log: log.child("desk"),
    clock,
    statusStore: statusFile,
  });
  if (persisted) log.info({ status: persisted.status, reason: persisted.reason }, "agent status restored");

  const built = new Map<SideKey, Side>();
  for (const key of ORDER) {
    const make = sideFactories[key];
    if (!make || config[key] === undefined) continue;
    const side = await make(config, log, options, { dispatch: runner.dispatch });
    if (side) {
      built.set(key, side);
      runner.add(side);
    }
  }
  if (config.sip && !sideFactories.sip)
    log.warn("the SIP side is not built into this version: calls are off");

  const control = new ControlServer({
    socket: config.control.socket,
    agent: { id: config.agent.id, name: config.agent.name },
    log: log.child("control"),
    clock,
    details: () => ({ config_sections: Object.keys(config), sides: runner.sides.map((s) => s.name) }),
  });
  runner.add(control);

  // Timers on screen (call duration, wrap-up countdown) need a fresh projection every second.
  let ticker: NodeJS.Timeout | undefined;
  let current = config;

  const app: App = {
    runner,
    get config() {
      return current;
    },
    async start() {
      await runner.start();
      ticker = setInterval(() => runner.refresh(), 1000);
      ticker.unref();
    },
    async stop(timeoutMs = 5000) {
      clearInterval(ticker);
      await runner.stop(timeoutMs);
    },
    async reload(next) {
      runner.dispatch({ type: "policy_changed", policy: policyFromConfig(next) });
      const changed = ORDER.filter((k) => JSON.stringify(current[k]) !== JSON.stringify(next[k]));
      if (changed.length > 0)
        log.warn(
          { sections: changed },
          "these sections changed: restart the service to apply them (policy, pause reasons and transfer targets are applied now)",
        );
      current = next;
    },
  };
  return app;
}
