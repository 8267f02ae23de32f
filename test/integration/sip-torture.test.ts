/**
 * RFC 4475 torture messages and broken media delivered over the daemon's registered connection
 * (a scripted WebSocket registrar): the daemon stays up and registered, answers 416 to unkscm and
 * novelsc (which kill a bare sip.js agent, sip-lab.md), and still answers the next valid call.
 * Malformed SDP is refused with 488 and a Warning before the desk rings; RTP garbage does not
 * hurt a call.
 */
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, silentLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { SipAgent } from "../../src/sip/sip-agent.js";
import { FakeRegistrar, invite, type Received, sdpOffer } from "../sip/fake-registrar.js";
import { Inputs, testSipOptions } from "../sip/harness.js";

const log = process.env.SIP_DEBUG
  ? createLogger({ level: "debug", destination: process.stderr })
  : silentLogger;
const dir = fileURLToPath(new URL("../fixtures/sip-torture/", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pbx: FakeRegistrar;
let agent: SipAgent;
let inputs: Inputs;
let contact: string;

beforeAll(async () => {
  pbx = await FakeRegistrar.start();
  agent = new SipAgent({
    options: testSipOptions(pbx.url, { livenessSeconds: 2 }),
    media: createMediaFactory({
      audio: { source: { type: "none" }, sink: { type: "none" } },
      rtp: { address: "127.0.0.1", portMin: 22000, portMax: 22999, codecs: ["PCMU"] },
      log,
    }),
    log,
  });
  inputs = new Inputs();
  await agent.start(inputs.emit);
  await inputs.waitForSip((i) => i.sip === "registered");
  const reg = await pbx.waitFor((m) => m.firstLine.startsWith("REGISTER "));
  contact = /<([^>]+)>/.exec(reg.header("contact") ?? "")?.[1] ?? "";
  expect(contact).toMatch(/^sip:/);
});

afterAll(async () => {
  await agent?.stop();
  await pbx?.close();
});

const responsesTo = (callId: string) =>
  pbx.received.filter((m) => m.firstLine.startsWith("SIP/2.0 ") && m.header("call-id") === callId);

/** Sends an INVITE, lets the agent answer, returns the 200 OK (or the final failure). */
async function callIn(sdp: string, answer = true): Promise<{ callId: string; final: Received }> {
  const callId = `t-${randomBytes(6).toString("hex")}`;
  const mark = pbx.received.length;
  pbx.send(invite(contact, callId, sdp, ["Call-Info: <sip:127.0.0.1>;answer-after=0", "X-Queue: anagrafe"]));
  if (answer) {
    const offer = await inputs.waitFor("call_offered", (i) => i.callId === callId).catch(() => null);
    if (offer) await agent.execute({ type: "sip", action: "answer", callId });
  }
  const final = await pbx.waitFor(
    (m) => m.header("call-id") === callId && /^SIP\/2\.0 [2-6]\d\d /.test(m.firstLine),
    5000,
    mark,
  );
  return { callId, final };
}

function ackAndBye(ok: Received): { ack: string; bye: string } {
  const to = ok.header("to") ?? "";
  const remote = /<([^>]+)>/.exec(ok.header("contact") ?? "")?.[1] ?? contact;
  const from = ok.header("from") ?? "";
  const callId = ok.header("call-id") ?? "";
  const mk = (method: string, cseq: number) =>
    [
      `${method} ${remote} SIP/2.0`,
      `Via: SIP/2.0/WS pbx.invalid;branch=z9hG4bK${randomBytes(6).toString("hex")}`,
      "Max-Forwards: 70",
      `From: ${from}`,
      `To: ${to}`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} ${method}`,
      "Content-Length: 0",
      "",
      "",
    ].join("\r\n");
  return { ack: mk("ACK", 1), bye: mk("BYE", 2) };
}

describe("RFC 4475 torture messages on the registered connection", () => {
  it("survives all 49, answers 416 to unkscm and novelsc, stays registered, answers the next call", async () => {
    const files = readdirSync(dir).filter((f) => f.endsWith(".dat"));
    expect(files).toHaveLength(49);
    const regMark = inputs.mark;
    for (const f of files) {
      // binary frames keep the messages byte-exact (some are not UTF-8)
      const bytes = readFileSync(`${dir}${f}`);
      pbx.send(bytes);
      await sleep(30);
    }
    await sleep(1000);
    for (const [name, callId] of [
      ["unkscm", "unkscm.nasdfasser0q239nwsdfasdkl34"],
      ["novelsc", "novelsc.asdfasser0q239nwsdfasdkl34"],
    ] as const) {
      const r = responsesTo(callId);
      expect(
        r.map((m) => m.firstLine),
        name,
      ).toEqual(["SIP/2.0 416 Unsupported URI Scheme"]);
    }
    // RFC 4475 multi01 (From, To, Call-ID, CSeq, Max-Forwards twice) and mcl01 (two
    // Content-Lengths): 400 with a Warning, before sip.js builds anything out of them
    for (const [name, callId, dup] of [
      ["multi01", "multi01.98asdh@192.0.2.1", "CSeq, Call-ID, To, From, Max-Forwards"],
      ["mcl01", "mcl01.fhn2323orihawfdoa3o4r52o3irsdf", "Content-Length"],
    ] as const) {
      const r = responsesTo(callId);
      expect(
        r.map((m) => m.firstLine),
        name,
      ).toEqual(["SIP/2.0 400 Bad Request"]);
      expect(r[0]?.header("warning"), name).toMatch(new RegExp(`^399 \\S+ "Duplicate ${dup} headers?"$`));
    }
    // still the same connection, still registered, liveness still answered
    expect(pbx.connections).toBe(1);
    expect(inputs.all.slice(regMark).filter((i) => i.type === "health" && "sip" in i)).toEqual([]);
    expect(agent.registration).toBe("registered");
    // and a valid call still works
    const { final, callId } = await callIn(sdpOffer(40000));
    expect(final.firstLine).toBe("SIP/2.0 200 OK");
    expect(final.text).toMatch(/\r\nm=audio \d+ RTP\/AVP 0/);
    const offered = inputs.all.find((i) => i.type === "call_offered" && i.callId === callId);
    expect(offered).toMatchObject({
      number: "5551234",
      displayName: "Caller",
      queue: "anagrafe",
      autoAnswer: true,
    });
    const { ack, bye } = ackAndBye(final);
    pbx.send(ack);
    await inputs.waitFor("call_answered", (i) => i.callId === callId);
    pbx.send(bye);
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === callId);
    expect(ended.reason).toBe("remote_hangup");
  });
});

describe("broken media", () => {
  it("answers 488 to an offer without audio, without ringing the desk", async () => {
    const sdp =
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n";
    const { final, callId } = await callIn(sdp, false);
    expect(final.firstLine).toMatch(/^SIP\/2\.0 488 /);
    expect(final.header("warning")).toMatch(/^304 \S+ "no active audio stream"$/);
    expect(inputs.all.some((i) => i.type === "call_offered" && i.callId === callId)).toBe(false);
  });

  it("answers 488 with a Warning to malformed SDP, without ringing the desk", async () => {
    const sdp = "v=0\r\nthis is not sdp\r\nm=audio notaport RTP/AVP zero\r\nc=IN IP4\r\n";
    const { final, callId } = await callIn(sdp, false);
    expect(final.firstLine).toMatch(/^SIP\/2\.0 488 /);
    expect(final.header("warning")).toMatch(/^399 \S+ "Malformed SDP: .+"$/);
    expect(inputs.all.some((i) => i.type === "call_offered" && i.callId === callId)).toBe(false);
  });

  it("keeps a call up through RTP garbage", async () => {
    const { final, callId } = await callIn(sdpOffer(40002));
    expect(final.firstLine).toBe("SIP/2.0 200 OK");
    const { ack, bye } = ackAndBye(final);
    pbx.send(ack);
    await inputs.waitFor("call_answered", (i) => i.callId === callId);
    const rtpPort = Number(/\r\nm=audio (\d+) /.exec(final.text)?.[1]);
    const udp = createSocket("udp4");
    await new Promise<void>((r) => udp.bind(40002, "127.0.0.1", () => r()));
    for (let i = 0; i < 200; i++) {
      const junk = randomBytes(1 + (i % 300));
      if (i % 3 === 0) junk[0] = 0x80; // looks like RTP v2
      udp.send(junk, rtpPort, "127.0.0.1");
      udp.send(junk, rtpPort + 1, "127.0.0.1"); // and RTCP
    }
    await sleep(500);
    udp.close();
    expect(inputs.all.some((i) => i.type === "call_ended" && i.callId === callId)).toBe(false);
    pbx.send(bye);
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === callId);
    expect(ended.reason).toBe("remote_hangup");
    await pbx
      .waitFor(
        (m) =>
          m.header("call-id") === callId &&
          m.firstLine === "SIP/2.0 200 OK" &&
          /BYE/.test(m.header("cseq") ?? ""),
      )
      .catch((e) => {
        throw new Error(
          `${e}: ${JSON.stringify(responsesTo(callId).map((m) => [m.firstLine, m.header("cseq")]))}`,
        );
      });
  });
});
