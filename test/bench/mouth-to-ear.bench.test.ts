/**
 * Runner for the mouth-to-ear benchmark (`npm run bench`, or
 * `CUFFIA_BENCH_AUDIO_SECONDS=20 npx vitest run --project bench test/bench/mouth-to-ear.bench.test.ts`).
 * It prints figures; the target (≤ 60 ms added one way at p95, no more than baresip) is read
 * from them, not asserted here.
 */
import { expect, test } from "vitest";
import { main } from "./mouth-to-ear.js";

// Four calls of CUFFIA_BENCH_AUDIO_SECONDS each (Cuffia and baresip at the desk, each with
// baresip and with the reflector as the far end), plus setting up the lab and the calls, and
// reading each call's recording (10-minute calls: about a minute each; a 10-minute run's fourth
// call was cut short by a limit of 4 × 600 + 300 s).
const seconds = Number(process.env.CUFFIA_BENCH_AUDIO_SECONDS ?? 60);
const timeout = (4 * (seconds + 120) + 300) * 1000;

test("mouth-to-ear, both directions, Cuffia and baresip at the desk", { timeout }, async () => {
  // Printed as each call ends: a 10-minute run that fails in its second call keeps the first.
  const results = await main((s) => process.stdout.write(s));
  for (const r of results) {
    // Every burst must have been measured: a lost one would make the percentiles lie.
    expect(r.toCaller.delaysMs.length).toBeGreaterThan(r.toCaller.sent * 0.9);
    expect(r.toOperator.delaysMs.length).toBeGreaterThan(r.toOperator.sent * 0.9);
  }
});
