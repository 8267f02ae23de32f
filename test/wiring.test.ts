/**
 * The SIP side as `run` builds it (src/wiring.ts buildSip). Regression (issue 11): a sip.ca_file missing
 * at run time left SIP dead with sip_reason null; the reason must say which file and why.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/config/load.js";
import type { DeskInput } from "../src/core/types.js";
import { silentLogger } from "../src/log/logger.js";
import { buildSip } from "../src/wiring.js";

describe("SIP side start", () => {
  it("a ca_file that vanished after check: sip_reason names the key and the error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cuffia-wiring-"));
    const ca = join(dir, "ca.pem");
    writeFileSync(ca, "-----BEGIN CERTIFICATE-----\n");
    const { config } = parseConfig(
      `sip:\n  server: tls://127.0.0.1:9\n  aor: sip:1@pbx\n  password: x\n  ca_file: ${ca}\nrtp: { address: 127.0.0.1 }\naudio: { source: { type: none }, sink: { type: none } }\n`,
      join(dir, "c.yaml"),
      { env: {} },
    );
    rmSync(ca); // gone between check (the load above) and the daemon's start
    const inputs: DeskInput[] = [];
    const side = await buildSip(config, silentLogger, { dispatch: () => ({ ok: true }) });
    if (!side) throw new Error("a sip section builds a SIP side");
    await expect(
      side.start((input) => {
        inputs.push(input);
        return { ok: true };
      }),
    ).rejects.toThrow(/ENOENT/);
    expect(inputs).toContainEqual({
      type: "health",
      side: "sip",
      sip: "failed",
      reason: `sip.ca_file ${ca} cannot be read (ENOENT)`,
    });
    await side.stop();
  });
});
