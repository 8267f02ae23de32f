/**
 * Small process and polling helpers shared by the lab's starters. Waiting is always a polled
 * condition with a deadline, never a fixed sleep.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, openSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const execFileAsync = promisify(execFile);

/** Resolves after `ms`; only for the interval between two polls of a condition. */
/**
 * The repository's root (the folder of package.json) found from a module's own URL: the same from
 * the TypeScript sources under test/ (vitest) and from the demo's compiled copy
 * (test/demo-app/dist/, `npm run demo`), which sit at different depths.
 */
export function repoRoot(moduleUrl: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(moduleUrl)}`);
    dir = up;
  }
  return dir;
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a value other than undefined/false, or throws at the deadline. */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
    }
    await pause(intervalMs);
  }
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function tcpAccepts(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.setTimeout(1000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** True while a process with this pid exists (signal 0 probes without killing). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
}

/** Children still running; killed by pid if this process exits without stopping them. */
const running = new Set<number>();
let exitHookInstalled = false;

function trackChild(pid: number, exited: Promise<unknown>): void {
  running.add(pid);
  void exited.then(() => running.delete(pid));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of running) {
      try {
        process.kill(child, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

/** Spawns `command` with stdout and stderr appended to `logFile`. */
export function spawnLogged(
  command: string,
  args: readonly string[],
  logFile: string,
  options: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: "ignore" | "pipe" } = {},
): Spawned {
  const fd = openSync(logFile, "a");
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: [options.stdin ?? "ignore", fd, fd],
  });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
    child.once("error", (error) => resolve(`error: ${error.message}`));
  });
  trackChild(child.pid, exited);
  return { child, pid: child.pid, exited };
}

/**
 * Stops a process we started, by pid: each signal of `signals` in turn (default one SIGTERM),
 * waiting `graceMs` after each for the exit, then SIGKILL. Does nothing when it has exited.
 */
export async function stopProcess(
  spawned: Spawned,
  graceMs = 5000,
  signals: readonly NodeJS.Signals[] = ["SIGTERM"],
): Promise<void> {
  const gone = (): boolean => spawned.child.exitCode !== null || spawned.child.signalCode !== null;
  for (const signal of [...signals, "SIGKILL" as const]) {
    if (gone()) return;
    try {
      process.kill(spawned.pid, signal);
    } catch {
      return;
    }
    if (signal === "SIGKILL") break;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const outcome = await Promise.race([spawned.exited, timeout]);
    clearTimeout(timer);
    if (outcome !== "timeout") return;
  }
  await spawned.exited;
}

/**
 * Waits until a server we just spawned is `ready` (polled every 100 ms, up to 10 s). One that
 * exits first or never gets ready is stopped, and the error carries the tail of its log.
 */
export async function waitStarted(
  proc: Spawned,
  o: { name: string; what: string; logFile: string; ready: () => Promise<boolean> },
): Promise<void> {
  let exitedWith: number | string | null = null;
  void proc.exited.then((code) => {
    exitedWith = code;
  });
  try {
    await waitUntil(
      o.what,
      async () => {
        if (exitedWith !== null) throw new Error(`${o.name} exited (${exitedWith}) during start`);
        return o.ready();
      },
      10_000,
      100,
    );
  } catch (error) {
    await stopProcess(proc);
    const log = await readFile(o.logFile, "utf8").catch(() => "");
    throw new Error(
      `${(error as Error).message}\n--- ${o.logFile} (tail)\n${log.split("\n").slice(-25).join("\n")}`,
    );
  }
}

/** Which of these commands are not on PATH. */
export async function missingCommands(commands: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const command of commands) {
    try {
      await execFileAsync("sh", ["-c", `command -v ${command}`]);
    } catch {
      missing.push(command);
    }
  }
  return missing;
}
