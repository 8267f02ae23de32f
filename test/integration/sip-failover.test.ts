/**
 * Registrar failover (issue 11): a primary registrar that refuses our credentials (403) must not
 * hold up the fallback servers. Before, the 403 started a 5-minute wait that also blocked them.
 * Two scripted WebSocket registrars (the primary answers every REGISTER 403, the fallback 200),
 * and the real lab Kamailio as a primary that refuses a wrong password.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createLogger, silentLogger } from "../../src/log/logger.js";
import type { MediaSessionFactory } from "../../src/media/media.js";
import { SipAgent } from "../../src/sip/sip-agent.js";
import { labKamailio } from "../lab/kamailio.js";
import { FakeRegistrar } from "../sip/fake-registrar.js";
import { Inputs, testSipOptions } from "../sip/harness.js";

const log = process.env.SIP_DEBUG
  ? createLogger({ level: "debug", destination: process.stderr })
  : silentLogger;
const noMedia: MediaSessionFactory = { create: () => Promise.reject(new Error("no media in this test")) };

let primary: FakeRegistrar;
let fallback: FakeRegistrar;
let agent: SipAgent | undefined;

beforeAll(async () => {
  primary = await FakeRegistrar.start();
  primary.registerStatus = "403 Forbidden";
  fallback = await FakeRegistrar.start();
});

afterAll(async () => {
  await agent?.stop();
  await primary?.close();
  await fallback?.close();
});

describe("a registrar that refuses us", () => {
  it("403 from the primary: the desk registers with the fallback at once, not 5 minutes later", async () => {
    const inputs = new Inputs();
    agent = new SipAgent({
      options: testSipOptions([primary.url, fallback.url]),
      media: noMedia,
      log,
      backoff: { baseMs: 200, capMs: 1000 },
    });
    await agent.start(inputs.emit);
    const refused = await inputs.waitForSip((i) => /403/.test(i.reason ?? ""), 5000);
    expect(refused.reason).toMatch(/^403 Forbidden from ws:\/\/127\.0\.0\.1:\d+\/?; trying the next server$/);
    await inputs.waitForSip((i) => i.sip === "registered", 5000);
    expect(primary.registers).toBe(1);
    expect(fallback.registers).toBe(1);
    expect(agent.registration).toBe("registered");
  });

  it("the real Kamailio refusing a wrong password: the desk registers with the fallback", async () => {
    await agent?.stop();
    fallback.registerStatus = "200 OK";
    const kamailio = labKamailio(inject("lab").kamailio);
    const inputs = new Inputs();
    const before = fallback.registers;
    agent = new SipAgent({
      options: testSipOptions([`ws://127.0.0.1:${kamailio.wsPort}`, fallback.url], {
        aor: `sip:1017@${kamailio.domain}`,
        password: "not-the-password",
      }),
      media: noMedia,
      log,
      backoff: { baseMs: 200, capMs: 1000 },
    });
    await agent.start(inputs.emit);
    const refused = await inputs.waitForSip((i) => /trying the next/.test(i.reason ?? ""), 5000);
    expect(refused.reason).toMatch(/^40[13] [^;]+ from ws:\/\/127\.0\.0\.1:\d+\/?; trying the next server$/);
    await inputs.waitForSip((i) => i.sip === "registered", 5000);
    expect(fallback.registers - before).toBe(1);
    expect((await kamailio.registrations()).some((r) => r.aor.includes("1017"))).toBe(false);
  });

  it("when every registrar refuses, the desk reports failed with the registrar's answer", async () => {
    await agent?.stop();
    fallback.registerStatus = "403 Forbidden";
    const inputs = new Inputs();
    const before = { p: primary.registers, f: fallback.registers };
    agent = new SipAgent({
      options: testSipOptions([primary.url, fallback.url]),
      media: noMedia,
      log,
      backoff: { baseMs: 200, capMs: 1000 },
    });
    await agent.start(inputs.emit);
    const failed = await inputs.waitForSip((i) => i.sip === "failed", 5000);
    expect(failed.reason).toBe("403 Forbidden");
    expect(primary.registers - before.p).toBe(1);
    expect(fallback.registers - before.f).toBe(1);
    // and then the slow retry: no REGISTER storm
    await new Promise((r) => setTimeout(r, 1500));
    expect(primary.registers - before.p + fallback.registers - before.f).toBe(2);
  });
});
