/** Runner for the Opus benchmark (`npx vitest run --project bench test/bench/opus.bench.test.ts`). */
import { expect, test } from "vitest";
import { measureCpu, measureRss, report } from "./opus.js";

test("Opus: CPU per frame beside G.722 and G.711, RSS per call", async () => {
  const cpu = await measureCpu();
  const opus = measureRss("opus");
  const pcmu = measureRss("pcmu", 10);
  process.stdout.write(report(cpu, [opus, pcmu]));
  // issue 14: RSS growth per call ≤ 1 MB after the first (the wasm codec state is freed).
  expect(opus.growthPerCallKb).toBeLessThanOrEqual(1024);
  // Encoding and decoding a frame must fit many times in its 20 ms.
  for (const c of cpu) expect(c.encodeUs + c.decodeUs, c.codec).toBeLessThan(5000);
}, 300_000);
