/**
 * Requests inside a call, with real peers through a real Kamailio, and the real desk core driving
 * the SIP side (auto-answer policy; its events are collected as the outbox would get them):
 * - the far end (baresip 2001) transfers the desk blind to a second baresip (2002): the desk calls
 *   the target, 2002 hears the desk, the transferor gets its sipfrag NOTIFYs and leaves, the
 *   events say who transferred, and the desk takes the next call;
 * - SIPp sends INFO DTMF (dtmf-relay, dtmf), a malformed one, an unknown body, a stray PRACK,
 *   MESSAGE, OPTIONS and an unsolicited NOTIFY inside a call, and checks every answer;
 * - SIPp transfers the desk to a target that cannot answer and stays: NOTIFYs 100 then 4xx, the
 *   call goes on; tel: and Replaces transfers are refused (baresip 1.0 hangs up by itself when
 *   its transfer fails, so it cannot show the call going on);
 * - sip.accept_refer false: 603 and the call goes on (SIPp).
 */
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { activity, currentCall } from "../../src/core/derive.js";
import { initialState, step } from "../../src/core/desk.js";
import type { DeskEvent, DeskInput, DeskState } from "../../src/core/types.js";
import { createLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { SipAgent } from "../../src/sip/sip-agent.js";
import { dominantFrequency, makeTone, wavComplete } from "../lab/audio.js";
import { type Baresip, startBaresip } from "../lab/baresip.js";
import { findFreeBase, type Kamailio, startKamailio } from "../lab/kamailio.js";
import { baresipPort } from "../lab/ports.js";
import { waitUntil } from "../lab/proc.js";
import { runSippUac } from "../lab/sipp.js";
import { samplePolicy } from "../samples.js";
import { Inputs, testSipOptions } from "../sip/harness.js";

const DESK_HZ = 1000;
const FAR_HZ = 600;

/** The SIP agent with the real core in front of it, as the runner would wire them (no timers). */
interface Desk {
  readonly agent: SipAgent;
  readonly inputs: Inputs;
  readonly events: DeskEvent[];
  readonly log: string[];
  state: DeskState;
  /** Log lines (parsed) whose msg is `msg`. */
  lines(msg: string): Record<string, unknown>[];
  command(cmd: Extract<DeskInput, { type: "command" }>["command"]): void;
}

let kam: Kamailio;
let dir: string;
let desk: Desk;
let strict: Desk;
let far: Baresip;
let target: Baresip;

async function startDesk(user: "1017" | "1018", acceptRefer: boolean, tone: string): Promise<Desk> {
  const log: string[] = [];
  const logger = createLogger({ level: "info", destination: { write: (line: string) => log.push(line) } });
  const agent = new SipAgent({
    options: testSipOptions(`ws://127.0.0.1:${kam.wsPort}`, {
      aor: `sip:${user}@127.0.0.1`,
      username: user,
      password: `pw${user}`,
      acceptRefer,
    }),
    media: createMediaFactory({
      audio: {
        source: { type: "file", path: tone, loop: true },
        sink: { type: "file", path: join(dir, `sink-${user}-{call}.wav`) },
      },
      rtp: { address: "127.0.0.1", portMin: 23000, portMax: 23999, codecs: ["PCMU", "PCMA"] },
      log: logger,
    }),
    log: logger,
  });
  const inputs = new Inputs();
  const d: Desk = {
    agent,
    inputs,
    events: [],
    log,
    state: { ...initialState({ ...samplePolicy, autoAnswer: true }, Date.now()), status: "available" },
    lines: (msg) => log.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg),
    command: (command) => feed({ type: "command", command, origin: "control" }),
  };
  const feed = (input: DeskInput) => {
    const r = step(d.state, input, Date.now());
    d.state = r.state;
    for (const e of r.effects) {
      if (e.type === "event") d.events.push(e.event);
      else if (e.type === "sip") void agent.execute(e);
    }
  };
  inputs.onInput = feed;
  await agent.start(inputs.emit);
  await inputs.waitForSip((i) => i.sip === "registered");
  return d;
}

