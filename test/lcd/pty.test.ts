/**
 * End to end over a real pseudo-terminal pair (socat), with the real serialport adapter on one
 * end and the virtual display reading the other: the screen follows the state with few bytes,
 * and an unplug/replug (socat killed, a new one on the same link path) is survived.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SerialPort } from "serialport";
import { afterAll, describe, expect, test } from "vitest";
import type { DeskInput } from "../../src/core/types.js";
import { SerialLcd } from "../../src/lcd/serial-lcd.js";
import { silentLogger } from "../../src/log/logger.js";
import { baseState, sampleQueues } from "../samples.js";
import { VirtualDisplay } from "./virtual-display.js";

const dir = mkdtempSync(join(tmpdir(), "cuffia-lcd-"));
const A = join(dir, "a");
const B = join(dir, "b");
const started: ChildProcess[] = [];

async function until(what: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function startSocat(): Promise<ChildProcess> {
  const p = spawn("socat", ["-d", "-d", `pty,raw,echo=0,link=${A}`, `pty,raw,echo=0,link=${B}`], {
    stdio: "ignore",
  });
  started.push(p);
  await until(() => existsSync(A) && existsSync(B));
  return p;
}

async function stopSocat(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once("exit", r));
  p.kill("SIGTERM");
  await gone;
}

/** The far end: what a person would read on the panel, and how many bytes came. */
async function panel(): Promise<{ vd: VirtualDisplay; bytes: () => number; close: () => Promise<void> }> {
  const vd = new VirtualDisplay("matrix-orbital", 20, 4, "a02");
  const port = new SerialPort({ path: B, baudRate: 9600, autoOpen: false });
  await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
  let n = 0;
  port.on("data", (b: Buffer) => {
    n += b.length;
    vd.feed(b);
  });
  port.on("error", () => undefined);
  return { vd, bytes: () => n, close: () => new Promise((r) => (port.isOpen ? port.close(() => r()) : r())) };
}

afterAll(async () => {
  for (const p of started) await stopSocat(p);
  rmSync(dir, { recursive: true, force: true });
});

describe("LCD over a socat pty pair", () => {
  test("queue change, unplug, replug", async () => {
    const socat1 = await startSocat();
    const far1 = await panel();
    const events: DeskInput[] = [];
    const lcd = new SerialLcd({
      options: {
        port: A,
        driver: "matrix-orbital",
        baud: 9600,
        cols: 20,
        rows: 4,
        charset: "a02",
        language: "it",
      },
      log: silentLogger,
      agentName: "Sportello 17",
      random: () => 0,
    });
    await lcd.start((i) => {
      events.push(i);
      return { ok: true };
    });
    expect(events).toEqual([{ type: "health", side: "lcd", up: true }]);

    // An empty queue: no timer runs, so only state changes write.
    const now = Date.now();
    const q = (waiting: number) => ({
      ...sampleQueues(now),
      waiting,
      longestWait: 40,
      receivedAt: now,
      byLanguage: {},
    });
    lcd.project(baseState(now, { queues: { ...q(0), waiting: 0 } }), now);
    await until(() => far1.vd.read()[1] === "Nessuno in coda     ");
    expect(far1.vd.read()[0]).toBe("Disponibile         ");
    expect(far1.vd.clears).toBe(1);

    lcd.project(baseState(now, { queues: q(3) }), now);
    await until(() => far1.vd.read()[1] === "In coda: 3  max 0:40");
    await lcd.idle();
    await new Promise((r) => setTimeout(r, 100));
    const before = far1.bytes();
    lcd.project(baseState(now, { queues: q(4) }), now);
    await until(() => far1.vd.read()[1] === "In coda: 4  max 0:40");
    await new Promise((r) => setTimeout(r, 100));
    const cost = far1.bytes() - before;
    // One goto (FE 47 c r) + one digit: 5 bytes, plus at most a timer second that ticked.
    expect(cost).toBeLessThanOrEqual(8);
    expect(far1.vd.clears).toBe(1);
    expect(far1.vd.errors).toEqual([]);

    // Unplug: the pty pair disappears.
    await far1.close();
    await stopSocat(socat1);
    await until(() => events.some((e) => e.type === "health" && "up" in e && !e.up), 5000);
    lcd.project(
      baseState(now, { queues: q(5), status: "paused", reason: "break", statusSince: now }),
      Date.now(),
    );

    // Replug on the same path: init again, and the whole current screen.
    const socat2 = await startSocat();
    const far2 = await panel();
    await until(() => events.filter((e) => e.type === "health").length === 3, 15_000);
    expect(events.at(-1)).toEqual({ type: "health", side: "lcd", up: true });
    await until(() => far2.vd.read()[1] === "Pausa breve         ", 5000);
    expect(far2.vd.read()[0]).toMatch(/^In pausa +0:0\d$/);
    expect(far2.vd.read()[2]).toMatch(/^In coda: 5 {2}max 0:4\d$/);
    expect(far2.vd.clears).toBe(1);
    expect(far2.vd.errors).toEqual([]);

    await lcd.stop();
    await far2.close();
    await stopSocat(socat2);
  }, 30_000);
});
