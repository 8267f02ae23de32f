/** Runner for the presence benchmarks (`npx vitest run test/bench/presence-latency.bench.test.ts`). */
import { expect, test } from "vitest";
import { main, measureFleet, measureLatency } from "./presence-latency.js";

test("presence latency and fleet reconnection", { timeout: 300_000 }, async () => {
  let text = "";
  await main((s) => {
    text += s;
  });
  process.stdout.write(text);
  expect(text).toMatch(/p99/);
});

// Budgets on loopback with a few changes, so a regression (a sleep, a lost republish) shows.
test("budgets", { timeout: 120_000 }, async () => {
  const l = await measureLatency(100);
  expect(l.presence.p99).toBeLessThan(250);
  const f = await measureFleet(50);
  // Full jitter: the first retry comes within 1 s, so all are back within a couple of seconds,
  // and not all in the same 250 ms.
  expect(f.lastReconnect).toBeLessThan(4_000);
  expect(Math.max(...f.histogram)).toBeLessThan(50);
});