beforeAll(async () => {
  kam = await startKamailio({ base: await findFreeBase(28060) });
  dir = await mkdtemp(join(tmpdir(), "cuffia-sip-in-dialog-"));
  const deskTone = await makeTone(join(dir, "desk.wav"), { freq: DESK_HZ, seconds: 3 });
  const farTone = await makeTone(join(dir, "far.wav"), { freq: FAR_HZ, seconds: 60 });
  desk = await startDesk("1017", true, deskTone);
  strict = await startDesk("1018", false, deskTone);
  far = await startBaresip({
    kamailio: kam,
    user: "2001",
    port: await baresipPort(),
    audioFile: farTone,
    sipTrace: true,
  });
  target = await startBaresip({
    kamailio: kam,
    user: "2002",
    port: await baresipPort(),
    autoAnswer: true,
    record: true,
    sipTrace: true,
  });
}, 120_000);

afterAll(async () => {
  if (process.env.SIP_DEBUG) {
    const { writeFile } = await import("node:fs/promises");
    for (const d of [desk, strict])
      if (d) await writeFile(join(dir, `${d.agent.name}-${d === desk ? 1017 : 1018}.log`), d.log.join(""));
    console.log(`desk logs in ${dir}`);
  }
  await desk?.agent.stop();
  await strict?.agent.stop();
  for (const b of [far, target]) await b?.stop();
  await kam?.stop();
});

/** The far end calls `user`; the desk's core answers at once (auto-answer). */
async function callDesk(d: Desk, user: string): Promise<string> {
  const mark = d.inputs.mark;
  await far.dial(`sip:${user}@${kam.domain}`);
  const answered = await d.inputs.waitFor("call_answered", () => true, 10_000, mark);
  await far.waitFor("CALL_ESTABLISHED");
  return answered.callId;
}

/** SIP messages baresip logged (sipTrace: each after a "UDP a -> b" line) that start with `startLine`. */
async function received(b: Baresip, startLine: RegExp): Promise<string[]> {
  const trace = await readFile(b.logFile, "utf8");
  return trace
    .split(/\n(?:UDP|TCP|TLS) \S+ -> \S+\n/)
    .slice(1)
    .filter((m) => startLine.test(m));
}

/** The sipfrag status line in a NOTIFY's body. */
const sipfrag = (notify: string) => /\r?\n\r?\n(SIP\/2\.0 \d{3}[^\r\n]*)/.exec(notify)?.[1];

afterEach(async () => {
  // a failed test must not leave a call up for the next one
  for (const d of [desk, strict]) {
    const call = currentCall(d.state);
    if (call) {
      const mark = d.inputs.mark;
      await d.agent.execute({ type: "sip", action: "hangup", callId: call.id });
      await d.inputs.waitFor("call_ended", (i) => i.callId === call.id, 5000, mark).catch(() => {});
    }
    if (d && (activity(d.state) === "wrap_up" || activity(d.state) === "not_responding"))
      d.command({ cmd: "ready" });
  }
  await far?.hangup().catch(() => {});
  await target?.hangup().catch(() => {});
});

