/**
 * A bounded SIP fuzz test: mutants of a valid INVITE (sip-mutator.ts: byte flips, truncation,
 * header duplication/removal, huge values, bad Content-Length, CRLF injection, folding, non-UTF-8
 * bytes, bad SDP, bad start lines) pushed down the desk's own registered connection, over ws://
 * and over tcp://, then the desk must still be registered with Kamailio, answer a real call and
 * be idle, and no exception may have escaped.
 *
 * How the mutants reach the parser: the desk connects out to its registrar, so only that
 * connection leads to its parser. Kamailio would reject or rewrite most mutants (and wants digest
 * auth on INVITEs); a fake registrar would leave the desk registered with nobody real. So the desk
 * points at a transparent relay (test/lab/sip-relay.ts) in front of the lab Kamailio: it registers
 * with Kamailio through it, the relay injects each mutant byte-exact between Kamailio's messages,
 * and keeps the desk's answers to the mutants.
 *
 * The desk is the real core (Runner, step) with the real SIP side and media; the test plays the
 * caller of every mutant the desk took as a call: CANCEL after 180, ACK and BYE after 200, ACK
 * after a failure. After each mutant an OPTIONS (the fence) proves the desk still reads its
 * connection; then the desk must be idle again within 2 s, and a request the desk owes an answer
 * (RFC 3261 §8.2.6) must have had a final one. On a stream, a mutant whose Content-Length cannot
 * be framed ends the connection (RFC 3261 §18.3): the desk must reconnect and register again.
 *
 * Seed: printed; CUFFIA_FUZZ_SEED=<n> reproduces a run, CUFFIA_FUZZ_COUNT=<n> changes how many
 * mutants per transport, SIP_DEBUG=1 logs the desk.
 */
