/**
 * sd_notify(3) for `Type=notify` units. Node cannot send AF_UNIX datagrams, so the messages go
 * through systemd's own `systemd-notify` helper (the unit sets `NotifyAccess=all`, as the helper
 * is a child process; `--pid` names us as the main process). Without NOTIFY_SOCKET nothing is sent.
 */
import { spawn } from "node:child_process";
import type { Logger } from "../log/logger.js";

export class SdNotify {
  readonly #socket: string | undefined;
  readonly #log: Logger;
  readonly #bin: string;
  #watchdog: NodeJS.Timeout | undefined;

  constructor(env: NodeJS.ProcessEnv, log: Logger, bin = "systemd-notify") {
    this.#socket = env["NOTIFY_SOCKET"];
    this.#log = log;
    this.#bin = bin;
  }

  get enabled(): boolean {
    return this.#socket !== undefined;
  }

  /** Sends `KEY=value` lines; resolves when the helper exited (never rejects). */
  send(...fields: string[]): Promise<void> {
    if (!this.#socket) return Promise.resolve();
    return new Promise((resolve) => {
      const child = spawn(this.#bin, [`--pid=${process.pid}`, ...fields], {
        stdio: "ignore",
        env: { ...process.env, NOTIFY_SOCKET: this.#socket },
      });
      child.once("error", (e) => {
        this.#log.warn({ err: e.message }, "sd_notify failed");
        resolve();
      });
      child.once("exit", (code) => {
        if (code !== 0) this.#log.warn({ code }, "sd_notify failed");
        resolve();
      });
    });
  }

  ready(status: string): Promise<void> {
    return this.send("READY=1", `STATUS=${status}`);
  }

  stopping(): Promise<void> {
    return this.send("STOPPING=1");
  }

  reloading(): Promise<void> {
    return this.send("RELOADING=1");
  }

  /** Pings the watchdog at half of WATCHDOG_USEC while `alive()` holds. */
  startWatchdog(env: NodeJS.ProcessEnv, alive: () => boolean): void {
    const usec = Number(env["WATCHDOG_USEC"]);
    if (!this.#socket || !Number.isFinite(usec) || usec <= 0) return;
    const pid = env["WATCHDOG_PID"];
    if (pid && Number(pid) !== process.pid) return;
    this.#watchdog = setInterval(
      () => {
        if (alive()) void this.send("WATCHDOG=1");
      },
      Math.max(1000, usec / 2000),
    );
    this.#watchdog.unref();
  }

  stopWatchdog(): void {
    clearInterval(this.#watchdog);
  }
}
