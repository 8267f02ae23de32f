/**
 * Regression test named after the bug, found by the SIP fuzz test (seed 20261205, mutant #2540):
 * sip.js keys server transactions by the top Via's branch alone, so two requests whose top Via
 * has no branch (RFC 2543 style, or a mangled one) share the key `undefined`, and the second
 * INVITE is absorbed as a "retransmission" of the first while that transaction lives (up to
 * 32 s): no answer at all, the caller never hears back.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import type { MediaSessionFactory } from "../../src/media/media.js";
import { SipAgent } from "../../src/sip/sip-agent.js";
import { FakeRegistrar, invite, sdpOffer } from "./fake-registrar.js";
import { Inputs, testSipOptions } from "./harness.js";

const noMedia: MediaSessionFactory = { create: () => Promise.reject(new Error("no media in this test")) };

let pbx: FakeRegistrar;
let agent: SipAgent;
let inputs: Inputs;

beforeAll(async () => {
  pbx = await FakeRegistrar.start();
  agent = new SipAgent({ options: testSipOptions(pbx.url), media: noMedia, log: silentLogger });
  inputs = new Inputs();
  // a busy desk: every offer refused at once
  inputs.onInput = (i) => {
    if (i.type === "call_offered")
      void agent.execute({ type: "sip", action: "reject", callId: i.callId, code: 486 });
  };
  await agent.start(inputs.emit);
  await inputs.waitForSip((i) => i.sip === "registered");
});

afterAll(async () => {
  await agent?.stop();
  await pbx?.close();
});

const branchless = (callId: string, via: string) =>
  invite("sip:1017@127.0.0.1", callId, sdpOffer(4000)).replace(/^Via: [^\r]*/m, `Via: ${via}`);

describe("requests whose top Via has no branch", () => {
  it("each INVITE gets its own answer", async () => {
    const finals: string[] = [];
    for (const via of ["SIP/2.0/WS pbx.invalid", "SIP/2.0/WS pbx.invalid;received=127.0.0.1"]) {
      const callId = `nb-${randomBytes(4).toString("hex")}`;
      const mark = pbx.received.length;
      pbx.send(branchless(callId, via));
      const final = await pbx.waitFor(
        (m) => m.header("call-id") === callId && /^SIP\/2\.0 [2-6]\d\d /.test(m.firstLine),
        3000,
        mark,
      );
      finals.push(final.firstLine);
    }
    expect(finals).toEqual(["SIP/2.0 486 Busy Here", "SIP/2.0 486 Busy Here"]);
  });

  it("a resent branchless INVITE is still the same transaction (one offer, not two)", async () => {
    const callId = `nb-${randomBytes(4).toString("hex")}`;
    const text = branchless(callId, "SIP/2.0/WS pbx.invalid");
    const mark = inputs.mark;
    pbx.send(text);
    pbx.send(text);
    await pbx.waitFor((m) => m.header("call-id") === callId && m.firstLine.startsWith("SIP/2.0 486 "));
    await new Promise((r) => setTimeout(r, 200));
    expect(inputs.all.slice(mark).filter((i) => i.type === "call_offered")).toHaveLength(1);
  });
});
