/**
 * Calls between the SIP side (with the real media factory) and baresip through a real Kamailio:
 * inbound answered with audio verified both ways, reject, caller cancel, remote and local hang-up,
 * hold and resume (direction on the wire), DTMF, blind transfer, outbound calls.
 * A minimal desk rule drives the agent: it executes the SIP actions each test asks for.
 */
import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { SipAction } from "../../src/core/types.js";
import type { SipAgent } from "../../src/sip/sip-agent.js";
import { type Baresip, startBaresip } from "../lab/baresip.js";
import { type Kamailio, startKamailio } from "../lab/kamailio.js";
import { baresipPort } from "../lab/ports.js";
import {
  DESK_HZ,
  FAR_HZ,
  latestDecoded,
  makeDeskTone,
  makeFarTone,
  sipDebugLog,
  startToneDesk,
  startToneFar,
  toneError,
} from "../lab/tone-desk.js";
import type { Inputs } from "../sip/harness.js";

const KAMAILIO_BASE = 27160;
const RTP = { address: "127.0.0.1", portMin: 21000, portMax: 21999, codecs: ["PCMU", "PCMA"] };

let kam: Kamailio;
let dir: string;
let agent: SipAgent;
let inputs: Inputs;
let far: Baresip;
const extra: Baresip[] = [];

const sip = (a: SipAction) => agent.execute({ type: "sip", ...a });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  kam = await startKamailio({ base: KAMAILIO_BASE });
  dir = await mkdtemp(join(tmpdir(), "cuffia-sip-calls-"));
  const farTone = await makeFarTone(dir);
  ({ agent, inputs } = await startToneDesk({
    url: `ws://127.0.0.1:${kam.wsPort}`,
    tone: await makeDeskTone(dir),
    sinkDir: dir,
    rtp: RTP,
    log: sipDebugLog,
  }));
  far = await startToneFar(kam, farTone);
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  for (const b of [far, ...extra]) await b?.stop();
  await kam?.stop();
});

afterEach(async () => {
  // no call may leak from one test into the next
  await sleep(300);
});

async function offered() {
  const mark = inputs.mark;
  await far.dial(`sip:1017@${kam.domain}`);
  return inputs.waitFor("call_offered", () => true, 10_000, mark);
}

async function answered() {
  const offer = await offered();
  await sip({ action: "answer", callId: offer.callId });
  await inputs.waitFor("call_answered", (i) => i.callId === offer.callId);
  await far.waitFor("CALL_ESTABLISHED");
  return offer.callId;
}

