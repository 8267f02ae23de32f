/**
 * The reproductions through the real lab Kamailio, with SIPp as the caller: an INVITE
 * with an SDP body and no Content-Type (before: only 100 Trying, the desk stayed `ringing` and
 * answered every later call 486), and a caller that never ACKs the 200 OK (before: reported as
 * `remote_hangup`). The desk is the real core (Runner + step, auto-answer) with the real SIP side
 * registered as 1017 over WebSocket; after each case a valid SIPp call is answered and completed.
 */
import { Core } from "sip.js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { activity } from "../../src/core/derive.js";
import { initialState } from "../../src/core/desk.js";
import { Runner } from "../../src/core/runner.js";
import type { DeskEvent } from "../../src/core/types.js";
import { createLogger, silentLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { SipAgent } from "../../src/sip/sip-agent.js";
import { type Kamailio, labKamailio } from "../lab/kamailio.js";
import { runSippUac, xmlAttr } from "../lab/sipp.js";
import { samplePolicy } from "../samples.js";
import { testSipOptions } from "../sip/harness.js";

const lab = inject("lab");
const log = process.env.SIP_DEBUG
  ? createLogger({ level: "debug", destination: process.stderr })
  : silentLogger;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const timers = Core.Timers as { TIMER_L: number; TIMER_H: number };
const savedTimers = { L: timers.TIMER_L, H: timers.TIMER_H };

let kamailio: Kamailio;
let runner: Runner;
const events: DeskEvent[] = [];

async function until(what: () => boolean, label: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}; ${activity(runner.state)}`);
    await sleep(20);
  }
}

const ended = () => events.filter((e) => e.type === "call.ended");

beforeAll(async () => {
  // RFC 6026 timer L (64*T1 = 32 s) ends a 2xx never ACKed; shortened for this file's process
  timers.TIMER_L = 3000;
  timers.TIMER_H = 3000;
  kamailio = labKamailio(lab.kamailio);
  runner = new Runner({
    initial: initialState(
      {
        ...samplePolicy,
        autoAnswer: true,
        wrapUpSeconds: 0,
        sides: { sip: true, headset: false, lcd: false, mqtt: false },
      },
      Date.now(),
    ),
    log,
  });
  runner.subscribe((c) => {
    if (c.kind === "event") events.push(c.event);
  });
  runner.add(
    new SipAgent({
      options: testSipOptions(`ws://127.0.0.1:${kamailio.wsPort}`, { aor: `sip:1017@${kamailio.domain}` }),
      media: createMediaFactory({
        audio: { source: { type: "none" }, sink: { type: "none" } },
        rtp: { address: "127.0.0.1", portMin: 24100, portMax: 24199, codecs: ["PCMA", "PCMU"] },
        log,
      }),
      log,
    }),
  );
  await runner.start();
  runner.dispatch({ type: "command", command: { cmd: "login" }, origin: "control" });
  runner.dispatch({ type: "command", command: { cmd: "ready" }, origin: "control" });
  await until(() => runner.state.health.sip === "registered", "registered");
});

afterAll(async () => {
  await runner?.stop();
  timers.TIMER_L = savedTimers.L;
  timers.TIMER_H = savedTimers.H;
});

/** A valid SIPp call through Kamailio: auto-answered, 1 s of audio, BYE; the desk is idle after. */
async function validCall(): Promise<void> {
  expect(activity(runner.state)).toBe("idle");
  const before = ended().length;
  const result = await runSippUac({
    kamailio,
    target: "1017",
    holdMs: 1000,
    headers: { "X-Queue": "anagrafe" },
  });
  expect(result.errors).toBe("");
  expect(result.ok).toBe(true);
  await until(() => ended().length > before, "call.ended");
  expect(ended().at(-1)).toMatchObject({ end_reason: "remote_hangup" });
  await until(() => activity(runner.state) === "idle", "idle");
}

describe("bad offers through the real PBX", () => {
  it("an SDP body without Content-Type: 400 with a Warning at once, the desk never rings, then answers", async () => {
    const offered = events.filter((e) => e.type === "call.offered").length;
    const result = await runSippUac({
      kamailio,
      target: "1017",
      scenario: "uac-refused.xml",
      headers: { "X-Queue": "anagrafe" },
      values: {
        CONTENT_TYPE: "",
        STATUS: "400",
        WARNING: xmlAttr('^\\s*399 [^ ]+ "Missing Content-Type"\\s*$'),
        TIMEOUT_MS: "2000",
      },
      timeoutMs: 10_000,
    });
    expect(result.errors).toBe("");
    expect(result.ok).toBe(true);
    expect(events.filter((e) => e.type === "call.offered").length).toBe(offered);
    expect(activity(runner.state)).toBe("idle");
    await validCall();
  });

  it("a caller that never ACKs the 200 OK: the call ends no_ack with a BYE, then the desk answers", async () => {
    const before = ended().length;
    const result = await runSippUac({
      kamailio,
      target: "1017",
      scenario: "uac-noack.xml",
      headers: { "X-Queue": "anagrafe" },
      values: { TIMEOUT_MS: "10000" },
      timeoutMs: 20_000,
    });
    expect(result.errors).toBe("");
    expect(result.ok).toBe(true);
    await until(() => ended().length > before, "call.ended");
    expect(ended().at(-1)).toMatchObject({ end_reason: "no_ack" });
    await until(() => activity(runner.state) === "idle", "idle");
    await validCall();
  });
});
