/**
 * Issue 11, "a call cannot outlive reality", on the SIP side: the agent against a scripted PBX
 * (FakeRegistrar over ws://) with a fake MediaSession whose media timeout the test fires.
 * - media timeout → BYE and call_ended(media_timeout, detail);
 * - RFC 4028: 422 + Min-SE for a too-small Session-Expires; the 2xx carries Session-Expires and
 *   Require: timer; no refresh from the far end (refresher=uac) → BYE, session_expired; we refresh
 *   (refresher=uas) with a re-INVITE before half the interval; a 481 to it → dialog_lost;
 *   the far end's refresh re-INVITE gets its Session-Expires back and restarts the timer;
 * - after a re-registration on a new connection: an in-dialog re-INVITE (OPTIONS while another
 *   re-INVITE is under way); 481 or no answer → dialog_lost, 200 → the call goes on.
 * The Min-SE is shortened to 2 s here so the timers run in seconds (90 s in the daemon).
 */
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { MediaStats } from "../../src/core/types.js";
import { createLogger, silentLogger } from "../../src/log/logger.js";
import type { MediaSession, MediaSessionFactory } from "../../src/media/media.js";
import { SipAgent } from "../../src/sip/sip-agent.js";
import {
  FakeRegistrar,
  inDialogRequest,
  invite,
  type Received,
  response,
  sdpOffer,
} from "./fake-registrar.js";
import { Inputs, testSipOptions } from "./harness.js";

const STATS: MediaStats = {
  packetsSent: 1,
  packetsReceived: 1,
  packetsLost: 0,
  jitterMs: 0,
  roundTripMs: null,
  packetsRejected: 0,
};

const SDP = sdpOffer(40000);
const log = process.env.SIP_DEBUG
  ? createLogger({ level: "debug", destination: process.stderr })
  : silentLogger;

/** MediaSessions whose media timeout the test fires by Call-ID. */
class FakeMediaFactory implements MediaSessionFactory {
  readonly timeouts = new Map<string, (detail: string) => void>();
  readonly closed: string[] = [];
  async create({ callId }: { callId: string }): Promise<MediaSession> {
    const listeners: ((detail: string) => void)[] = [];
    this.timeouts.set(callId, (d) => {
      for (const l of listeners) l(d);
    });
    return {
      createOffer: () => SDP,
      answer: () => SDP,
      acceptAnswer: () => {},
      remoteDirection: "sendrecv",
      setMuted: () => {},
      sendDtmf: async () => {},
      onDtmf: () => {},
      onMediaTimeout: (l) => listeners.push(l),
      stats: () => STATS,
      close: async () => {
        this.closed.push(callId);
        return STATS;
      },
    };
  }
}

let pbx: FakeRegistrar;
let agent: SipAgent;
let inputs: Inputs;
let contact: string;
const media = new FakeMediaFactory();

beforeAll(async () => {
  pbx = await FakeRegistrar.start();
  agent = new SipAgent({
    options: testSipOptions(pbx.url, { livenessSeconds: 0, keepAliveSeconds: 0 }),
    media,
    log,
    backoff: { baseMs: 50, capMs: 100 },
    sessionTimerMinSe: 2,
    dialogCheckTimeoutMs: 1500,
  });
  inputs = new Inputs();
  await agent.start(inputs.emit);
  await inputs.waitForSip((i) => i.sip === "registered");
  const reg = await pbx.waitFor((m) => m.firstLine.startsWith("REGISTER "));
  contact = /<([^>]+)>/.exec(reg.header("contact") ?? "")?.[1] ?? "";
});

afterEach(() => {
  pbx.answerOptions = () => "200 OK";
});

afterAll(async () => {
  await agent?.stop();
  await pbx?.close();
});

/** A request from the PBX inside the dialog our 200 OK set up. */
const inDialog = (ok: Received, method: string, cseq: number, extra: string[] = [], body = "") =>
  inDialogRequest(ok, method, cseq, { extra, body, contact: true, fallbackTarget: contact });

const fromAgent = (callId: string, start: string) => (m: Received) =>
  m.header("call-id") === callId && m.firstLine.startsWith(start);

/** An answered, ACKed inbound call; returns its Call-ID and our 200 OK. */
async function establish(extraHeaders: string[] = []): Promise<{ callId: string; ok: Received }> {
  const callId = `h-${randomBytes(6).toString("hex")}`;
  const mark = pbx.received.length;
  pbx.send(invite(contact, callId, SDP, extraHeaders));
  await inputs.waitFor("call_offered", (i) => i.callId === callId);
  await agent.execute({ type: "sip", action: "answer", callId });
  const ok = await pbx.waitFor(fromAgent(callId, "SIP/2.0 200"), 5000, mark);
  pbx.send(inDialog(ok, "ACK", 1));
  await inputs.waitFor("call_answered", (i) => i.callId === callId);
  // call_answered comes with our 200 OK; let the ACK arrive before a test drops the connection
  await new Promise((r) => setTimeout(r, 200));
  return { callId, ok };
}

