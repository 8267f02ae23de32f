/** Runner for the config check benchmark (`npx vitest run --project bench test/bench/config-check.bench.test.ts`). */
import { expect, test } from "vitest";
import { measure, report } from "./config-check.js";

test("config check time against the number of keys", () => {
  const figures = measure();
  process.stdout.write(report(figures));
  for (const shape of new Set(figures.map((f) => f.shape))) {
    const rows = figures.filter((f) => f.shape === shape);
    const first = rows[0];
    const last = rows.at(-1);
    if (!first || !last) continue;
    // Linear: 8x the keys costs about 8x the time, so the time per key stays within a factor 3
    // (quadratic, it grew 8x).
    expect(last.usPerKey, shape).toBeLessThan(first.usPerKey * 3);
  }
});
