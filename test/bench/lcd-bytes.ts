/**
 * LCD bytes per update (ARCHITECTURE § Tests and the lab: benchmarks print figures). For each
 * protocol and size: bytes sent when the queue count changes, and per second of a call timer,
 * against a naive full redraw of the screen. Target: ≤ 8 bytes for a queue-count change.
 */

import type { DeskState } from "../../src/core/types.js";
import { createCharset } from "../../src/lcd/charset.js";
import type { LcdCharset, LcdDriver } from "../../src/lcd/options.js";
import { Painter } from "../../src/lcd/painter.js";
import { createProtocol } from "../../src/lcd/protocols/index.js";
import { screen } from "../../src/lcd/screens.js";
import { SAMPLE_NOW, sampleState } from "../../src/lcd/situations.js";
import { baseState, sampleQueues } from "../samples.js";

export interface Figure {
  readonly driver: LcdDriver;
  readonly size: string;
  readonly queueChange: number;
  readonly queueChangeTens: number;
  readonly callSecond: number;
  readonly fullRedraw: number;
}

const SETUPS: Array<{ driver: LcdDriver; charset: LcdCharset }> = [
  { driver: "matrix-orbital", charset: "a00" },
  { driver: "sparkfun-serlcd", charset: "a00" },
  { driver: "crystalfontz", charset: "crystalfontz" },
  { driver: "hd44780-serial", charset: "a02" },
  { driver: "terminal", charset: "a02" },
];

function bytesOf(p: Painter, lines: string[]): number {
  return p.paint(lines).reduce((n, c) => n + c.bytes.length, 0);
}

export function measure(): Figure[] {
  const out: Figure[] = [];
  for (const { driver, charset } of SETUPS)
    for (const [cols, rows] of [
      [16, 2],
      [20, 4],
    ] as const) {
      const cs = createCharset(charset, "it");
      const o = { port: "-", driver, baud: 9600, cols, rows, charset, language: "it" as const };
      const p = new Painter(createProtocol(o, cs), cs, { cols, rows });
      const ctx = (now: number) => ({ language: "it" as const, cols, rows, now, agentName: "Sportello 17" });
      const q = (waiting: number): DeskState =>
        baseState(SAMPLE_NOW, { queues: { ...sampleQueues(), waiting } });
      p.init();
      bytesOf(p, screen(q(3), ctx(SAMPLE_NOW)));
      const queueChange = bytesOf(p, screen(q(4), ctx(SAMPLE_NOW)));
      bytesOf(p, screen(q(9), ctx(SAMPLE_NOW)));
      const queueChangeTens = bytesOf(p, screen(q(10), ctx(SAMPLE_NOW)));
      const call = sampleState("on-call");
      bytesOf(p, screen(call, ctx(SAMPLE_NOW)));
      let total = 0;
      for (let s = 1; s <= 60; s++) total += bytesOf(p, screen(call, ctx(SAMPLE_NOW + s * 1000)));
      p.invalidate();
      const fullRedraw = bytesOf(p, screen(call, ctx(SAMPLE_NOW)));
      out.push({
        driver,
        size: `${cols}x${rows}`,
        queueChange,
        queueChangeTens,
        callSecond: total / 60,
        fullRedraw,
      });
    }
  return out;
}

export async function main(write: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const rows = measure();
  write("LCD bytes per update (diffed) vs a naive full redraw\n");
  write("driver           size   queue 3→4  queue 9→10  per call second  full redraw\n");
  for (const f of rows) {
    write(
      `${f.driver.padEnd(16)} ${f.size.padEnd(6)} ${String(f.queueChange).padStart(9)}  ${String(f.queueChangeTens).padStart(10)}  ${f.callSecond.toFixed(1).padStart(15)}  ${String(f.fullRedraw).padStart(11)}\n`,
    );
  }
  const worst = Math.max(...rows.filter((r) => r.driver !== "terminal").map((r) => r.queueChange));
  write(`worst queue-count change on a serial display: ${worst} bytes (target ≤ 8)\n`);
}
