/**
 * Registration that stays true, against a real Kamailio on loopback: over WS, WSS, TCP and TLS;
 * wrong password reported as failed; a Kamailio restart while idle is survived.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, silentLogger } from "../../src/log/logger.js";

const debugLog = process.env.SIP_DEBUG
  ? createLogger({ level: "debug", destination: process.stderr })
  : silentLogger;

import type { MediaSessionFactory } from "../../src/media/media.js";
import { SipAgent } from "../../src/sip/sip-agent.js";
import { type Kamailio, startKamailio } from "../lab/kamailio.js";
import { Inputs, testSipOptions } from "../sip/harness.js";

const noMedia: MediaSessionFactory = { create: () => Promise.reject(new Error("no media in this test")) };

let kam: Kamailio;
beforeAll(async () => {
  kam = await startKamailio({ base: 27060 });
});
afterAll(async () => {
  await kam?.stop();
});

function agent(servers: string | string[], user = "1017", password = `pw${user}`) {
  return new SipAgent({
    options: testSipOptions(servers, {
      aor: `sip:${user}@${kam.domain}`,
      username: user,
      password,
      caFile: kam.caFile,
      livenessSeconds: 5,
    }),
    media: noMedia,
    log: debugLog,
    backoff: { baseMs: 200, capMs: 2000 },
  });
}

async function registeredAs(user: string): Promise<boolean> {
  const regs = await kam.registrations();
  return regs.some((r) => r.aor.includes(user));
}

describe("registration", () => {
  for (const kind of ["ws", "wss", "tcp", "tls"] as const) {
    it(`registers over ${kind} and unregisters on stop`, async () => {
      const url = {
        ws: `ws://127.0.0.1:${kam.wsPort}`,
        wss: `wss://127.0.0.1:${kam.wssPort}`,
        tcp: `tcp://127.0.0.1:${kam.tcpPort}`,
        tls: `tls://127.0.0.1:${kam.tlsPort}`,
      }[kind];
      const inputs = new Inputs();
      const a = agent(url, "2003");
      await a.start(inputs.emit);
      await inputs.waitForSip((i) => i.sip === "registered");
      expect(await registeredAs("2003")).toBe(true);
      // the liveness OPTIONS must not knock the registration down
      await new Promise((r) => setTimeout(r, 3000));
      expect(inputs.all.filter((i) => i.type === "health" && "sip" in i).at(-1)).toMatchObject({
        sip: "registered",
      });
      await a.stop();
      expect(await registeredAs("2003")).toBe(false);
    });
  }

  it("reports a wrong password as failed with the registrar's reason", async () => {
    const inputs = new Inputs();
    const a = agent(`tcp://127.0.0.1:${kam.tcpPort}`, "2002", "wrong");
    await a.start(inputs.emit);
    const failed = await inputs.waitForSip((i) => i.sip === "failed");
    expect(failed.reason).toMatch(/^40[13] /);
    await a.stop();
  });

  it("falls back to the next server when the primary is down", async () => {
    const inputs = new Inputs();
    const a = agent([`tcp://127.0.0.1:1`, `ws://127.0.0.1:${kam.wsPort}`], "2002");
    await a.start(inputs.emit);
    await inputs.waitForSip((i) => i.sip === "registered");
    expect(await registeredAs("2002")).toBe(true);
    await a.stop();
  });

  it("over tcp, each reconnect replaces its binding instead of adding one", async () => {
    const inputs = new Inputs();
    const a = agent(`tcp://127.0.0.1:${kam.tcpPort}`, "2001");
    await a.start(inputs.emit);
    await inputs.waitForSip((i) => i.sip === "registered");
    for (let n = 0; n < 3; n++) {
      const mark = inputs.mark;
      a.reconnect("test");
      await inputs.waitForSip((i) => i.sip !== "registered", 10_000, mark);
      await inputs.waitForSip((i) => i.sip === "registered", 10_000, mark);
    }
    // the port of our end changed four times; the registrar holds one binding, the current one
    const bindings = (await kam.registrations()).filter((r) => r.aor.includes("2001"));
    expect(bindings).toHaveLength(1);
    await a.stop();
    expect(await registeredAs("2001")).toBe(false);
  });

  it("is registered again within seconds after Kamailio restarts", async () => {
    const inputs = new Inputs();
    const a = agent(`ws://127.0.0.1:${kam.wsPort}`, "1018");
    await a.start(inputs.emit);
    await inputs.waitForSip((i) => i.sip === "registered");
    const mark = inputs.mark;
    const t0 = Date.now();
    await kam.restart();
    await inputs.waitForSip((i) => i.sip !== "registered", 10_000, mark);
    await inputs.waitForSip((i) => i.sip === "registered", 15_000, mark);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(await registeredAs("1018")).toBe(true);
    await a.stop();
  });
});
