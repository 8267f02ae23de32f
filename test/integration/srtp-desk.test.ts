/**
 * The whole desk as `cuffia run` composes it (config → app), on tls:// to a real Kamailio with
 * `rtp.encryption: preferred`: the wiring from the config to the media (the signalling counted as
 * encrypted, SDES answered) and what `ctl status` says about each call: `"sdes"` for baresip's
 * mandatory SRTP, `"none"` for a plain baresip.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, buildApp } from "../../src/app.js";
import { parseConfig } from "../../src/config/load.js";
import { request } from "../../src/control/control-client.js";
import { silentLogger } from "../../src/log/logger.js";
import { makeTone } from "../lab/audio.js";
import { type Baresip, startBaresip } from "../lab/baresip.js";
import { type Kamailio, startKamailio } from "../lab/kamailio.js";
import { baresipPort, freePorts } from "../lab/ports.js";
import { waitUntil } from "../lab/proc.js";

const dir = mkdtempSync(join(tmpdir(), "cuffia-srtp-desk-"));
const socket = join(dir, "control.sock");
let kam: Kamailio;
let app: App | undefined;

beforeAll(async () => {
  kam = await startKamailio();
  const tone = await makeTone(join(dir, "desk.wav"), { freq: 440, seconds: 30 });
  const first = await freePorts(42);
  const rtpMin = first + (first % 2);
  const text = `
agent: { id: desk-srtp }
sip:
  server: tls://127.0.0.1:${kam.tlsPort}
  aor: sip:1017@127.0.0.1
  password: pw1017
  ca_file: ${kam.caFile}
  auto_answer: true
rtp: { address: 127.0.0.1, port_min: ${rtpMin}, port_max: ${rtpMin + 40}, encryption: preferred }
audio:
  source: { type: file, path: ${tone}, loop: true }
  sink: { type: none }
policy: { wrap_up_seconds: 0, ring_timeout_seconds: 0 }
control: { socket: ${socket} }
state_dir: ${dir}/state
`;
  const { config } = parseConfig(text, join(dir, "config.yaml"));
  app = await buildApp(config, silentLogger, {});
  await app.start();
  await request(socket, { id: 1, cmd: "login" });
  await request(socket, { id: 2, cmd: "ready" });
  await waitUntil("registered", () => app?.runner.state.health.sip === "registered", 15_000);
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await kam?.stop();
});

async function statusCall(): Promise<Record<string, unknown> | null> {
  const r = await request(socket, { id: 9, cmd: "status" });
  const data = (r["data"] ?? r) as Record<string, unknown>;
  return (data["call"] as Record<string, unknown> | null) ?? null;
}

describe("ctl status says whether the call is encrypted", () => {
  for (const [mediaenc, expected] of [
    ["srtp-mand", "sdes"],
    [undefined, "none"],
  ] as const) {
    it(`baresip ${mediaenc ?? "without SRTP"} → call.encryption "${expected}"`, async () => {
      let b: Baresip | undefined;
      try {
        b = await startBaresip({
          kamailio: kam,
          user: "2001",
          port: await baresipPort(),
          ...(mediaenc ? { mediaenc } : {}),
        });
        await b.dial(`sip:1017@${kam.domain}`);
        await b.waitFor("CALL_ESTABLISHED");
        let call: Record<string, unknown> | null = null;
        await waitUntil(
          "the call answered in ctl status",
          async () => {
            call = await statusCall();
            return call?.["answered"] !== null && call?.["answered"] !== undefined;
          },
          10_000,
        );
        expect(call?.["encryption"]).toBe(expected);
        await b.hangup();
        await waitUntil("the call gone from ctl status", async () => (await statusCall()) === null, 10_000);
      } finally {
        await b?.stop();
      }
    }, 40_000);
  }
});
