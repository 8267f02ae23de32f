/**
 * The composition root: builds the sides present in the config, wires them to the desk through
 * the runner, and applies a reloaded config. With src/wiring.ts (one build function per side), the
 * only code that imports implementations.
 *
 * Start order: headset, presence, LCD, SIP, control. Stop runs in reverse: the control socket
 * closes first, the call is ended and the account unregistered, the LCD shows the desk offline,
 * presence publishes offline and closes, the headset is released last.
 */
import { policyFromConfig } from "./config/policy.js";
import type { Config } from "./config/schema.js";
import { ControlServer, controlOptionsFromConfig } from "./control/control-server.js";
import { currentCall } from "./core/derive.js";
import { initialState } from "./core/desk.js";
import { Runner } from "./core/runner.js";
import type { Side } from "./core/side.js";
import type { Logger, LogLevel } from "./log/logger.js";
import { OpenCallFile } from "./state-dir/open-call-file.js";
import { SeqReserve } from "./state-dir/seq-reserve.js";
import { StatusFile } from "./state-dir/status-file.js";
import { type BuildSide, buildHeadset, buildLcd, buildPresence, buildSip, type SideEnv } from "./wiring.js";

export interface AppOptions extends Omit<SideEnv, "dispatch"> {
  readonly clock?: () => number;
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

/** How each optional side is built (src/wiring.ts); a side whose section is absent is not built. */
const BUILD: Readonly<Record<SideKey, BuildSide>> = {
  headset: buildHeadset,
  mqtt: buildPresence,
  lcd: buildLcd,
  sip: buildSip,
};

/** Start order; stop runs in reverse. */
const KEYS: ReadonlyArray<SideKey | "control"> = ["headset", "mqtt", "lcd", "sip", "control"];

/** The config parts each side is built from: a reload rebuilds a side when one of them changed. */
function inputsOf(key: SideKey | "control", c: Config): unknown {
  switch (key) {
    case "headset":
      return c.headset;
    case "mqtt":
      return [c.mqtt, c.agent, c.state_dir];
    case "lcd":
      return [c.lcd, c.agent];
    case "sip": {
      const usesHeadsetCard = JSON.stringify(c.audio).includes('"headset"');
      return [c.sip, c.rtp, c.audio, usesHeadsetCard ? c.headset : null];
    }
    case "control":
      return [c.control, c.agent];
  }
}

function dependsChanged(key: SideKey | "control", a: Config, b: Config): boolean {
  return JSON.stringify(inputsOf(key, a)) !== JSON.stringify(inputsOf(key, b));
}

function sectionsOf(c: Config): string[] {
  return (["sip", "headset", "lcd", "mqtt"] as const).filter((k) => c[k] !== undefined);
}

export async function buildApp(config: Config, log: Logger, options: AppOptions = {}): Promise<App> {
  const clock = options.clock ?? Date.now;
  const statusFile = new StatusFile(config.state_dir);
  const persisted = statusFile.load();
  const openCalls = new OpenCallFile(config.state_dir, log.child("store"));
  const leftOpen = openCalls.load();
  const seqs = await SeqReserve.open(config.state_dir, log.child("store"));
  const runner = new Runner({
    initial: initialState(policyFromConfig(config), clock(), persisted, seqs.start),
    log: log.child("desk"),
    clock,
    statusStore: statusFile,
  });
  if (persisted) log.info({ status: persisted.status, reason: persisted.reason }, "agent status restored");
  if (leftOpen)
    log.warn({ call: leftOpen.id }, "a call was open when the daemon stopped: ending it (desk_restart)");
  runner.subscribe((change) => {
    if (change.kind !== "state") return;
    openCalls.track(currentCall(change.state), clock());
    seqs.follow(change.state.seq);
  });

  const built = new Map<SideKey | "control", Side>();
  const makeControl = (c: Config): Side =>
    new ControlServer({
      ...controlOptionsFromConfig(c),
      log: log.child("control"),
      clock,
      details: () => ({ sides: runner.sides.map((s) => s.name), config_sections: sectionsOf(c) }),
    });
  const make = async (key: SideKey | "control", c: Config): Promise<Side | undefined> => {
    if (key === "control") return makeControl(c);
    if (c[key] === undefined) return undefined;
    return BUILD[key](c, log, { ...options, dispatch: runner.dispatch });
  };
  for (const key of KEYS) {
    const side = await make(key, config);
    if (side) {
      built.set(key, side);
      runner.add(side);
    }
  }

  // Timers on screen (call duration, wrap-up countdown) need a fresh projection every second.
  let ticker: NodeJS.Timeout | undefined;
  let current = config;
  /** A SIP change that waits for the line to be idle: a reload never drops a call. */
  let deferredSip: Config | undefined;

  const rebuild = async (key: SideKey | "control", c: Config): Promise<void> => {
    const old = built.get(key);
    const next = await make(key, c);
    if (old && next) await runner.replace(old, next);
    else if (next) {
      // In start order: after every present side that comes before it.
      const before = KEYS.slice(0, KEYS.indexOf(key))
        .map((k) => built.get(k))
        .filter((x): x is Side => x !== undefined);
      const last = before.at(-1);
      await runner.attach(next, last ? runner.sides.indexOf(last) + 1 : 0);
    } else if (old) await runner.detach(old);
    if (next) built.set(key, next);
    else built.delete(key);
    log.info({ side: key, action: old && next ? "restarted" : next ? "added" : "removed" }, "config applied");
  };

  runner.subscribe((change) => {
    if (change.kind !== "state" || !deferredSip || currentCall(change.state)) return;
    const c = deferredSip;
    deferredSip = undefined;
    log.info("the call ended: applying the SIP changes of the last reload");
    void rebuild("sip", c);
  });

  const app: App = {
    runner,
    get config() {
      return current;
    },
    async start() {
      await runner.start();
      // The previous run's leftovers, now that the outbox is open: its call ends, its pause shows.
      runner.dispatch({ type: "desk_restarted", previous: persisted, openCall: leftOpen });
      if (leftOpen && !currentCall(runner.state)) openCalls.clear();
      ticker = setInterval(() => {
        runner.refresh();
        openCalls.touch(clock());
      }, 1000);
      ticker.unref();
    },
    async stop(timeoutMs = 5000) {
      clearInterval(ticker);
      await runner.stop(timeoutMs);
      await openCalls.flush();
      await seqs.close(runner.state.seq);
    },
    async reload(next) {
      const prev = current;
      current = next;
      log.setLevel(next.log.level as LogLevel);
      runner.dispatch({ type: "policy_changed", policy: policyFromConfig(next) });
      for (const key of KEYS) {
        if (!dependsChanged(key, prev, next)) continue;
        if (key === "sip" && currentCall(runner.state)) {
          deferredSip = next;
          log.info("SIP, RTP or audio settings changed during a call: they apply when the call ends");
          continue;
        }
        if (key === "sip") deferredSip = undefined;
        await rebuild(key, next);
      }
    },
  };
  return app;
}
