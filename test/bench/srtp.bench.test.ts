/** Runner for the SRTP per-packet benchmark (`npx vitest run --project bench test/bench/srtp.bench.test.ts`). */
import { expect, test } from "vitest";
import { main, measure } from "./srtp.js";

test("SRTP per packet", async () => {
  let text = "";
  await main((s) => {
    text += s;
  });
  process.stdout.write(text);
  // Target: a protect+unprotect pair of an audio packet under 50 µs (0.25 % of a core per call).
  for (const f of measure(20_000))
    if (f.what.includes("RTP protect")) expect(f.usPerOp, f.what).toBeLessThan(50);
});
