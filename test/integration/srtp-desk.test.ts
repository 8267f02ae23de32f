/**
 * The whole desk as `cuffia run` composes it (config → app) with `rtp.encryption: preferred`, on
 * tls:// and on wss:// to a real Kamailio: the wiring from the config to the media (the signalling
 * counted as encrypted, SDES or DTLS answered) and what `ctl status` says about each call:
 * `"sdes"` for baresip's mandatory SDES, `"dtls"` for its DTLS-SRTP, `"none"` for a plain baresip.
 * baresip runs in a network namespace the test creates, joined by a veth pair (netns.ts
 * createVethLink), and Kamailio and the desk use this end of it: baresip's ICE offers every
 * non-loopback address it sees, and there its only one is its end of the pair.
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
import { type Baresip, type BaresipOptions, startBaresip } from "../lab/baresip.js";
import { type Kamailio, startKamailio } from "../lab/kamailio.js";
import { createVethLink, type VethLink } from "../lab/netns.js";
import { baresipPort, freePorts } from "../lab/ports.js";
import { waitUntil } from "../lab/proc.js";

const dir = mkdtempSync(join(tmpdir(), "cuffia-srtp-desk-"));
let link: VethLink;
let kam: Kamailio;
const apps: App[] = [];

beforeAll(async () => {
  link = await createVethLink();
  kam = await startKamailio({ listen: link.rootAddress });
}, 30_000);

afterAll(async () => {
  for (const a of apps) await a.stop();
  await kam?.stop();
  await link?.teardown();
});

/** A desk from its config text, registered as 1017 over `server`; returns its control socket. */
async function startDesk(name: string, server: string): Promise<{ app: App; socket: string }> {
  const socket = join(dir, `${name}.sock`);
  const tone = await makeTone(join(dir, `${name}.wav`), { freq: 440, seconds: 30 });
  const first = await freePorts(42);
  const rtpMin = first + (first % 2);
  const text = `
agent: { id: desk-${name} }
sip:
  server: ${server}
  aor: sip:1017@${kam.domain}
  password: pw1017
  ca_file: ${kam.caFile}
  auto_answer: true
rtp:
  address: ${link.rootAddress}
  port_min: ${rtpMin}
  port_max: ${rtpMin + 40}
  encryption: preferred
  ice: { host_addresses: [${link.rootAddress}] }
audio:
  source: { type: file, path: ${tone}, loop: true }
  sink: { type: none }
policy: { wrap_up_seconds: 0, ring_timeout_seconds: 0 }
control: { socket: ${socket} }
state_dir: ${dir}/state-${name}
`;
  const { config } = parseConfig(text, join(dir, `${name}.yaml`));
  const app = await buildApp(config, silentLogger, {});
  apps.push(app);
  await app.start();
  await request(socket, { id: 1, cmd: "login" });
  await request(socket, { id: 2, cmd: "ready" });
  await waitUntil("registered", () => app.runner.state.health.sip === "registered", 15_000);
  return { app, socket };
}

async function statusCall(socket: string): Promise<Record<string, unknown> | null> {
  const r = await request(socket, { id: 9, cmd: "status" });
  const data = (r["data"] ?? r) as Record<string, unknown>;
  return (data["call"] as Record<string, unknown> | null) ?? null;
}

/** baresip calls the desk; resolves with the call's `encryption` in ctl status once answered. */
async function callAndAsk(socket: string, far: Partial<BaresipOptions>): Promise<unknown> {
  let b: Baresip | undefined;
  try {
    b = await startBaresip({
      kamailio: kam,
      user: "2001",
      port: await baresipPort(),
      netns: { ns: link.ns, address: link.address, nat: link },
      ...far,
    });
    await b.dial(`sip:1017@${kam.domain}`);
    await b.waitFor("CALL_ESTABLISHED", 15_000);
    let call: Record<string, unknown> | null = null;
    await waitUntil(
      "the call answered in ctl status",
      async () => {
        call = await statusCall(socket);
        return call?.["answered"] !== null && call?.["answered"] !== undefined;
      },
      10_000,
    );
    await b.hangup();
    await waitUntil("the call gone from ctl status", async () => (await statusCall(socket)) === null, 10_000);
    return (call as Record<string, unknown> | null)?.["encryption"];
  } finally {
    await b?.stop();
  }
}

describe("ctl status says whether the call is encrypted", () => {
  it("a desk on tls://: baresip srtp-mand → sdes, a plain baresip → none", async () => {
    const { app, socket } = await startDesk("tls", `tls://${kam.domain}:${kam.tlsPort}`);
    expect(await callAndAsk(socket, { mediaenc: "srtp-mand" })).toBe("sdes");
    expect(await callAndAsk(socket, {})).toBe("none");
    await app.stop();
  }, 60_000);

  it("a desk on wss://: baresip DTLS-SRTP with ICE and rtcp-mux → dtls", async () => {
    const { app, socket } = await startDesk("wss", `wss://${kam.domain}:${kam.wssPort}`);
    expect(await callAndAsk(socket, { mediaenc: "dtls_srtp", medianat: "ice", rtcpMux: true })).toBe("dtls");
    await app.stop();
  }, 60_000);
});
