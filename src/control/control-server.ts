/**
 * The control socket: a Unix socket speaking JSON lines, for `cuffia ctl`, scripts on the box and
 * tests. Up to `maxClients` clients at once (one more gets an error line and is closed, so idle
 * connections cannot exhaust the daemon's descriptors); a client that sends garbage gets an error
 * line, never a crash; a line over MAX_LINE gets one error line and the connection is closed;
 * `subscribe` keeps the connection and streams every state change and call event.
 */
import { chmodSync, mkdirSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { dirname, relative, resolve, sep } from "node:path";
import { everyKeyRead } from "../config/every-key-read.js";
import type { Config } from "../config/schema.js";
import { currentCall } from "../core/derive.js";
import { type AgentIdentity, presenceDocument } from "../core/presence-document.js";
import type { Emit, Side } from "../core/side.js";
import type { Call, DeskState, Effect } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import { errorAnswer, MAX_LINE, parseRequest } from "./protocol.js";

/** Default cap of concurrent clients (config `control.max_clients`). */
export const DEFAULT_MAX_CLIENTS = 32;
/** A refused client that does not close its end is cut off after this. */
const REFUSED_LINGER_MS = 1000;
/** At most one "too many clients" log line per this interval. */
const REFUSAL_LOG_MS = 10_000;

export interface ControlOptions {
  readonly socket: string;
  readonly agent: AgentIdentity;
  readonly log: Logger;
  /** Local details added to `status` (registration, devices, version...). */
  readonly details?: () => Record<string, unknown>;
  readonly clock?: () => number;
  /** Concurrent clients served; one more is refused. Default DEFAULT_MAX_CLIENTS. */
  readonly maxClients?: number;
  /**
   * A client that is not subscribed and sends nothing for this long is closed (one error line),
   * so connections left open cannot hold the `max_clients` places for good. Default
   * DEFAULT_IDLE_MS.
   */
  readonly idleMs?: number;
}

/** An idle client (not subscribed) is closed after a minute: `ctl` answers in milliseconds. */
export const DEFAULT_IDLE_MS = 60_000;
/** The `control:` section (and the agent) as the control socket takes them. */
export function controlOptionsFromConfig(
  config: Config,
): Pick<ControlOptions, "socket" | "maxClients" | "agent"> {
  const { socket, max_clients, ...rest } = config.control;
  everyKeyRead(rest);
  return { socket, maxClients: max_clients, agent: { id: config.agent.id, name: config.agent.name } };
}

export class ControlServer implements Side {
  readonly name = "control";
  readonly handles = ["event"] as const;
  #server: Server | undefined;
  #emit: Emit | undefined;
  #state: DeskState | undefined;
  readonly #clients = new Set<Socket>();
  readonly #subscribers = new Set<Socket>();
  readonly #o: ControlOptions;
  readonly #clock: () => number;
  #refusedSinceLog = 0;
  #lastRefusalLog = Number.NEGATIVE_INFINITY;

  constructor(o: ControlOptions) {
    this.#o = o;
    this.#clock = o.clock ?? Date.now;
  }

  async start(emit: Emit): Promise<void> {
    if (this.#server) return;
    this.#emit = emit;
    const path = this.#o.socket;
    makeFolder(dirname(path));
    await removeStaleSocket(path);
    const server = createServer((sock) => this.#accept(sock));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
    // 0660: the service user and its group (IT's scripts) may talk to the desk, nobody else.
    chmodSync(path, 0o660);
    server.on("error", (e) => this.#o.log.error({ err: e.message }, "control socket error"));
    this.#server = server;
    this.#o.log.info({ socket: path }, "control socket listening");
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const c of this.#clients) c.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      unlinkSync(this.#o.socket);
    } catch {
      // already gone
    }
  }

  project(state: DeskState, now: number): void {
    const prev = this.#state;
    this.#state = state;
    if (prev && prev.seq === state.seq) return; // a refresh, not a change
    if (this.#subscribers.size === 0) return;
    this.#broadcast({ event: "state", presence: presenceDocument(state, this.#o.agent, now) });
  }

  execute(effect: Effect): void {
    if (effect.type !== "event" || this.#subscribers.size === 0) return;
    this.#broadcast({ event: effect.event.type, ts: new Date(this.#clock()).toISOString(), ...effect.event });
  }

  #broadcast(msg: Record<string, unknown>): void {
    const line = `${JSON.stringify(msg)}\n`;
    for (const s of this.#subscribers) {
      // A subscriber that stopped reading is dropped rather than buffered without bound.
      if (s.writableLength > 1024 * 1024) {
        s.destroy();
        continue;
      }
      s.write(line);
    }
  }

  #accept(sock: Socket): void {
    sock.on("error", () => sock.destroy());
    const max = this.#o.maxClients ?? DEFAULT_MAX_CLIENTS;
    if (this.#clients.size >= max) {
      // A flood of refused clients is logged once per REFUSAL_LOG_MS, with the count.
      this.#refusedSinceLog++;
      const now = this.#clock();
      if (now - this.#lastRefusalLog >= REFUSAL_LOG_MS) {
        this.#o.log.warn(
          { clients: this.#clients.size, max, refused: this.#refusedSinceLog },
          "control socket: too many clients (control.max_clients), new ones refused",
        );
        this.#lastRefusalLog = now;
        this.#refusedSinceLog = 0;
      }
      this.#refuse(
        sock,
        errorAnswer(
          null,
          "too_many_clients",
          `${max} clients are connected already (control.max_clients): try again later`,
        ),
      );
      return;
    }
    this.#clients.add(sock);
    sock.setTimeout(this.#o.idleMs ?? DEFAULT_IDLE_MS);
    sock.on("timeout", () => {
      if (this.#subscribers.has(sock)) return;
      this.#refuse(sock, errorAnswer(null, "idle", "nothing asked for too long: closing"));
    });
    sock.on("close", () => {
      this.#clients.delete(sock);
      this.#subscribers.delete(sock);
    });
    sock.setEncoding("utf8");
    let buf = "";
    let refused = false;
    sock.on("data", (chunk: string) => {
      if (refused) return; // the rest of an over-long line, read until the close
      buf += chunk;
      let tooLong = false;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl).replace(/\r$/, "");
        buf = buf.slice(nl + 1);
        if (line.length > MAX_LINE) {
          tooLong = true;
          break;
        }
        if (line.trim() === "") continue;
        this.#answer(sock, line);
      }
      // A line over the limit, complete or not: one error line, then the connection is closed
      // (skipping to the next newline answered a 10 MB line with one error per chunk).
      if (tooLong || buf.length > MAX_LINE) {
        refused = true;
        buf = "";
        this.#refuse(sock, errorAnswer(null, "line_too_long", `line longer than ${MAX_LINE} bytes: closing`));
      }
    });
  }

  /** Sends one error line and closes; a peer that does not close its end is cut off soon after. */
  #refuse(sock: Socket, answer: unknown): void {
    // A client being closed holds no place any more (its close event may come a little later).
    this.#clients.delete(sock);
    this.#subscribers.delete(sock);
    if (sock.destroyed) return;
    sock.end(`${JSON.stringify(answer)}\n`);
    setTimeout(() => sock.destroy(), REFUSED_LINGER_MS).unref();
  }

  #answer(sock: Socket, line: string): void {
    let req: ReturnType<typeof parseRequest>;
    try {
      req = parseRequest(line);
    } catch (e) {
      req = errorAnswer(null, "bad_request", String(e));
    }
    if ("ok" in req) return this.#send(sock, req);
    const now = this.#clock();
    switch (req.kind) {
      case "status": {
        const state = this.#state;
        if (!state) return this.#send(sock, errorAnswer(req.id, "not_available", "the desk is starting"));
        return this.#send(sock, {
          id: req.id,
          ok: true,
          ...presenceDocument(state, this.#o.agent, now),
          local: { ...this.#localDetails(state), ...(this.#o.details?.() ?? {}) },
        });
      }
      case "subscribe": {
        this.#subscribers.add(sock);
        sock.setTimeout(0); // a subscriber listens for as long as it likes
        this.#send(sock, { id: req.id, ok: true });
        if (this.#state)
          this.#send(sock, { event: "state", presence: presenceDocument(this.#state, this.#o.agent, now) });
        return;
      }
      case "desk": {
        const emit = this.#emit;
        if (!emit) return this.#send(sock, errorAnswer(req.id, "not_available", "the desk is starting"));
        const out = emit({ type: "command", command: req.command, origin: "control" });
        return this.#send(
          sock,
          out.ok ? { id: req.id, ok: true } : { id: req.id, ok: false, error: out.error },
        );
      }
    }
  }

  #localDetails(state: DeskState): Record<string, unknown> {
    return {
      pid: process.pid,
      missed_in_a_row: state.missed,
      queues: state.queues,
      faults: state.health.faults,
      audio_xruns: audioXruns(state),
      caller: callerOf(currentCall(state)),
    };
  }

  #send(sock: Socket, msg: unknown): void {
    if (!sock.destroyed) sock.write(`${JSON.stringify(msg)}\n`);
  }
}