describe("incoming REFER (the far end transfers the desk)", () => {
  it("calls the target, which hears the desk; NOTIFYs reach the transferor; the events say by remote", async () => {
    const callId = await callDesk(desk, "1017");
    expect(activity(desk.state)).toBe("on_call");
    // RFC 4733 digits land where INFO digits do (the SIPp case below)
    await far.sendDtmf("4");
    await waitUntil("RFC 4733 digit logged", async () => desk.lines("DTMF received").length > 0, 5000);
    expect(desk.lines("DTMF received")[0]).toMatchObject({ digit: "4", via: "rtp", callId });

    const mark = desk.inputs.mark;
    target.skip();
    await far.command("transfer", `sip:2002@${kam.domain}`);
    const transferred = await desk.inputs.waitFor(
      "call_transferred",
      (i) => i.callId === callId,
      20_000,
      mark,
    );
    expect(transferred).toMatchObject({ by: "remote", ok: true, target: `sip:2002@${kam.domain}` });
    const ended = await desk.inputs.waitFor("call_ended", (i) => i.callId === callId, 10_000, mark);
    expect(ended.reason).toBe("transferred");
    const next = ended.followedBy?.callId;
    expect(next).toBeDefined();
    await target.waitFor("CALL_ESTABLISHED", 10_000);
    // the transferor heard 100 Trying, then 200 OK, as message/sipfrag, and left the call
    await far.waitFor("CALL_CLOSED", 10_000);
    const notifies = await received(far, /^NOTIFY /);
    const frags = notifies.map(sipfrag);
    expect(frags.length).toBe(2);
    expect(frags[0]).toBe("SIP/2.0 100 Trying");
    expect(frags[1]).toMatch(/^SIP\/2\.0 200 /);
    for (const n of notifies) {
      expect(n).toMatch(/\nContent-Type: *message\/sipfrag/i);
      expect(n).toMatch(/\nEvent: *refer/i);
      expect(n).toMatch(/\nContact: *<sip:/i);
    }
    expect(notifies[1]).toMatch(/\nSubscription-State: *terminated/i);
    const refer202 = await received(far, /^SIP\/2\.0 202 /);
    expect(refer202.length).toBe(1);

    // the desk is on the new call, outbound, and the target hears the desk's tone
    expect(activity(desk.state)).toBe("on_call");
    expect(currentCall(desk.state)).toMatchObject({ id: next, direction: "outbound" });
    await new Promise((r) => setTimeout(r, 3000));
    await target.hangup();
    const endedNext = await desk.inputs.waitFor("call_ended", (i) => i.callId === next, 10_000, mark);
    expect(endedNext.reason).toBe("remote_hangup");
    const dec = (await target.recordings())
      .filter((r) => r.endsWith("-dec.wav"))
      .sort()
      .at(-1) as string;
    await waitUntil("target recording complete", () => wavComplete(dec), 5000);
    expect(Math.abs((await dominantFrequency(dec, { skipSeconds: 0.5 })) - DESK_HZ)).toBeLessThan(20);

    const tail = desk.events.filter((e) => e.type.startsWith("call.")).slice(-5);
    expect(tail.map((e) => e.type)).toEqual([
      "call.transferred",
      "call.ended",
      "call.offered",
      "call.answered",
      "call.ended",
    ]);
    expect(tail[0]).toMatchObject({ call_id: callId, by: "remote", ok: true });
    expect(tail[1]).toMatchObject({ call_id: callId, end_reason: "transferred" });
    expect(tail[2]).toMatchObject({ call_id: next, direction: "outbound", number: `sip:2002@${kam.domain}` });
    expect(tail[4]).toMatchObject({ call_id: next, end_reason: "remote_hangup" });

    // and the desk takes the next call
    desk.command({ cmd: "ready" });
    expect(activity(desk.state)).toBe("idle");
    const again = await callDesk(desk, "1017");
    expect(currentCall(desk.state)?.id).toBe(again);
    await far.hangup();
    await desk.inputs.waitFor("call_ended", (i) => i.callId === again);
    desk.command({ cmd: "ready" });
  });
});

describe("INFO, PRACK and other requests inside a call (SIPp)", () => {
  it("reads INFO DTMF like RFC 4733 digits and answers every request", async () => {
    const before = desk.lines("DTMF received").length;
    const mark = desk.inputs.mark;
    const result = await runSippUac({
      kamailio: kam,
      target: "1017",
      scenario: "in-dialog.xml",
      holdMs: 500,
    });
    expect(result.errors).toBe("");
    expect(result.ok).toBe(true);
    const digits = desk.lines("DTMF received").slice(before);
    expect(digits.map((d) => [d.digit, d.via])).toEqual([
      ["5", "info"],
      ["#", "info"],
    ]);
    const answered = await desk.inputs.waitFor("call_answered", () => true, 1000, mark);
    expect(digits.every((d) => d.callId === answered.callId)).toBe(true);
    const ended = await desk.inputs.waitFor("call_ended", (i) => i.callId === answered.callId, 5000, mark);
    expect(ended.reason).toBe("remote_hangup");
    desk.command({ cmd: "ready" });
  });
});

