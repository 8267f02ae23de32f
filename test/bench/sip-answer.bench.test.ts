/** Runner for the SIP benchmark (`npx vitest run --project bench test/bench/sip-answer.bench.test.ts`). */
import { expect, inject, test } from "vitest";
import { labKamailio } from "../lab/kamailio.js";
import { main } from "./sip-answer.js";

test("SIP: answer latency, CPU, RSS and RTP gaps against baresip", { timeout: 600_000 }, async () => {
  let text = "";
  await main(
    (s) => {
      text += s;
    },
    labKamailio(inject("lab").kamailio),
  );
  process.stdout.write(text);
  expect(text).toMatch(/\| measure \|/);
});
