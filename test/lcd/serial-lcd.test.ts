import { describe, expect, test } from "vitest";
import type { DeskInput } from "../../src/core/types.js";
import type { LcdOptions } from "../../src/lcd/options.js";
import type { LcdPort, OpenPort } from "../../src/lcd/port.js";
import { type LcdClock, SerialLcd } from "../../src/lcd/serial-lcd.js";
import { SAMPLE_NOW, sampleState } from "../../src/lcd/situations.js";
import { silentLogger } from "../../src/log/logger.js";
import { baseState } from "../samples.js";
import { VirtualDisplay } from "./virtual-display.js";

/** A manual clock: timers fire only when the test advances time. */
class FakeClock implements LcdClock {
  t = SAMPLE_NOW;
  timers = new Map<number, { at: number; fn: () => void }>();
  #id = 0;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    this.timers.set(++this.#id, { at: this.t + ms, fn });
    return this.#id;
  };
  clearTimeout = (h: unknown) => {
    this.timers.delete(h as number);
  };
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const next = [...this.timers.entries()].sort((a, b) => a[1].at - b[1].at)[0];
      if (!next || next[1].at > end) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
      await new Promise((r) => setImmediate(r));
    }
    this.t = end;
  }
}

/** A port into a virtual display; `unplug()` closes it as serialport does on a lost device. */
function fakeOpener(vd: () => VirtualDisplay) {
  const state = { opens: 0, fail: false, unplug: () => {}, written: 0 };
  const open: OpenPort = async () => {
    if (state.fail) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
    state.opens++;
    let onClose: ((i: { disconnected: boolean; message: string | null }) => void) | null = null;
    let onData: ((b: Buffer) => void) | null = null;
    let alive = true;
    state.unplug = () => {
      alive = false;
      onClose?.({ disconnected: true, message: "disconnected" });
    };
    const port: LcdPort = {
      write: async (b) => {
        if (!alive) throw new Error("closed");
        state.written += b.length;
        const d = vd();
        d.feed(b);
        // Crystalfontz answers every packet (the adapter waits for it).
        for (const r of d.replies.splice(0)) setImmediate(() => onData?.(r));
      },
      onData: (l) => {
        onData = l;
      },
      onClose: (l) => {
        onClose = l;
      },
      close: async () => {
        alive = false;
      },
    };
    return port;
  };
  return { open, state };
}

const opts = (o: Partial<LcdOptions> = {}): LcdOptions => ({
  port: "/dev/lcd",
  driver: "matrix-orbital",
  baud: 9600,
  cols: 16,
  rows: 2,
  charset: "a02",
  language: "en",
  ...o,
});

async function setup(o: Partial<LcdOptions> = {}) {
  const clock = new FakeClock();
  const options = opts(o);
  let vd = new VirtualDisplay(options.driver, options.cols, options.rows, options.charset);
  const { open, state } = fakeOpener(() => vd);
  const events: DeskInput[] = [];
  const lcd = new SerialLcd({
    options,
    log: silentLogger,
    agentName: null,
    openPort: open,
    clock,
    random: () => 0.5,
  });
  await lcd.start((i) => {
    events.push(i);
    return { ok: true };
  });
  return {
    clock,
    lcd,
    events,
    state,
    vd: () => vd,
    replug: () => (vd = new VirtualDisplay(options.driver, options.cols, options.rows, options.charset)),
  };
}