describe("media timeout", () => {
  it("ends the call with a BYE and call_ended(media_timeout) carrying the media side's detail", async () => {
    const { callId } = await establish();
    const mark = pbx.received.length;
    media.timeouts.get(callId)?.("no RTP or RTCP from 127.0.0.1:40000 for 3 s");
    const bye = await pbx.waitFor(fromAgent(callId, "BYE "), 3000, mark);
    pbx.send(response(bye, "200 OK"));
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === callId);
    expect(ended).toMatchObject({
      reason: "media_timeout",
      detail: "no RTP or RTCP from 127.0.0.1:40000 for 3 s",
    });
    expect(media.closed).toContain(callId);
    expect(agent.liveCalls()).not.toContain(callId);
  });
});

describe("RFC 4028 session timers", () => {
  it("refuses a Session-Expires below Min-SE with 422 and Min-SE, before the desk is offered the call", async () => {
    const callId = `h-${randomBytes(6).toString("hex")}`;
    const mark = inputs.mark;
    pbx.send(invite(contact, callId, SDP, ["Supported: timer", "Session-Expires: 1"]));
    const r = await pbx.waitFor(fromAgent(callId, "SIP/2.0 4"));
    expect(r.firstLine).toBe("SIP/2.0 422 Session Interval Too Small");
    expect(r.header("min-se")).toBe("2");
    expect(inputs.all.slice(mark).some((i) => i.type === "call_offered")).toBe(false);
  });

  it("answers with Session-Expires and Require: timer; no refresh from the far end → BYE, session_expired", async () => {
    const t0 = Date.now();
    const { callId, ok } = await establish([
      "Supported: timer",
      "Session-Expires: 3;refresher=uac",
      "Min-SE: 2",
    ]);
    expect(ok.header("session-expires")).toBe("3;refresher=uac");
    expect(ok.header("require")).toBe("timer");
    const bye = await pbx.waitFor(fromAgent(callId, "BYE "), 5000);
    pbx.send(response(bye, "200 OK"));
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === callId);
    expect(ended.reason).toBe("session_expired");
    expect(ended.detail).toMatch(/no session refresh within 3 s/);
    // RFC 4028 §10: at interval − min(32, interval/3) = 2 s, not before
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
  });

  it("a refresh re-INVITE from the far end gets Session-Expires back and keeps the call up", async () => {
    const { callId, ok } = await establish(["Supported: timer", "Session-Expires: 3;refresher=uac"]);
    for (let cseq = 2; cseq <= 4; cseq++) {
      await new Promise((r) => setTimeout(r, 1200));
      const mark = pbx.received.length;
      pbx.send(inDialog(ok, "INVITE", cseq, ["Supported: timer", "Session-Expires: 3;refresher=uac"], SDP));
      const rok = await pbx.waitFor(fromAgent(callId, "SIP/2.0 200"), 3000, mark);
      expect(rok.header("session-expires")).toBe("3;refresher=uac");
      pbx.send(inDialog(ok, "ACK", cseq));
    }
    // 3.6 s after the answer, past the first expiry: still up
    expect(agent.liveCalls()).toContain(callId);
    await agent.execute({ type: "sip", action: "hangup", callId });
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === callId);
    expect(ended.reason).toBe("local_hangup");
  });

  it("our hold re-INVITE carries Session-Expires (else it would turn the far end's timer off) and its 2xx refreshes", async () => {
    const { callId } = await establish(["Supported: timer", "Session-Expires: 3;refresher=uac"]);
    await new Promise((r) => setTimeout(r, 1000));
    const mark = pbx.received.length;
    const heldAt = Date.now();
    void agent.execute({ type: "sip", action: "hold", callId, on: true });
    const hold = await pbx.waitFor(fromAgent(callId, "INVITE "), 3000, mark);
    // the far end stays the refresher: it is the UAS of this request
    expect(hold.header("session-expires")).toBe("3;refresher=uas");
    pbx.send(
      response(hold, "200 OK", ["Session-Expires: 3;refresher=uas", "Content-Type: application/sdp"], SDP),
    );
    await inputs.waitFor("call_held", (i) => i.callId === callId && i.held);
    // past the first expiry (2 s after the answer), not past the refreshed one (2 s after the hold)
    await new Promise((r) => setTimeout(r, 1500));
    expect(agent.liveCalls()).toContain(callId);
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === callId, 3000);
    expect(ended.reason).toBe("session_expired");
    expect(Date.now() - heldAt).toBeGreaterThanOrEqual(1900);
  });

  it("refreshes with a re-INVITE before half the interval when we are the refresher; 481 → dialog_lost", async () => {
    const t0 = Date.now();
    const { callId, ok } = await establish(["Supported: timer", "Session-Expires: 4"]);
    // no refresher chosen by the UAC: we refresh (RFC 4028 §9 leaves the choice to the UAS)
    expect(ok.header("session-expires")).toBe("4;refresher=uas");
    const first = await pbx.waitFor(fromAgent(callId, "INVITE "), 4000);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(first.header("session-expires")).toBe("4;refresher=uac");
    expect(first.header("supported")).toMatch(/timer/);
    pbx.send(
      response(first, "200 OK", ["Session-Expires: 4;refresher=uac", "Content-Type: application/sdp"], SDP),
    );
    const mark = pbx.received.length;
    const second = await pbx.waitFor(fromAgent(callId, "INVITE "), 4000, mark);
    pbx.send(response(second, "481 Call/Transaction Does Not Exist"));
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === callId);
    expect(ended).toMatchObject({ reason: "dialog_lost", detail: "session refresh: 481" });
  });
});

