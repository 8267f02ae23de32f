/**
 * Shared pieces of the presence integration tests and benchmarks: a real desk (Runner + core +
 * MqttPresence), an MQTT watcher that records what a supervisor would see, polling helpers,
 * and a compiled copy of the child desk for kill -9 tests.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { initialState } from "../../src/core/desk.js";
import { Runner } from "../../src/core/runner.js";
import type { Command, Policy } from "../../src/core/types.js";
import { type Logger, silentLogger } from "../../src/log/logger.js";
import { MqttPresence } from "../../src/presence/mqtt-presence.js";
import type { PresenceOptions } from "../../src/presence/options.js";
import { samplePolicy } from "../samples.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export const policy: Policy = {
  ...samplePolicy,
  pauseReasons: ["break", "lunch", "training"],
  autoPauseAfterMissed: 0,
  notRespondingSeconds: 5,
  sides: { sip: true, headset: false, lcd: false, mqtt: true },
};

export function presenceOptions(url: string, over: Partial<PresenceOptions> = {}): PresenceOptions {
  return {
    url,
    topicPrefix: "cuffia",
    queues: ["sociale", "casa"],
    protocolVersion: 5,
    keepaliveSeconds: 15,
    statsStaleSeconds: 60,
    outboxMaxBytes: 1 << 20,
    ...over,
  };
}

export interface Desk {
  readonly runner: Runner;
  readonly presence: MqttPresence;
  readonly stateDir: string;
  command(command: Command): ReturnType<Runner["dispatch"]>;
  stop(): Promise<void>;
}

export async function tempDir(name: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `cuffia-${name}-`));
}

export async function startDesk(o: {
  url: string;
  agentId?: string;
  stateDir?: string;
  options?: Partial<PresenceOptions>;
  log?: Logger;
}): Promise<Desk> {
  const stateDir = o.stateDir ?? (await tempDir("desk"));
  const log = o.log ?? silentLogger;
  const runner = new Runner({ initial: initialState(policy, Date.now()), log });
  const presence = new MqttPresence({
    options: presenceOptions(o.url, o.options),
    agent: { id: o.agentId ?? "desk-17", name: "Sportello 17" },
    stateDir,
    log: log.child("presence"),
  });
  runner.add(presence);
  await runner.start();
  return {
    runner,
    presence,
    stateDir,
    command: (command) => runner.dispatch({ type: "command", command, origin: "control" }),
    stop: () => runner.stop(),
  };
}

export interface Seen {
  readonly topic: string;
  readonly text: string;
  readonly json: Record<string, unknown> | null;
  readonly retain: boolean;
  readonly at: number;
  readonly properties: Record<string, unknown> | undefined;
}

/** A supervisor's view: every message on the given filters, in arrival order. */
export class Watcher {
  readonly seen: Seen[] = [];
  private constructor(readonly client: MqttClient) {}

