/**
 * Issue 11, "a call cannot outlive reality", against real peers: our own Kamailio (so it can be
 * stopped), baresip and SIPp as far ends, the real media factory, and the real desk core behind
 * a Runner (so call.ended events and the 486-while-busy rule are the daemon's own).
 * - the ghost call after a PBX restart over ws://: Kamailio stopped mid-call and started 5 s later,
 *   the desk re-registers and checks the dialog with a re-INVITE, which moves the dialog onto the
 *   new connection: the caller's BYE then reaches the desk (remote_hangup), and the next call is
 *   answered; when the caller hangs up while the PBX is still down (its BYE lost for good) →
 *   media_timeout, few "unreachable" lines, next call answered;
 * - a far end SIGKILLed after the ACK → media_timeout BYE, desk idle, next call answered;
 * - RFC 4028: a SIPp UAC that asks for Session-Expires 90 (refresher=uac) and never refreshes
 *   → BYE with session_expired 60 s after the answer (§10: 90 − min(32, 90/3)).
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { activity } from "../../src/core/derive.js";
import { initialState } from "../../src/core/desk.js";
import { Runner } from "../../src/core/runner.js";
import type { DeskEvent, Policy } from "../../src/core/types.js";
import { createLogger, type Logger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { SipAgent } from "../../src/sip/sip-agent.js";
import { makeTone } from "../lab/audio.js";
import { type Baresip, startBaresip } from "../lab/baresip.js";
import { findFreeBase, type Kamailio, startKamailio } from "../lab/kamailio.js";
import { baresipPort } from "../lab/ports.js";
import { runSippUac } from "../lab/sipp.js";
import { samplePolicy } from "../samples.js";
import { Inputs, testSipOptions } from "../sip/harness.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every log line, kept (and printed with SIP_DEBUG) so the test can count what was logged. */
const lines: Array<Record<string, unknown>> = [];
const log: Logger = createLogger({
  level: "debug",
  destination: {
    write: (line: string) => {
      lines.push(JSON.parse(line));
      if (process.env.SIP_DEBUG) process.stderr.write(line);
    },
  },
});

const policy: Policy = {
  ...samplePolicy,
  autoAnswer: true,
  wrapUpSeconds: 0,
  sides: { sip: true, headset: false, lcd: false, mqtt: false },
};

let kam: Kamailio;
let dir: string;
let tone: string;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  kam = await startKamailio({ base: await findFreeBase(27660) });
  dir = await mkdtemp(join(tmpdir(), "cuffia-liveness-"));
  tone = await makeTone(join(dir, "tone.wav"), { freq: 600, seconds: 60 });
}, 60_000);

afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
  await kam?.stop();
});

/** A desk (real core + SIP side with real media) registered as `user` on our Kamailio. */
async function startDesk(user: "1017" | "1018", mediaTimeoutMs: number, transport: "ws" | "tcp" = "ws") {
  const server = transport === "ws" ? `ws://127.0.0.1:${kam.wsPort}` : `tcp://127.0.0.1:${kam.tcpPort}`;
  const agent = new SipAgent({
    options: testSipOptions(server, {
      aor: `sip:${user}@127.0.0.1`,
      username: user,
      password: `pw${user}`,
      keepAliveSeconds: 5,
      livenessSeconds: 5,
    }),
    media: createMediaFactory({
      audio: { source: { type: "file", path: tone, loop: true }, sink: { type: "none" } },
      rtp: {
        address: "127.0.0.1",
        portMin: user === "1017" ? 23000 : 23500,
        portMax: user === "1017" ? 23499 : 23999,
        codecs: ["PCMU", "PCMA"],
        mediaTimeoutMs,
      },
      log: log.child(user),
    }),
    log: log.child(user),
    backoff: { baseMs: 500, capMs: 2000 },
  });
  const inputs = new Inputs();
  const runner = new Runner({ initial: initialState(policy, Date.now()), log: log.child("desk") });
  const events: DeskEvent[] = [];
  runner.subscribe((c) => {
    if (c.kind === "event") events.push(c.event);
  });
  // record what the SIP side emits, and hand it to the desk
  runner.add({
    name: "sip",
    handles: ["sip"],
    start: (emit) =>
      agent.start((input) => {
        inputs.emit(input);
        return emit(input);
      }),
    stop: () => agent.stop(),
    execute: (e) => agent.execute(e),
    project: (s) => agent.project(s),
    liveCalls: () => agent.liveCalls(),
    endUnknownCall: (id, detail) => agent.endUnknownCall(id, detail),
  });
  await runner.start();
  cleanup.push(() => runner.stop());
  runner.dispatch({ type: "command", command: { cmd: "login" }, origin: "control" });
  await inputs.waitForSip((i) => i.sip === "registered");
  const ended = (callId: string) => events.find((e) => e.type === "call.ended" && e.call_id === callId);
  return { agent, inputs, runner, events, ended };
}

