/**
 * sip-lab.md's trap: Kamailio's websocket server PINGs (keepalive_mechanism 1) silently write off
 * idle clients after a minute or two; the socket stays open and every INVITE toward the client
 * gets "500 No error". With our CRLF keep-alives and SIP-level liveness check the daemon must
 * still receive a call after a few idle minutes (either never hit, or detected and recovered).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { createLogger, silentLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { SipAgent } from "../../src/sip/sip-agent.js";
import { type Baresip, startBaresip } from "../lab/baresip.js";
import { type Kamailio, startKamailio } from "../lab/kamailio.js";
import { baresipPort } from "../lab/ports.js";
import { Inputs, testSipOptions } from "../sip/harness.js";

const log = process.env.SIP_DEBUG
  ? createLogger({ level: "debug", destination: process.stderr })
  : silentLogger;
const IDLE_MS = 150_000;

let kam: Kamailio;
let agent: SipAgent;
let far: Baresip;
const inputs = new Inputs();

beforeAll(async () => {
  kam = await startKamailio({ base: 27260, wsPing: true });
  agent = new SipAgent({
    options: testSipOptions(`ws://127.0.0.1:${kam.wsPort}`, { registerExpires: 600, keepAliveSeconds: 25 }),
    media: createMediaFactory({
      audio: { source: { type: "none" }, sink: { type: "none" } },
      rtp: { address: "127.0.0.1", portMin: 23000, portMax: 23999, codecs: ["PCMU"] },
      log,
    }),
    log,
  });
  await agent.start(inputs.emit);
  await inputs.waitForSip((i) => i.sip === "registered");
  far = await startBaresip({ kamailio: kam, user: "2001", port: await baresipPort() });
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await far?.stop();
  await kam?.stop();
});

it(
  "still receives a call after idling with Kamailio's websocket pings on",
  async () => {
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const mark = inputs.mark;
    // a call may hit the trap once before the liveness check recovers: retry for up to 40 s
    const deadline = Date.now() + 40_000;
    let offer = null;
    while (!offer && Date.now() < deadline) {
      await far.dial(`sip:1017@${kam.domain}`);
      offer = await inputs.waitFor("call_offered", () => true, 8000, mark).catch(() => null);
      if (!offer) await far.hangup().catch(() => {});
    }
    expect(offer).not.toBeNull();
    if (!offer) return;
    await agent.execute({ type: "sip", action: "answer", callId: offer.callId });
    await inputs.waitFor("call_answered", (i) => i.callId === offer.callId);
    await agent.execute({ type: "sip", action: "hangup", callId: offer.callId });
    await inputs.waitFor("call_ended", (i) => i.callId === offer.callId);
    // record how it went: straight through, or after a detected loss
    const changes = inputs.all.flatMap((i) => (i.type === "health" && "sip" in i ? [i.sip] : []));
    expect(changes.at(-1)).toBe("registered");
  },
  IDLE_MS + 90_000,
);