describe("dialog check after a re-registration on a new connection", () => {
  it("re-INVITEs each call (a target refresh): 481 ends it with dialog_lost, a 200 leaves it up", async () => {
    // the live call has a session timer: the check is a refresh too, the far end still refreshing
    const alive = await establish(["Supported: timer", "Session-Expires: 30;refresher=uac"]);
    const dead = await establish();
    const connections = pbx.connections;
    const mark = pbx.received.length;
    agent.reconnect("test: PBX restart");
    await expect.poll(() => pbx.connections, { timeout: 5000 }).toBe(connections + 1);
    const deadCheck = await pbx.waitFor(fromAgent(dead.callId, "INVITE "), 5000, mark);
    expect(deadCheck.header("to")).toMatch(/;tag=/); // in the dialog, not out of it
    expect(deadCheck.header("session-expires")).toBeUndefined();
    pbx.send(response(deadCheck, "481 Call/Transaction Does Not Exist"));
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === dead.callId);
    expect(ended).toMatchObject({
      reason: "dialog_lost",
      detail: "dialog check: 481 Call/Transaction Does Not Exist to re-INVITE",
    });
    const aliveCheck = await pbx.waitFor(fromAgent(alive.callId, "INVITE "), 5000, mark);
    expect(aliveCheck.header("session-expires")).toBe("30;refresher=uas");
    // our new connection's Contact is what the far end's next requests (its BYE) will follow
    expect(aliveCheck.header("contact")).toBeTruthy();
    pbx.send(
      response(
        aliveCheck,
        "200 OK",
        ["Session-Expires: 30;refresher=uas", "Content-Type: application/sdp"],
        SDP,
      ),
    );
    await pbx.waitFor(fromAgent(alive.callId, "ACK "), 3000, mark);
    await new Promise((r) => setTimeout(r, 300));
    expect(agent.liveCalls()).toContain(alive.callId);
    expect(agent.liveCalls()).not.toContain(dead.callId);
    await agent.execute({ type: "sip", action: "hangup", callId: alive.callId });
    await inputs.waitFor("call_ended", (i) => i.callId === alive.callId);
  });

  it("no answer to the re-INVITE ends the call with dialog_lost", async () => {
    const { callId } = await establish();
    agent.reconnect("test: PBX restart");
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === callId, 8000);
    expect(ended.reason).toBe("dialog_lost");
    expect(ended.detail).toMatch(/no answer to re-INVITE within 1500 ms/);
  });

  it("with a re-INVITE already under way (a hold), it asks with an OPTIONS; 481 → dialog_lost", async () => {
    const { callId } = await establish();
    const mark = pbx.received.length;
    // the far end never answers our hold re-INVITE
    void agent.execute({ type: "sip", action: "hold", callId, on: true });
    await pbx.waitFor(fromAgent(callId, "INVITE "), 3000, mark);
    pbx.answerOptions = (m) =>
      m.header("call-id") === callId ? "481 Call/Transaction Does Not Exist" : "200 OK";
    agent.reconnect("test: PBX restart");
    const options = await pbx.waitFor(fromAgent(callId, "OPTIONS "), 5000, mark);
    expect(options.header("to")).toMatch(/;tag=/);
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === callId);
    expect(ended).toMatchObject({
      reason: "dialog_lost",
      detail: "dialog check: 481 Call/Transaction Does Not Exist",
    });
  });
});

describe("reconciliation hooks", () => {
  it("endUnknownCall ends a ringing call the desk does not know with a 603", async () => {
    const callId = `h-${randomBytes(6).toString("hex")}`;
    pbx.send(invite(contact, callId, SDP));
    await inputs.waitFor("call_offered", (i) => i.callId === callId);
    expect(agent.liveCalls()).toContain(callId);
    await agent.endUnknownCall(callId, "reconciliation: the desk does not know this call");
    const r = await pbx.waitFor(fromAgent(callId, "SIP/2.0 6"));
    expect(r.firstLine).toMatch(/^SIP\/2\.0 603/);
    await expect.poll(() => agent.liveCalls().includes(callId)).toBe(false);
  });
});