async function caller(user: "2001" | "2002", regint = 600): Promise<Baresip> {
  const b = await startBaresip({ kamailio: kam, user, port: await baresipPort(), audioFile: tone, regint });
  cleanup.push(() => b.stop());
  return b;
}

/** Dials the desk from `far`; the desk auto-answers; resolves with the Call-ID once both ends are up. */
async function callDesk(desk: Awaited<ReturnType<typeof startDesk>>, far: Baresip, to: string) {
  const mark = desk.inputs.mark;
  await far.dial(`sip:${to}@${kam.domain}`);
  const offer = await desk.inputs.waitFor("call_offered", () => true, 10_000, mark);
  await desk.inputs.waitFor("call_answered", (i) => i.callId === offer.callId, 10_000, mark);
  await far.waitFor("CALL_ESTABLISHED");
  return offer.callId;
}

describe("calls that outlive reality end by themselves", () => {
  it.each(["ws", "tcp"] as const)(
    "ghost call after a PBX restart over %s://: the dialog check moves the dialog, the caller's BYE arrives, next call answered",
    async (transport) => {
      const desk = await startDesk("1017", 3000, transport);
      const far = await caller("2001", 3);
      const callId = await callDesk(desk, far, "1017");
      await sleep(2000);
      // PBX restart: stopped mid-call, back 5 s later (usrloc forgotten: both ends re-register)
      const regMark = desk.inputs.mark;
      await kam.stop();
      await sleep(5000);
      await kam.restart();
      await desk.inputs.waitForSip((i) => i.sip === "registered", 20_000, regMark);
      // the desk re-INVITEs over the new connection: the far end still has the call, and now
      // routes its requests to the desk's new Contact (RFC 3261 §12.2: a target refresh)
      await expect
        .poll(() => lines.some((l) => l["msg"] === "dialog check: the far end still has the call"), {
          timeout: 15_000,
        })
        .toBe(true);
      expect(activity(desk.runner.state)).toBe("on_call");
      await expect.poll(() => far.isRegistered(), { timeout: 10_000 }).toBe(true);
      // the caller hangs up: before the check, Kamailio could not route this BYE (the old WebSocket)
      const linesBefore = lines.length;
      await far.hangup();
      const ended = await desk.inputs.waitFor("call_ended", (i) => i.callId === callId, 10_000);
      expect(ended.reason).toBe("remote_hangup");
      expect(desk.ended(callId)).toMatchObject({ type: "call.ended", end_reason: "remote_hangup" });
      expect(activity(desk.runner.state)).toBe("idle");
      const unreachable = lines.slice(linesBefore).filter((l) => /unreachable/i.test(String(l["msg"])));
      expect(unreachable.length).toBeLessThan(10);
      // and the next citizen gets through
      await far.waitFor("CALL_CLOSED");
      const next = await callDesk(desk, far, "1017");
      expect(activity(desk.runner.state)).toBe("on_call");
      await far.hangup();
      const nextEnded = await desk.inputs.waitFor("call_ended", (i) => i.callId === next, 10_000);
      expect(nextEnded.reason).toBe("remote_hangup");
      await desk.runner.stop();
    },
    120_000,
  );

  it("the caller hangs up while the PBX is down (its BYE lost): media_timeout, no log flood, next call answered", async () => {
    const desk = await startDesk("1017", 3000);
    const far = await caller("2002", 3);
    const callId = await callDesk(desk, far, "1017");
    await sleep(1500);
    const linesBefore = lines.length;
    const regMark = desk.inputs.mark;
    await kam.stop();
    const hungUpAt = Date.now();
    await far.hangup(); // the BYE goes to a stopped Kamailio
    const ended = await desk.inputs.waitFor("call_ended", (i) => i.callId === callId, 10_000);
    expect(ended.reason).toBe("media_timeout");
    expect(Date.now() - hungUpAt).toBeLessThan(8000);
    expect(desk.ended(callId)).toMatchObject({ end_reason: "media_timeout" });
    expect(activity(desk.runner.state)).toBe("idle");
    await sleep(5000 - (Date.now() - hungUpAt));
    await kam.restart();
    await desk.inputs.waitForSip((i) => i.sip === "registered", 20_000, regMark);
    await expect.poll(() => far.isRegistered(), { timeout: 10_000 }).toBe(true);
    // RTP toward a closed port: logged once and counted, not a line per packet
    const unreachable = lines.slice(linesBefore).filter((l) => /unreachable/i.test(String(l["msg"])));
    expect(unreachable.length).toBeLessThan(10);
    const next = await callDesk(desk, far, "1017");
    await far.hangup();
    const nextEnded = await desk.inputs.waitFor("call_ended", (i) => i.callId === next, 10_000);
    expect(nextEnded.reason).toBe("remote_hangup");
    await desk.runner.stop();
  }, 120_000);

  it("a far end killed after the ACK: media_timeout BYE, desk idle, next call answered", async () => {
    const desk = await startDesk("1018", 3000);
    const far = await caller("2002");
    const callId = await callDesk(desk, far, "1018");
    await sleep(1500);
    const killedAt = Date.now();
    process.kill(far.pid, "SIGKILL");
    const ended = await desk.inputs.waitFor("call_ended", (i) => i.callId === callId, 15_000);
    expect(ended.reason).toBe("media_timeout");
    expect(ended.detail).toBeTruthy();
    expect(Date.now() - killedAt).toBeLessThan(8000);
    expect(desk.ended(callId)).toMatchObject({ end_reason: "media_timeout" });
    expect(activity(desk.runner.state)).toBe("idle");
    // the BYE went out (through Kamailio, to a far end that is gone)
    expect(lines.some((l) => l["msg"] === "ending the call" && l["callId"] === callId)).toBe(true);
    const other = await caller("2001");
    const next = await callDesk(desk, other, "1018");
    await other.hangup();
    const nextEnded = await desk.inputs.waitFor("call_ended", (i) => i.callId === next, 10_000);
    expect(nextEnded.reason).toBe("remote_hangup");
    await desk.runner.stop();
  }, 90_000);
});

