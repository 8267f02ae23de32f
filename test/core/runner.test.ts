import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { initialState } from "../../src/core/desk.js";
import { Runner, type Timers } from "../../src/core/runner.js";
import { samplePolicy } from "../../src/core/samples.js";
import type { DeskInput, Policy } from "../../src/core/types.js";
import { memoryLogger, silentLogger } from "../../src/log/logger.js";
import { StatusFile } from "../../src/store/status-file.js";
import { FakeSide } from "../fakes/fake-side.js";

const policy: Policy = {
  ...samplePolicy,
  pauseReasons: ["break"],
  notRespondingSeconds: 5,
  sides: { sip: true, headset: false, lcd: false, mqtt: false },
};

const OFFER: DeskInput = {
  type: "call_offered",
  callId: "c1",
  number: "1",
  displayName: null,
  queue: null,
  language: null,
  service: null,
  autoAnswer: false,
};

/** Manual timers: the test decides when time passes. */
class ManualTimers implements Timers {
  now = 0;
  pending = new Map<number, { at: number; fn: () => void }>();
  #id = 0;
  set(fn: () => void, ms: number): unknown {
    const id = ++this.#id;
    this.pending.set(id, { at: this.now + ms, fn });
    return id;
  }
  clear(h: unknown): void {
    this.pending.delete(h as number);
  }
  advance(ms: number): void {
    this.now += ms;
    for (const [id, t] of [...this.pending]) {
      if (t.at <= this.now) {
        this.pending.delete(id);
        t.fn();
      }
    }
  }
}

function setup() {
  const timers = new ManualTimers();
  const order: string[] = [];
  const sip = new FakeSide("sip", ["sip"], order);
  const lcd = new FakeSide("lcd", [], order);
  const runner = new Runner({
    initial: initialState(policy, 0),
    log: silentLogger,
    timers,
    clock: () => timers.now,
  });
  runner.add(sip);
  runner.add(lcd);
  return { runner, sip, lcd, timers, order };
}

describe("runner", () => {
  it("starts in order, projects, routes effects, stops in reverse", async () => {
    const { runner, sip, lcd, order } = setup();
    await runner.start();
    expect(lcd.projected).toHaveLength(1);
    expect(runner.dispatch({ type: "command", command: { cmd: "login" }, origin: "control" })).toEqual({
      ok: true,
    });
    sip.emit?.(OFFER);
    expect(runner.state.activity).toBe("ringing");
    expect(runner.dispatch({ type: "command", command: { cmd: "answer" }, origin: "control" })).toEqual({
      ok: true,
    });
    expect(sip.executed).toEqual([{ type: "sip", action: "answer", callId: "c1" }]);
    expect(lcd.projected.at(-1)?.activity).toBe("ringing");
    await runner.stop();
    expect(order).toEqual(["start sip", "start lcd", "stop lcd", "stop sip"]);
  });

  it("owns the timers: wrap-up ends by itself, a cancelled ring timer never fires", async () => {
    const { runner, sip, timers } = setup();
    await runner.start();
    sip.emit?.(OFFER);
    timers.advance(5000);
    sip.emit?.({ type: "call_answered", callId: "c1" });
    timers.advance(30_000); // the ring timer (20 s) was cancelled at answer
    expect(runner.state.activity).toBe("on_call");
    sip.emit?.({ type: "call_ended", callId: "c1", reason: "remote_hangup", stats: null, detail: null });
    expect(runner.state.activity).toBe("wrap_up");
    timers.advance(29_999);
    expect(runner.state.activity).toBe("wrap_up");
    timers.advance(1);
    expect(runner.state.activity).toBe("idle");
  });

  it("answers refused commands without changing anything", async () => {
    const { runner } = setup();
    await runner.start();
    const seq = runner.state.seq;
    expect(runner.dispatch({ type: "command", command: { cmd: "hangup" }, origin: "control" })).toMatchObject(
      {
        ok: false,
        error: { code: "no_call" },
      },
    );
    expect(runner.state.seq).toBe(seq);
  });

  it("a side that throws is reported in health, the others go on", async () => {
    const { runner, sip, lcd } = setup();
    const { log, lines } = memoryLogger();
    const r = new Runner({ initial: initialState(policy, 0), log });
    lcd.throwOnProject = true;
    r.add(sip);
    r.add(lcd);
    await r.start();
    sip.emit?.(OFFER);
    await new Promise((res) => setTimeout(res, 0));
    expect(r.state.activity).toBe("ringing");
    expect(r.state.health.faults["lcd"]).toBe("project: display on fire");
    expect(lines.some((l) => l["ns"] === "lcd" && l["msg"] === "side failed")).toBe(true);
    void runner;
  });

  it("an input emitted while an effect executes is stepped at once, its effects queued behind", async () => {
    const { runner, sip } = setup();
    await runner.start();
    sip.emit?.(OFFER);
    const original = sip.execute.bind(sip);
    sip.execute = (e) => {
      original(e);
      if (e.type === "sip" && e.action === "answer") sip.emit?.({ type: "call_answered", callId: "c1" });
    };
    runner.dispatch({ type: "command", command: { cmd: "answer" }, origin: "headset" });
    expect(runner.state.activity).toBe("on_call");
  });

  it("persists the agent status, and a restart comes back paused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cuffia-status-"));
    const store = new StatusFile(dir);
    const r = new Runner({ initial: initialState(policy, 0), log: silentLogger, statusStore: store });
    await r.start();
    r.dispatch({ type: "command", command: { cmd: "login" }, origin: "control" });
    expect(store.load()).toEqual({ status: "available", reason: null });
    expect(initialState(policy, 0, new StatusFile(dir).load())).toMatchObject({
      status: "paused",
      reason: "restart",
    });
  });
});