import { createSocket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { initialState } from "../../src/core/desk.js";
import { Runner } from "../../src/core/runner.js";
import type { DeskInput } from "../../src/core/types.js";
import { createLogger, type Logger, memoryLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { contentLength, StreamFramer } from "../../src/sip/framing.js";
import { SipAgent } from "../../src/sip/sip-agent.js";
import { labKamailio } from "../lab/kamailio.js";
import { freePorts } from "../lab/ports.js";
import { samplePolicy } from "../samples.js";
import "../lab/context.js";
import { activity, currentCall } from "../../src/core/derive.js";
import { type RelayKind, type SipRelay, startSipRelay } from "../lab/sip-relay.js";
import { runSippUac } from "../lab/sipp.js";
import { headerValues } from "../lab/ws-sip-peer.js";
import { invite, parse, type Received, response, sdpOffer } from "../sip/fake-registrar.js";
import { testSipOptions } from "../sip/harness.js";
import { mutate, owesAnswer } from "../sip/sip-mutator.js";

const lab = inject("lab");
const kamailio = labKamailio(lab.kamailio);
const DEFAULT_SEED = 20261205;
const SEED = Number(process.env.CUFFIA_FUZZ_SEED ?? DEFAULT_SEED) >>> 0;
const COUNT = Number(process.env.CUFFIA_FUZZ_COUNT ?? 2000);
/** CUFFIA_FUZZ_ONLY=26,981 replays just those mutants (with the same seed). */
const INDEXES = process.env.CUFFIA_FUZZ_ONLY
  ? process.env.CUFFIA_FUZZ_ONLY.split(",").map(Number)
  : Array.from({ length: COUNT }, (_, i) => i);
const USER = "1018";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Finding {
  readonly transport: RelayKind;
  readonly index: number;
  readonly ops: readonly string[];
  readonly symptom: string;
  readonly head: string;
}

const crashes: string[] = [];
const onCrash = (error: unknown) =>
  crashes.push(error instanceof Error ? (error.stack ?? error.message) : String(error));
let sink: ReturnType<typeof createSocket>;
let sinkPort = 0;

beforeAll(async () => {
  process.on("uncaughtException", onCrash);
  process.on("unhandledRejection", onCrash);
  // Where answered mutants send their RTP: a socket that reads and drops it.
  sink = createSocket("udp4");
  sink.on("message", () => {});
  await new Promise<void>((r) => sink.bind(0, "127.0.0.1", () => r()));
  sinkPort = sink.address().port;
  process.stdout.write(
    `sip fuzz: seed ${SEED} (CUFFIA_FUZZ_SEED=${SEED} reproduces it), ${COUNT} mutants per transport\n`,
  );
});

afterAll(() => {
  process.off("uncaughtException", onCrash);
  process.off("unhandledRejection", onCrash);
  sink?.close();
});

/** The real core and SIP side, registered as 1018 through `server`. */
async function startDesk(server: string, log: Logger) {
  const first = await freePorts(40);
  const portMin = first + (first % 2);
  const agent = new SipAgent({
    options: testSipOptions(server, {
      aor: `sip:${USER}@127.0.0.1`,
      username: USER,
      password: kamailio.users[USER] as string,
      livenessSeconds: 10,
    }),
    media: createMediaFactory({
      audio: { source: { type: "none" }, sink: { type: "none" } },
      rtp: { address: "127.0.0.1", portMin, portMax: portMin + 38, codecs: ["PCMU", "PCMA"] },
      log,
    }),
    log,
    // a stream mutant that cannot be framed closes the connection: reconnect at once
    backoff: { baseMs: 20, capMs: 200 },
  });
  const policy = {
    ...samplePolicy,
    autoPauseAfterMissed: 0,
    wrapUpSeconds: 0,
    sides: { sip: true, headset: false, lcd: false, mqtt: false },
  };
  const runner = new Runner({ initial: initialState(policy, Date.now()), log });
  const inputs: DeskInput[] = [];
  runner.subscribe((c) => {
    if (c.kind === "state" && c.input.type.startsWith("call_")) inputs.push(c.input);
  });
  runner.add(agent);
  await runner.start();
  runner.dispatch({ type: "command", command: { cmd: "login" }, origin: "control" });
  const idle = () =>
    currentCall(runner.state) === null &&
    agent.callsInFlight.table === 0 &&
    agent.callsInFlight.sessions === 0;
  return { agent, runner, inputs, idle };
}

async function until(what: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) return false;
    await sleep(2);
  }
  return true;
}