describe("REFER from a far end that stays (SIPp)", () => {
  it("follows a transfer that fails, keeps the call, and refuses tel: (400) and Replaces (501)", async () => {
    const mark = desk.inputs.mark;
    const result = await runSippUac({
      kamailio: kam,
      target: "1017",
      scenario: "refer-failed.xml",
      holdMs: 1000,
    });
    expect(result.errors).toBe("");
    expect(result.ok).toBe(true);
    const answered = await desk.inputs.waitFor("call_answered", () => true, 1000, mark);
    await desk.inputs.waitFor("call_ended", (i) => i.callId === answered.callId, 5000, mark);
    const seen = desk.inputs.all.slice(mark).filter((i) => "callId" in i && i.callId === answered.callId);
    expect(seen.map((i) => i.type)).toEqual([
      "call_offered",
      "call_answered",
      "call_transferred",
      "call_ended",
    ]);
    expect(seen[2]).toMatchObject({ by: "remote", ok: false, target: `sip:2003@${kam.domain}` });
    expect(seen[3]).toMatchObject({ reason: "remote_hangup" });
    desk.command({ cmd: "ready" });
  });

  it("answers 603 when sip.accept_refer is false, and the call goes on", async () => {
    const mark = strict.inputs.mark;
    const result = await runSippUac({
      kamailio: kam,
      target: "1018",
      scenario: "refer-declined.xml",
      holdMs: 1000,
    });
    expect(result.errors).toBe("");
    expect(result.ok).toBe(true);
    await strict.inputs.waitFor("call_ended", () => true, 5000, mark);
    const seen = strict.inputs.all.slice(mark).map((i) => i.type);
    expect(seen.filter((t) => t !== "health")).toEqual(["call_offered", "call_answered", "call_ended"]);
    expect(strict.events.filter((e) => e.type === "call.transferred")).toEqual([]);
    strict.command({ cmd: "ready" });
  });
});

describe("a transferor that leaves before the target answers", () => {
  it("keeps the old call open until the target answers, then hands over", async () => {
    const late = await startBaresip({ kamailio: kam, user: "2003", port: await baresipPort() });
    try {
      const mark = desk.inputs.mark;
      const result = await runSippUac({
        kamailio: kam,
        target: "1017",
        scenario: "refer-then-bye.xml",
        holdMs: 500,
      });
      expect(result.errors).toBe("");
      expect(result.ok).toBe(true);
      await late.waitFor("CALL_INCOMING", 10_000);
      const old = await desk.inputs.waitFor("call_answered", () => true, 1000, mark);
      // the transferor is gone, but its transfer's outcome decides how the call ends: not yet
      expect(
        desk.inputs.all.slice(mark).some((i) => i.type === "call_ended" && i.callId === old.callId),
      ).toBe(false);
      expect(currentCall(desk.state)?.id).toBe(old.callId);
      // What reconciliation compares with the desk: the old call, not the leg still ringing (else
      // the runner would end one and CANCEL the other after its grace period)
      expect(desk.agent.liveCalls()).toEqual([old.callId]);
      await late.accept();
      const ended = await desk.inputs.waitFor("call_ended", (i) => i.callId === old.callId, 10_000, mark);
      expect(ended.reason).toBe("transferred");
      expect(ended.followedBy?.target).toBe(`sip:2003@${kam.domain}`);
      const t = await desk.inputs.waitFor("call_transferred", (i) => i.callId === old.callId, 1000, mark);
      expect(t).toMatchObject({ by: "remote", ok: true });
      expect(currentCall(desk.state)).toMatchObject({ id: ended.followedBy?.callId, direction: "outbound" });
      expect(activity(desk.state)).toBe("on_call");
      expect(desk.agent.liveCalls()).toEqual([ended.followedBy?.callId]);
      await late.hangup();
      await desk.inputs.waitFor("call_ended", (i) => i.callId === ended.followedBy?.callId, 10_000, mark);
      desk.command({ cmd: "ready" });
    } finally {
      await late.stop();
    }
  });
});
