/**
 * Runner for the encrypted-call benchmark (`npx vitest run --project bench
 * test/bench/encrypted-call.bench.test.ts`, after `npm run build`): SDES-SRTP and DTLS-SRTP + ICE +
 * Opus calls, the daemon against baresip as the desk (encrypted-call.ts).
 */
import { expect, inject, test } from "vitest";
import { labKamailio } from "../lab/kamailio.js";
import { main } from "./encrypted-call.js";

test("encrypted calls: answer latency, CPU and RSS against baresip", { timeout: 900_000 }, async () => {
  let text = "";
  const figures = await main(labKamailio(inject("lab").kamailio), (s) => {
    text += s;
    process.stdout.write(s);
  });
  expect(figures.length).toBeGreaterThan(0);
  for (const f of figures) {
    // Every call completed (each desk encrypts or refuses, so a completed call is encrypted).
    expect(f.cuffia.answerMs.length).toBe(f.calls);
    expect(f.baresip.answerMs.length).toBe(f.calls);
  }
  expect(text).toMatch(/\| measure \|/);
});