  static async connect(url: string, filters: string[], opts: IClientOptions = {}): Promise<Watcher> {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 200, protocolVersion: 5, ...opts });
    const w = new Watcher(client);
    client.on("message", (topic, payload, packet) => {
      const text = payload.toString("utf8");
      let json: Record<string, unknown> | null = null;
      try {
        json = text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : null;
      } catch {
        json = null;
      }
      w.seen.push({
        topic,
        text,
        json,
        retain: packet.retain,
        at: Date.now(),
        properties: packet.properties as never,
      });
    });
    client.on("error", () => {});
    if (filters.length > 0) await client.subscribeAsync(filters, { qos: 1 });
    return w;
  }

  on(topic: string): Seen[] {
    return this.seen.filter((s) => s.topic === topic);
  }

  last(topic: string): Seen | undefined {
    return this.on(topic).at(-1);
  }

  async waitFor(what: string, pred: (s: Seen) => boolean, timeoutMs = 10_000, from = 0): Promise<Seen> {
    return waitUntil(what, () => this.seen.slice(from).find(pred), timeoutMs);
  }

  publish(
    topic: string,
    payload: string | Buffer,
    opts: mqtt.IClientPublishOptions = { qos: 1 },
  ): Promise<unknown> {
    return this.client.publishAsync(topic, payload, opts);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Polls `check` until it yields a value (never a fixed sleep), or throws at the deadline. */
export async function waitUntil<T>(
  what: string,
  check: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false && v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Reads the retained message of a topic with a fresh connection (what a newcomer would see). */
export async function retained(url: string, topic: string, opts: IClientOptions = {}): Promise<Seen | null> {
  const w = await Watcher.connect(url, [], opts);
  try {
    await w.client.subscribeAsync(topic, { qos: 1 });
    // Retained messages are sent right after SUBACK; the PUBACK of a later publish is the fence.
    await new Promise<void>((r) => {
      w.client.publish(`cuffia/fence/${Math.random()}`, "", { qos: 1 }, () => r());
    });
    return w.on(topic).at(-1) ?? null;
  } finally {
    await w.close();
  }
}

// --- the child desk (kill -9 tests) ---------------------------------------------------------

const run = promisify(execFile);
let built: Promise<string> | null = null;
const buildDir = join(ROOT, "node_modules", ".cache", `cuffia-presence-child-${process.pid}`);

/** Removes the compiled child (call from afterAll: vitest workers may not run exit handlers). */
export async function removeChildBuild(): Promise<void> {
  built = null;
  await rm(buildDir, { recursive: true, force: true });
}

/**
 * Node 20 cannot run TypeScript, so the child desk is compiled with tsc into a private folder
 * under node_modules/.cache (so `mqtt`, `zod`... resolve from the repo's node_modules), leaving
 * the shared dist/ alone. Compiled once per test process.
 */
export function buildChild(): Promise<string> {
  built ??= (async () => {
    const dir = buildDir;
    await mkdir(dir, { recursive: true });
    const tsconfig = join(dir, "tsconfig.json");
    await writeFile(
      tsconfig,
      JSON.stringify({
        extends: join(ROOT, "tsconfig.json"),
        compilerOptions: { rootDir: ROOT, outDir: join(dir, "out"), noEmit: false, sourceMap: false },
        include: [],
        files: [
          join(ROOT, "test/presence/fixtures/desk-child.ts"),
          join(ROOT, "test/presence/fixtures/app-child.ts"),
        ],
      }),
    );
    await run(join(ROOT, "node_modules/.bin/tsc"), ["-p", tsconfig], { cwd: ROOT });
    return join(dir, "out/test/presence/fixtures/desk-child.js");
  })();
  return built;
}

/**
 * A child that answers in JSON lines on stdout: the lines read so far, and its end by SIGKILL (a
 * power cut) or SIGTERM (a clean stop), each resolving once it has exited.
 */
function jsonLines(child: ChildProcess): {
  lines: Array<Record<string, unknown>>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
} {
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let buffer = "";
  const lines: Array<Record<string, unknown>> = [];
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
      lines.push(JSON.parse(buffer.slice(0, i)) as Record<string, unknown>);
      buffer = buffer.slice(i + 1);
    }
  });
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
    await exited;
  };
  return { lines, kill9: () => end("SIGKILL"), stop: () => end("SIGTERM") };
}

export interface ChildDesk {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Sends a desk command; resolves once its events are on disk. */
  command(command: Command): Promise<{ ok: boolean; seq: number }>;
  waitConnected(): Promise<void>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export async function spawnDesk(args: {
  url: string;
  stateDir: string;
  agentId: string;
  options?: Partial<PresenceOptions>;
}): Promise<ChildDesk> {
  const script = await buildChild();
  const child = spawn(process.execPath, [script, JSON.stringify(args)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const { lines, kill9, stop } = jsonLines(child);
  let n = 0;
  await waitUntil("child desk started", () => lines.find((l) => l.started === true), 20_000);
  return {
    child,
    pid: child.pid!,
    async command(command) {
      const id = ++n;
      child.stdin!.write(JSON.stringify({ id, command }) + "\n");
      const r = await waitUntil(`child answer ${id}`, () => lines.find((l) => l.id === id));
      return { ok: r.ok === true, seq: Number(r.seq) };
    },
    async waitConnected() {
      child.stdin!.write(JSON.stringify({ id: 0, connected: true }) + "\n");
      await waitUntil("child connected", () => lines.find((l) => l.connected === true), 20_000);
    },
    kill9,
    stop,
  };
}

export interface AppChild {
  readonly pid: number;
  /** The desk's seq when it had started (above every seq of the earlier runs: desk.seq). */
  readonly startSeq: number;
  /** Feeds a desk input (as the SIP side would); resolves once its effects are on disk. */
  input(input: import("../../src/core/types.js").DeskInput): Promise<{ ok: boolean; seq: number }>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** The whole daemon (buildApp) in a child process, from a config YAML (app-child.ts). */
export async function spawnApp(configYaml: string): Promise<AppChild> {
  const script = (await buildChild()).replace(/desk-child\.js$/, "app-child.js");
  const child = spawn(process.execPath, [script, configYaml], { stdio: ["pipe", "pipe", "inherit"] });
  const { lines, kill9, stop } = jsonLines(child);
  const started = await waitUntil("app child started", () => lines.find((l) => l.started === true), 30_000);
  let n = 0;
  return {
    pid: child.pid!,
    startSeq: Number(started.seq),
    async input(input) {
      const id = ++n;
      child.stdin!.write(JSON.stringify({ id, input }) + "\n");
      const r = await waitUntil(`app child answer ${id}`, () => lines.find((l) => l.id === id));
      return { ok: r.ok === true, seq: Number(r.seq) };
    },
    kill9,
    stop,
  };
}