describe("RFC 4028 session timer with a real UAC", () => {
  it("Session-Expires 90, refresher=uac, never refreshed → BYE with session_expired after 60 s", async () => {
    // media timeout off: only the session timer may end this call
    const desk = await startDesk("1018", 0);
    const mark = desk.inputs.mark;
    const started = Date.now();
    const run = runSippUac({
      kamailio: kam,
      target: "1018",
      scenario: "uac-session-timer.xml",
      // an empty header block would be a blank line: the end of SIPp's headers
      headers: { "X-Queue": "session-timer" },
      holdMs: 80_000,
      timeoutMs: 95_000,
    });
    const answered = await desk.inputs.waitFor("call_answered", () => true, 15_000, mark);
    const answeredAt = Date.now();
    const ended = await desk.inputs.waitFor("call_ended", (i) => i.callId === answered.callId, 80_000);
    expect(ended.reason).toBe("session_expired");
    expect(ended.detail).toMatch(/no session refresh within 90 s/);
    expect(Date.now() - answeredAt).toBeGreaterThanOrEqual(59_000);
    const result = await run;
    expect(result.errors).toBe("");
    expect(result.ok).toBe(true); // it saw Session-Expires + Require: timer in our 200, and our BYE
    expect(desk.ended(answered.callId)).toMatchObject({ end_reason: "session_expired" });
    expect(activity(desk.runner.state)).toBe("idle");
    expect(Date.now() - started).toBeLessThan(100_000);
    await desk.runner.stop();
  }, 110_000);
});
