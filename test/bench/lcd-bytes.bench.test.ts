/** Runner for the LCD bytes benchmark (`npx vitest run test/bench/lcd-bytes.bench.test.ts`). */
import { expect, test } from "vitest";
import { main, measure } from "./lcd-bytes.js";

test("LCD bytes per update", async () => {
  let text = "";
  await main((s) => {
    text += s;
  });
  process.stdout.write(text);
  for (const f of measure()) {
    if (f.driver === "terminal") continue; // ANSI escapes, not a serial budget
    expect(f.queueChange, `${f.driver} ${f.size}`).toBeLessThanOrEqual(8);
    expect(f.callSecond, `${f.driver} ${f.size}`).toBeLessThan(f.fullRedraw / 4);
  }
});
