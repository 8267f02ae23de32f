/** Runner for the media clock benchmark (`npx vitest run test/bench/media-clock.bench.test.ts`). */
import { expect, test } from "vitest";
import { main } from "./media-clock.js";

test("media send clock: gap spread and CPU per call", { timeout: 120_000 }, async () => {
  let text = "";
  await main((s) => {
    text += s;
  });
  process.stdout.write(text);
  expect(text).toMatch(/sd \d/);
});