/** The requests a caller sends in answer to the desk's responses (RFC 3261 §9.1, §13.2.2.4, §17.1.1.3). */
function callerRequest(
  method: "ACK" | "CANCEL" | "BYE",
  reply: Received,
  target: string,
  branch?: string,
): string {
  // the desk echoes folded headers folded (RFC 3261 §7.3.1): unfold before copying them
  const head = (reply.text.split("\r\n\r\n")[0] ?? "").replace(/\r\n[ \t]+/g, " ");
  const r = parse(head);
  const [cseq] = (r.header("cseq") ?? "1").split(/\s+/);
  const to = r.header("to") ?? "";
  const vias = branch ? [`SIP/2.0/WS fuzz.invalid;branch=${branch}`] : headerValues(head, "Via");
  return [
    `${method} ${target} SIP/2.0`,
    ...vias.map((v) => `Via: ${v}`),
    "Max-Forwards: 70",
    `From: ${r.header("from")}`,
    `To: ${method === "CANCEL" ? to.replace(/;\s*tag=[^;]*/i, "") : to}`,
    `Call-ID: ${r.header("call-id")}`,
    `CSeq: ${method === "BYE" ? Number(cseq) + 1 : cseq} ${method}`,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

const fence = (contact: string, n: number): string =>
  [
    `OPTIONS ${contact} SIP/2.0`,
    `Via: SIP/2.0/WS fuzz.invalid;branch=z9hG4bKfence${n}`,
    "Max-Forwards: 70",
    `From: <sip:fuzz@127.0.0.1>;tag=fence${n}`,
    `To: <${contact}>`,
    `Call-ID: fence-${n}`,
    `CSeq: ${n + 1} OPTIONS`,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");

/**
 * What the desk's stream framer will make of the bytes sent so far (a shadow of its own),
 * so the test can finish a message a mutant left open and keep the stream in step.
 */
class StreamShadow {
  private framer = new StreamFramer();
  private tail = Buffer.alloc(0);
  /** Feeds bytes; false when the desk cannot frame them and will close the connection. */
  push(bytes: Buffer): boolean {
    try {
      this.framer.push(bytes);
    } catch {
      this.reset();
      return false;
    }
    const all = Buffer.concat([this.tail, bytes]);
    this.tail = all.subarray(all.length - this.framer.pending);
    return true;
  }
  /** Bytes that complete what is pending: an empty line, or the body Content-Length still owes. */
  filler(): Buffer | null {
    if (this.tail.length === 0) return null;
    const end = this.tail.indexOf("\r\n\r\n");
    if (end < 0) return Buffer.from("\r\n\r\n");
    const missing = end + 4 + contentLength(this.tail.subarray(0, end).toString("latin1")) - this.tail.length;
    return Buffer.alloc(Math.max(1, missing), 0x78);
  }
  reset(): void {
    this.framer = new StreamFramer();
    this.tail = Buffer.alloc(0);
  }
}

async function fuzz(kind: RelayKind): Promise<void> {
  const debug = process.env.SIP_DEBUG;
  const memory = memoryLogger("warn");
  const log = debug ? createLogger({ level: "debug", destination: process.stderr }) : memory.log;
  // no binding of the user from another test, and none of ours left for the next one
  const unbind = () => kamailio.rpc("ul.rm", "location", `s:${USER}`).catch(() => "");
  await unbind();
  const relay: SipRelay = await startSipRelay(kind, lab.kamailio);
  if (debug) {
    // SIP_DEBUG=1 also traces what the test injects and what the desk answers it
    const inject = relay.inject.bind(relay);
    relay.inject = (bytes) => {
      process.stderr.write(`>>> to the desk\n${bytes.toString()}\n`);
      inject(bytes);
    };
    const push = relay.received.push.bind(relay.received);
    relay.received.push = (...m) => {
      for (const r of m) process.stderr.write(`<<< from the desk\n${r.text}\n`);
      return push(...m);
    };
  }
  const desk = await startDesk(relay.url, log);
  const findings: Finding[] = [];
  const started = Date.now();
  let reconnects = 0;
  let sent = 0;
  try {
    expect(await until(() => desk.agent.registration === "registered", 10_000)).toBe(true);
    const contact = relay.contact ?? "";
    expect(contact).toMatch(/^sip:/);
    const shadow = new StreamShadow();
    const send = (bytes: Buffer): boolean => {
      relay.inject(bytes);
      if (kind !== "tcp") return true;
      if (!shadow.push(bytes)) return false;
      for (let filler = shadow.filler(); filler; filler = shadow.filler()) {
        relay.inject(filler);
        if (!shadow.push(filler)) return false;
      }
      return true;
    };

    for (const i of INDEXES) {
      sent++;
      const callId = `fuzz-${SEED}-${i}`;
      // To the AOR, not the Contact (sip.js takes both): the same bytes on every run and transport
      const base = invite(
        `sip:${USER}@127.0.0.1`,
        callId,
        sdpOffer(sinkPort),
        // half the mutants ask to be answered at once, so their SDP is negotiated
        i % 2 === 0 ? ["Call-Info: <sip:127.0.0.1>;answer-after=0"] : [],
        { branch: `z9hG4bK${SEED}x${i}`, tag: `t${i}` },
      );
      const m = mutate(base, SEED, i);
      const text = m.bytes.toString("utf8");
      const found = (symptom: string) =>
        findings.push({
          transport: kind,
          index: i,
          ops: m.ops,
          symptom,
          head: JSON.stringify(text.slice(0, 400)),
        });
      const mark = relay.received.length;
      const connections = relay.connections;
      if (!send(m.bytes)) {
        // RFC 3261 §18.3: a stream that cannot be framed is closed; the desk must come back.
        reconnects++;
        const back = await until(
          () =>
            relay.connections > connections && relay.connected && desk.agent.registration === "registered",
          5000,
        );
        shadow.reset();
        if (!back) {
          found("did not reconnect and register again after an unframeable stream");
          break;
        }
        continue;
      }
      relay.inject(fence(contact, i));
      if (kind === "tcp") shadow.push(Buffer.from(fence(contact, i)));
      const fenced = await relay
        .waitFor(
          (r) => r.header("call-id") === `fence-${i}` && r.firstLine.startsWith("SIP/2.0 2"),
          5000,
          mark,
        )
        .then(
          () => true,
          () => false,
        );
      if (!fenced) {
        found(
          relay.connections > connections
            ? "dropped its connection"
            : "stopped answering on its connection (fence OPTIONS unanswered)",
        );
        break;
      }
      // Play the caller until the desk is idle again and an owed answer has come.
      const owed = owesAnswer(text);
      // CANCEL and the ACK of a failure carry the INVITE's Request-URI (RFC 3261 §9.1, §17.1.1.3)
      const ruri = /^[^ \r\n]+ +([^ \r\n]+)/.exec(text)?.[1] ?? `sip:${USER}@127.0.0.1`;
      const handled = new Set<string>();
      let cursor = mark;
      let final = false;
      let byes = 0;
      const deskCalls = () =>
        new Set(desk.inputs.filter((x) => x.type === "call_offered").map((x) => x.callId));
      const settled = await until(() => {
        for (; cursor < relay.received.length; cursor++) {
          const r = relay.received[cursor] as Received;
          const id = r.header("call-id") ?? "";
          if (id.startsWith("fence-")) continue;
          if (!r.firstLine.startsWith("SIP/2.0 ")) {
            // a request of the desk in a mutant's call (its BYE): 200
            if (!r.firstLine.startsWith("ACK ")) relay.inject(response(r, "200 OK"));
            continue;
          }
          const status = Number(r.firstLine.slice(8, 11));
          const method = (r.header("cseq") ?? "").split(/\s+/)[1]?.toUpperCase() ?? "";
          if (method === "BYE") {
            if (status >= 200) byes--;
            continue;
          }
          if (method === "CANCEL") continue;
          if (status === 100) continue;
          if (status >= 200) final = true;
          const isCall = method === "INVITE" || deskCalls().has(id);
          if (!isCall) continue;
          const key = `${id} ${status < 200 ? "1xx" : status}`;
          if (handled.has(key)) continue;
          handled.add(key);
          if (status > 100 && status < 200 && !handled.has(`${id} cancel`)) {
            handled.add(`${id} cancel`);
            relay.inject(callerRequest("CANCEL", r, ruri));
          } else if (status >= 200 && status < 300) {
            const target = /<([^>]+)>/.exec(r.header("contact") ?? "")?.[1] ?? contact;
            relay.inject(callerRequest("ACK", r, target, `z9hG4bKack${i}`));
            relay.inject(callerRequest("BYE", r, target, `z9hG4bKbye${i}`));
            byes++;
          } else if (status >= 300) {
            relay.inject(callerRequest("ACK", r, ruri));
          }
        }
        return desk.idle() && byes <= 0 && (!owed || final);
      }, 2000);
      if (!settled) {
        found(
          !desk.idle()
            ? `desk not idle 2 s later (${activity(desk.runner.state)}, table ${desk.agent.callsInFlight.table}, sessions ${desk.agent.callsInFlight.sessions})`
            : owed && !final
              ? "no final response to a request the desk owes an answer"
              : "its call was not torn down (BYE unanswered)",
        );
        if (!desk.idle()) {
          // What an operator would do (`ctl hangup`), then what the caller would do (CANCEL, from
          // any provisional answer); if neither works the desk is wedged for good.
          desk.runner.dispatch({ type: "command", command: { cmd: "hangup" }, origin: "control" });
          if (!(await until(desk.idle, 1000))) {
            found("still not idle after a hangup command");
            const provisional = relay.received
              .slice(mark)
              .find(
                (r) => /^SIP\/2\.0 1\d\d /.test(r.firstLine) && !r.header("call-id")?.startsWith("fence-"),
              );
            if (provisional) relay.inject(callerRequest("CANCEL", provisional, ruri));
            if (!(await until(desk.idle, 2000))) {
              found("still not idle after the caller's CANCEL: stopping the run");
              break;
            }
          }
        }
      }
    }
    const elapsed = Date.now() - started;
    const offered = desk.inputs.filter((x) => x.type === "call_offered").length;
    const contained = memory.lines.filter((l) => l["level"] === "error" || l["level"] === 50).length;
    process.stdout.write(
      `sip fuzz ${kind}://: ${sent} of ${INDEXES.length} mutants (seed ${SEED}) in ${elapsed} ms; ${offered} offered to the desk, ` +
        `${reconnects} unframeable-stream reconnects, ${contained} contained errors, ${findings.length} findings\n`,
    );
    for (const f of findings.slice(0, 20))
      process.stdout.write(
        `  finding #${f.index} (CUFFIA_FUZZ_SEED=${SEED} CUFFIA_FUZZ_ONLY=${f.index}) [${f.ops.join(" + ")}]: ` +
          `${f.symptom}\n    ${f.head}\n`,
      );

    // Still registered: Kamailio has the desk's current binding, and only that one (a binding
    // left behind by an earlier connection takes a branch of every call forked to the desk).
    expect(await until(() => desk.agent.registration === "registered", 5000)).toBe(true);
    const current = relay.contact ?? "";
    const bindings = (await kamailio.registrations()).filter((b) => b.aor === USER).map((b) => b.contact);
    process.stdout.write(
      `  ${bindings.length} binding(s) of ${USER} at Kamailio; the desk's contact is ${current}\n`,
    );
    expect(bindings.some((c) => c.startsWith(current))).toBe(true);
    expect
      .soft(
        bindings.filter((c) => !c.startsWith(current)),
        "bindings left by earlier connections",
      )
      .toEqual([]);

    // Answers a real call through Kamailio: SIPp INVITE → 200 → ACK → BYE → 200.
    const mark = desk.inputs.length;
    const call = await runSippUac({
      kamailio,
      target: USER,
      headers: { "Call-Info": "<sip:127.0.0.1>;answer-after=0" },
      holdMs: 500,
    });
    // (soft, like the findings and the bindings: the checks below still run and report)
    expect.soft(call.ok, call.errors).toBe(true);
    const after = desk.inputs.slice(mark);
    expect
      .soft(after.map((x) => x.type))
      .toEqual(expect.arrayContaining(["call_offered", "call_answered", "call_ended"]));
    expect.soft(after.find((x) => x.type === "call_ended")).toMatchObject({ reason: "remote_hangup" });

    // No crash, no call left anywhere, every call the desk took has ended.
    expect(await until(desk.idle, 3000)).toBe(true);
    const ended = new Set(desk.inputs.filter((x) => x.type === "call_ended").map((x) => x.callId));
    const leaked = desk.inputs.filter((x) => x.type === "call_offered" && !ended.has(x.callId));
    expect(leaked).toEqual([]);
    expect(crashes).toEqual([]);
    expect
      .soft(findings.map((f) => `#${f.index} [${f.ops.join(" + ")}] ${f.symptom}: ${f.head}`))
      .toEqual([]);
  } finally {
    await desk.runner.stop();
    await relay.close();
    await unbind();
  }
}

describe("SIP fuzz: mutants of a valid INVITE on the desk's registered connection", () => {
  it.each(["ws", "tcp"] as const)(
    "%s://: no crash, every owed answer given, still registered, answers a real call, idle",
    async (kind) => fuzz(kind),
    60_000,
  );
});