/** The call's sound card xruns for `ctl status` (null without a call on a card). */
function audioXruns(state: DeskState): Record<string, unknown> | null {
  const a = state.health.audio;
  if (!a) return null;
  return {
    call: a.callId,
    underruns: a.underruns,
    overruns: a.overruns,
    last_minute: a.lastMinute,
    degraded: a.degraded,
  };
}

/**
 * Creates the socket's folder when it is missing, 0750 (the service user and its group) whatever
 * the umask; a folder that exists (systemd's RuntimeDirectory=) keeps its own mode.
 */
function makeFolder(dir: string): void {
  const first = mkdirSync(dir, { recursive: true, mode: 0o750 });
  if (first === undefined) return;
  // mkdir's mode is masked by the umask: set it on every folder created, the first one down.
  let d = resolve(first);
  chmodSync(d, 0o750);
  for (const part of relative(d, resolve(dir)).split(sep).filter(Boolean)) {
    d = resolve(d, part);
    chmodSync(d, 0o750);
  }
}

/**
 * A socket file left by a daemon that died is removed; one that answers belongs to a running
 * daemon, and starting a second one on the same socket is refused.
 */
async function removeStaleSocket(path: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
  if (alive) throw new Error(`another daemon is listening on ${path}`);
  try {
    unlinkSync(path);
  } catch {
    // nothing there
  }
}

function callerOf(call: Call | null): { number: string | null; name: string | null } | null {
  return call ? { number: call.number, name: call.displayName } : null;
}