describe("inbound calls", () => {
  it("answers, carries audio both ways, and reports the far end's hang-up with stats", async () => {
    const callId = await answered();
    await sleep(3500);
    await far.hangup();
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === callId);
    expect(ended.reason).toBe("remote_hangup");
    expect(ended.stats?.packetsReceived).toBeGreaterThan(100);
    expect(ended.stats?.packetsSent).toBeGreaterThan(100);
    await sleep(500);
    // what the far end received (baresip's -dec recording) is the daemon's tone
    const dec = await latestDecoded(far);
    expect(dec).toBeDefined();
    expect(await toneError(dec as string, DESK_HZ)).toBeLessThan(20);
    // what the daemon's sink got is the far end's tone
    const sinks = (await readdir(dir)).filter((f) => f.startsWith("sink-"));
    expect(sinks.length).toBe(1);
    expect(await toneError(join(dir, sinks[0] as string), FAR_HZ)).toBeLessThan(20);
  });

  it("rejects with the status the desk asks for", async () => {
    const offer = await offered();
    await sip({ action: "reject", callId: offer.callId, code: 486 });
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === offer.callId);
    expect(ended.reason).toBe("rejected");
    await far.waitFor("CALL_CLOSED");
  });

  it("sends 180 Ringing while the desk rings, and none when the desk answers at once", async () => {
    const { readFile } = await import("node:fs/promises");
    /** The responses to the far end's latest INVITE, as it received them. */
    const responses = async (callId: string) => {
      const trace = await readFile(far.logFile, "utf8");
      return trace
        .split(/\n(?=SIP\/2\.0 \d{3} |[A-Z]+ sip:)/)
        .filter((m) => /^SIP\/2\.0 /.test(m) && /\nCSeq: *\d+ INVITE/i.test(m))
        .filter((m) => new RegExp(`\\nCall-ID: *${callId}\\s`, "i").test(m))
        .map((m) => Number(m.slice(8, 11)));
    };
    // ringing: the desk decides to ring (the core's `ring` action), then takes its time
    const ringing = await offered();
    await sleep(300);
    expect(await responses(ringing.callId)).not.toContain(180); // not before the desk says so
    await sip({ action: "ring", callId: ringing.callId });
    await far.waitFor("CALL_RINGING");
    await sip({ action: "answer", callId: ringing.callId });
    await far.waitFor("CALL_ESTABLISHED");
    await sip({ action: "hangup", callId: ringing.callId });
    await inputs.waitFor("call_ended", (i) => i.callId === ringing.callId);
    await sleep(300);
    expect(await responses(ringing.callId)).toContain(180);
    // auto-answer: the desk answers while the offer is being handed to it
    inputs.onInput = (i) => {
      if (i.type === "call_offered") void sip({ action: "answer", callId: i.callId });
    };
    try {
      const mark = inputs.mark;
      await far.dial(`sip:1017@${kam.domain}`);
      const auto = await inputs.waitFor("call_answered", () => true, 10_000, mark);
      await sip({ action: "hangup", callId: auto.callId });
      await inputs.waitFor("call_ended", (i) => i.callId === auto.callId);
      await sleep(300);
      const codes = await responses(auto.callId);
      expect(codes).toContain(200);
      expect(codes).not.toContain(180);
    } finally {
      inputs.onInput = () => {};
    }
  });

  it("reports the caller's CANCEL", async () => {
    const offer = await offered();
    await far.hangup();
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === offer.callId);
    expect(ended.reason).toBe("cancelled");
  });

  it("hangs up locally with a BYE", async () => {
    const callId = await answered();
    await sip({ action: "hangup", callId });
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === callId);
    expect(ended.reason).toBe("local_hangup");
    await far.waitFor("CALL_CLOSED");
  });

  it("holds and resumes by re-INVITE (sendonly, then sendrecv on the wire)", async () => {
    const callId = await answered();
    const mark = inputs.mark;
    await sip({ action: "hold", callId, on: true });
    await inputs.waitFor("call_held", (i) => i.by === "local" && i.held, 10_000, mark);
    await sip({ action: "hold", callId, on: false });
    await inputs.waitFor("call_held", (i) => i.by === "local" && !i.held, 10_000, mark);
    const { readFile } = await import("node:fs/promises");
    const trace = await readFile(far.logFile, "utf8");
    const invites = trace
      .split(/(?=INVITE sip:)/)
      .filter((m) => m.includes("CSeq:") && /a=(sendonly|sendrecv|inactive)/.test(m));
    const directions = invites.map((m) => /a=(sendonly|sendrecv|inactive)/.exec(m)?.[1]);
    // the initial INVITE, then our hold (sendonly) and our resume (sendrecv), as received
    expect(directions.slice(-2)).toEqual(["sendonly", "sendrecv"]);
    await sip({ action: "hangup", callId });
    await inputs.waitFor("call_ended", (i) => i.callId === callId);
  });

  it("notices the far end holding us and resuming (remote hold)", async () => {
    const callId = await answered();
    const mark = inputs.mark;
    await far.command("hold");
    await inputs.waitFor(
      "call_held",
      (i) => i.by === "remote" && i.held && i.callId === callId,
      10_000,
      mark,
    );
    await far.command("resume");
    await inputs.waitFor(
      "call_held",
      (i) => i.by === "remote" && !i.held && i.callId === callId,
      10_000,
      mark,
    );
    // Being held is no reason to end the call: it is still up until we hang up.
    expect(inputs.all.slice(mark).some((i) => i.type === "call_ended")).toBe(false);
    await sip({ action: "hangup", callId });
    await inputs.waitFor("call_ended", (i) => i.callId === callId);
  });

  it("sends DTMF the far end receives", async () => {
    const callId = await answered();
    await sip({ action: "dtmf", callId, digits: "1#" });
    const ev = await far.waitFor("CALL_DTMF_START", 10_000);
    expect(JSON.stringify(ev)).toMatch(/"1"/);
    await sip({ action: "hangup", callId });
    await inputs.waitFor("call_ended", (i) => i.callId === callId);
  });

  it("transfers the caller blind to another extension", async () => {
    const target = await startBaresip({
      kamailio: kam,
      user: "2002",
      port: await baresipPort(),
      autoAnswer: true,
    });
    extra.push(target);
    const callId = await answered();
    await sip({ action: "transfer", callId, target: "2002" });
    const t = await inputs.waitFor("call_transferred", (i) => i.callId === callId, 20_000);
    expect(t.ok).toBe(true);
    expect(t.by).toBe("local");
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === callId);
    expect(ended.reason).toBe("transferred");
    await target.waitFor("CALL_ESTABLISHED", 10_000);
    await target.hangup();
    await far.waitFor("CALL_CLOSED");
  });
});

describe("outbound calls", () => {
  it("dials, is answered, hangs up", async () => {
    const mark = inputs.mark;
    await sip({ action: "dial", target: "2001" });
    const d = await inputs.waitFor("call_dialling", () => true, 10_000, mark);
    await far.waitFor("CALL_INCOMING");
    await far.accept();
    await inputs.waitFor("call_answered", (i) => i.callId === d.callId);
    await sip({ action: "hangup", callId: d.callId });
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === d.callId);
    expect(ended.reason).toBe("local_hangup");
  });

  it("reports a refused call as failed with the SIP status", async () => {
    const mark = inputs.mark;
    await sip({ action: "dial", target: "3001" }); // known user, not registered
    const d = await inputs.waitFor("call_dialling", () => true, 10_000, mark);
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === d.callId);
    expect(ended.reason).toBe("failed");
    expect(ended.detail).toMatch(/^[456]\d\d /);
  });
});
