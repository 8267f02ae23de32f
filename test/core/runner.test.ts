import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { activity, currentCall } from "../../src/core/derive.js";
import { initialState } from "../../src/core/desk.js";
import { Runner, type Timers } from "../../src/core/runner.js";
import type { DeskInput, Policy } from "../../src/core/types.js";
import { memoryLogger, silentLogger } from "../../src/log/logger.js";
import { StatusFile } from "../../src/state-dir/status-file.js";
import { FakeSide } from "../fakes/fake-side.js";
import { samplePolicy } from "../samples.js";

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
    expect(activity(runner.state)).toBe("ringing");
    expect(runner.dispatch({ type: "command", command: { cmd: "answer" }, origin: "control" })).toEqual({
      ok: true,
    });
    expect(sip.executed).toEqual([
      { type: "sip", action: "ring", callId: "c1" },
      { type: "sip", action: "answer", callId: "c1" },
    ]);
    expect(lcd.projected.at(-1)?.line.kind).toBe("ringing");
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
    expect(activity(runner.state)).toBe("on_call");
    sip.emit?.({ type: "call_ended", callId: "c1", reason: "remote_hangup", stats: null, detail: null });
    expect(activity(runner.state)).toBe("wrap_up");
    timers.advance(29_999);
    expect(activity(runner.state)).toBe("wrap_up");
    timers.advance(1);
    expect(activity(runner.state)).toBe("idle");
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
    expect(activity(r.state)).toBe("ringing");
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
    expect(activity(runner.state)).toBe("on_call");
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

/** The SIP side as reconciliation sees it: the calls it holds, and the ones it was told to end. */
class CallHoldingSide extends FakeSide {
  live: string[] = [];
  readonly endedUnknown: Array<{ callId: string; detail: string }> = [];
  constructor() {
    super("sip", ["sip"]);
  }
  liveCalls(): readonly string[] {
    return this.live;
  }
  endUnknownCall(callId: string, detail: string): void {
    this.endedUnknown.push({ callId, detail });
    this.live = this.live.filter((id) => id !== callId);
  }
}

describe("reconciliation between the desk's call and the SIP sessions (issue 11)", () => {
  function reconciling() {
    const timers = new ManualTimers();
    const sip = new CallHoldingSide();
    const { log, lines } = memoryLogger("warn");
    const runner = new Runner({
      initial: initialState(policy, 0),
      log,
      timers,
      clock: () => timers.now,
      reconcileEveryMs: 10_000,
      reconcileGraceMs: 5_000,
    });
    runner.add(sip);
    const events: string[] = [];
    runner.subscribe((c) => {
      if (c.kind === "event" && c.event.type === "call.ended")
        events.push(`${c.event.call_id} ${c.event.end_reason}`);
    });
    return { runner, sip, timers, lines, events };
  }

  it("a desk call no SIP session holds is ended (dialog_lost once answered), after the grace, logged at warn", async () => {
    const { runner, sip, timers, lines, events } = reconciling();
    await runner.start();
    runner.dispatch({ type: "command", command: { cmd: "login" }, origin: "control" });
    sip.live = ["c1"];
    sip.emit?.(OFFER);
    sip.emit?.({ type: "call_answered", callId: "c1" });
    timers.advance(30_000); // three periodic checks: all consistent
    expect(activity(runner.state)).toBe("on_call");
    sip.live = []; // the session vanished without a call_ended (the ghost call)
    timers.advance(10_000); // seen once: within the grace, nothing happens
    expect(activity(runner.state)).toBe("on_call");
    timers.advance(10_000);
    expect(currentCall(runner.state)).toBeNull();
    expect(activity(runner.state)).toBe("wrap_up");
    expect(events).toEqual(["c1 dialog_lost"]);
    expect(lines.some((l) => l["level"] === "warn" && l["callId"] === "c1")).toBe(true);
  });

  it("a ringing desk call without a session ends as failed", async () => {
    const { runner, sip, timers, events } = reconciling();
    await runner.start();
    runner.dispatch({ type: "command", command: { cmd: "login" }, origin: "control" });
    sip.emit?.(OFFER); // the SIP side never held it
    runner.reconcile();
    timers.advance(5_000); // before the ring timeout (20 s) could end it
    runner.reconcile();
    expect(events).toEqual(["c1 failed"]);
    expect(activity(runner.state)).toBe("idle");
  });

  it("a SIP session the desk does not know is ended by its side; a hand-over shorter than the grace is not", async () => {
    const { runner, sip, timers, lines } = reconciling();
    await runner.start();
    runner.dispatch({ type: "command", command: { cmd: "login" }, origin: "control" });
    sip.live = ["c1"];
    sip.emit?.(OFFER);
    sip.emit?.({ type: "call_answered", callId: "c1" });
    // a second INVITE while on the call: held a moment by the SIP side while the desk refuses it
    sip.live = ["c1", "c2"];
    timers.advance(10_000);
    sip.live = ["c1"];
    timers.advance(10_000);
    expect(sip.endedUnknown).toEqual([]);
    // a session left behind (e.g. the desk ended the call while the SIP library was stuck)
    sip.live = ["c1", "stale"];
    timers.advance(10_000);
    timers.advance(10_000);
    expect(sip.endedUnknown).toEqual([
      { callId: "stale", detail: "reconciliation: the desk does not know this call" },
    ]);
    expect(currentCall(runner.state)?.id).toBe("c1");
    expect(lines.some((l) => l["level"] === "warn" && l["callId"] === "stale")).toBe(true);
  });

  it("a call_ended also triggers a check, so a session left behind goes within the grace, not the period", async () => {
    const { runner, sip, timers } = reconciling();
    await runner.start();
    runner.dispatch({ type: "command", command: { cmd: "login" }, origin: "control" });
    sip.live = ["c1"];
    sip.emit?.(OFFER);
    sip.emit?.({ type: "call_answered", callId: "c1" });
    timers.advance(9_000);
    sip.emit?.({ type: "call_ended", callId: "c1", reason: "remote_hangup", stats: null, detail: null });
    await Promise.resolve(); // the immediate check (a microtask) sees the session still held
    timers.advance(5_100);
    expect(sip.endedUnknown.map((e) => e.callId)).toEqual(["c1"]);
  });
});