describe("SerialLcd", () => {
  test("re-renders every second while the call timer runs, a handful of bytes each", async () => {
    const { clock, lcd, vd, state } = await setup();
    lcd.project(sampleState("on-call"), clock.t);
    await lcd.idle();
    expect(vd().read()[0]).toBe("On call     3:25");
    const before = state.written;
    // Ticks land just after each whole second of the call (5 ms margin against early timers).
    await clock.advance(1010);
    await lcd.idle();
    expect(vd().read()[0]).toBe("On call     3:26");
    expect(state.written - before).toBeLessThanOrEqual(6);
    await clock.advance(60_000);
    await lcd.idle();
    expect(vd().read()[0]).toBe("On call     4:26");
    // No timer on an empty idle screen: nothing scheduled.
    lcd.project(sampleState("available-empty"), clock.t);
    await lcd.idle();
    const n = state.written;
    await clock.advance(10_000);
    await lcd.idle();
    expect(state.written).toBe(n);
    await lcd.stop();
  });

  test("unplug reports absence, reopens with backoff, restores init + full screen", async () => {
    const { clock, lcd, events, state, vd, replug } = await setup();
    lcd.project(sampleState("available"), clock.t);
    await lcd.idle();
    state.unplug();
    expect(events.at(-1)).toEqual({ type: "health", side: "lcd", up: false });
    state.fail = true;
    lcd.project(sampleState("paused"), clock.t);
    await clock.advance(600); // first retry (0.25–0.5 s, full jitter) fails
    expect(state.opens).toBe(1);
    state.fail = false;
    replug();
    await clock.advance(1100); // second retry, 0.25–1 s later
    await lcd.idle();
    expect(state.opens).toBe(2);
    expect(events.map((e) => (e.type === "health" && "up" in e ? e.up : null))).toEqual([true, false, true]);
    expect(vd().clears).toBe(1);
    expect(vd().read()).toEqual(["Training   12:06", "Queue 3 max 1:26"]);
    await lcd.stop();
  });

  test("open failure at start is a reported state, not an exception", async () => {
    const clock = new FakeClock();
    const events: DeskInput[] = [];
    const lcd = new SerialLcd({
      options: opts(),
      log: silentLogger,
      agentName: null,
      openPort: async () => {
        throw new Error("ENOENT");
      },
      clock,
    });
    await lcd.start((i) => {
      events.push(i);
      return { ok: true };
    });
    expect(events).toEqual([{ type: "health", side: "lcd", up: false }]);
    expect(lcd.link).toBe("waiting");
    await lcd.stop();
    expect(clock.timers.size).toBe(0);
  });

  test("crystalfontz: waits for each reply, the screen arrives whole", async () => {
    const { clock, lcd, vd } = await setup({
      driver: "crystalfontz",
      charset: "crystalfontz",
      cols: 20,
      rows: 4,
      language: "it",
    });
    lcd.project(sampleState("ringing"), clock.t);
    await lcd.idle();
    expect(vd().read()).toEqual([
      "Squilla           FR",
      "Da: +393331234567   ",
      "Anagrafe            ",
      "Coda: sociale       ",
    ]);
    expect(vd().errors).toEqual([]);
    await lcd.stop();
  });

  test("terminal driver with port '-' draws on the injected stream", async () => {
    const chunks: Buffer[] = [];
    const lcd = new SerialLcd({
      options: opts({ driver: "terminal", port: "-", language: "it", terminalOrigin: { row: 2, col: 3 } }),
      log: silentLogger,
      agentName: null,
      stream: { write: (b: Buffer) => chunks.push(b) },
      clock: new FakeClock(),
    });
    await lcd.start(() => ({ ok: true }));
    lcd.project(
      baseState(SAMPLE_NOW, { status: "paused", reason: "back_office", statusSince: SAMPLE_NOW }),
      SAMPLE_NOW,
    );
    await lcd.idle();
    const vd = new VirtualDisplay("terminal", 16, 2, "a02", { row: 2, col: 3 });
    vd.feed(Buffer.concat(chunks));
    expect(vd.read()).toEqual(["Back office 0:00", "Coda 3 max 1:25 "]);
    await lcd.stop();
  });

  test("periodic refresh repaints without a hardware clear", async () => {
    const { clock, lcd, vd, state } = await setup({ refreshSeconds: 60 });
    lcd.project(sampleState("available-empty"), clock.t);
    await lcd.idle();
    const n = state.written;
    await clock.advance(60_000);
    await lcd.idle();
    expect(state.written - n).toBe(2 * (4 + 16));
    expect(vd().clears).toBe(1);
    await lcd.stop();
  });
});
