/**
 * Every offer gets a final answer, at once (issue 11): the real desk core (Runner + step) with the
 * real SIP side and media factory, registered to a scripted WebSocket registrar that pushes
 * INVITEs no PBX would forward. Each malformed or unsupported INVITE gets its exact 4xx with a
 * Warning (RFC 3261 §20.43) before the desk is told of it (no call.offered, no ringing); a media
 * session that cannot be created gets 480 with Retry-After; `ctl hangup` ends a call sip.js cannot end yet; a 200
 * OK never ACKed ends `no_ack`; and after each one the desk is idle and answers a valid call.
 */
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { Core } from "sip.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { activity, currentCall } from "../../src/core/derive.js";
import { initialState } from "../../src/core/desk.js";
import { Runner } from "../../src/core/runner.js";
import type { DeskEvent, DeskInput, Policy } from "../../src/core/types.js";
import { createLogger, silentLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import type { MediaSession, MediaSessionFactory } from "../../src/media/media.js";
import { SipAgent } from "../../src/sip/sip-agent.js";
import { freePorts } from "../lab/ports.js";
import { samplePolicy } from "../samples.js";
import { FakeRegistrar, inDialogRequest, type Received, sdpOffer } from "../sip/fake-registrar.js";
import { testSipOptions } from "../sip/harness.js";

const log = process.env.SIP_DEBUG
  ? createLogger({ level: "debug", destination: process.stderr })
  : silentLogger;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const policy: Policy = {
  ...samplePolicy,
  wrapUpSeconds: 0,
  autoPauseAfterMissed: 0,
  sides: { sip: true, headset: false, lcd: false, mqtt: false },
};

/** One desk: the core, the SIP side, a scripted registrar, and what the desk published. */
class Desk {
  readonly events: DeskEvent[] = [];
  readonly inputs: DeskInput[] = [];
  contact = "";
  private constructor(
    readonly pbx: FakeRegistrar,
    readonly runner: Runner,
    readonly agent: SipAgent,
  ) {}

  static async start(
    rtp: { portMin: number; portMax: number },
    wrap: (f: MediaSessionFactory) => MediaSessionFactory = (f) => f,
  ): Promise<Desk> {
    const pbx = await FakeRegistrar.start();
    const runner = new Runner({ initial: initialState(policy, Date.now()), log });
    const agent = new SipAgent({
      options: testSipOptions(pbx.url),
      media: wrap(
        createMediaFactory({
          audio: { source: { type: "none" }, sink: { type: "none" } },
          rtp: { address: "127.0.0.1", ...rtp, codecs: ["PCMU", "PCMA"] },
          log,
        }),
      ),
      log,
    });
    const desk = new Desk(pbx, runner, agent);
    runner.subscribe((c) => {
      if (c.kind === "event") desk.events.push(c.event);
      else desk.inputs.push(c.input);
    });
    runner.add(agent);
    await runner.start();
    runner.dispatch({ type: "command", command: { cmd: "login" }, origin: "control" });
    runner.dispatch({ type: "command", command: { cmd: "ready" }, origin: "control" });
    await desk.until(() => runner.state.health.sip === "registered", "registered");
    const reg = await pbx.waitFor((m) => m.firstLine.startsWith("REGISTER "));
    desk.contact = /<([^>]+)>/.exec(reg.header("contact") ?? "")?.[1] ?? "";
    expect(desk.contact).toMatch(/^sip:/);
    expect(runner.state.status).toBe("available");
    return desk;
  }

  async stop(): Promise<void> {
    await this.runner.stop();
    await this.pbx.close();
  }

  async until(what: () => boolean, label: string, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!what()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${label}; state ${this.activity}`);
      await sleep(10);
    }
  }

  get activity(): string {
    return activity(this.runner.state);
  }

  /** The final response (2xx-6xx) to `callId`, sent after `mark`. */
  final(callId: string, mark: number, ms = 5000): Promise<Received> {
    return this.pbx.waitFor(
      (m) => m.header("call-id") === callId && /^SIP\/2\.0 [2-6]\d\d /.test(m.firstLine),
      ms,
      mark,
    );
  }

  offered(callId: string): boolean {
    return this.events.some((e) => e.type === "call.offered" && e.call_id === callId);
  }

  ctl(cmd: "answer" | "hangup" | "reject") {
    return this.runner.dispatch({ type: "command", command: { cmd }, origin: "control" });
  }

  /** A valid call, start to end: offered, rings, `ctl answer` → 200 OK with audio, ACK, BYE, idle. */
  async validCall(): Promise<void> {
    expect(this.activity).toBe("idle");
    const callId = `ok-${randomBytes(5).toString("hex")}`;
    const mark = this.pbx.received.length;
    const rtp = await freePorts(2);
    this.pbx.send(rawInvite({ contact: this.contact, callId, body: sdpOffer(rtp) }));
    await this.until(() => this.activity === "ringing", "ringing");
    expect(this.ctl("answer")).toEqual({ ok: true });
    const ok = await this.final(callId, mark);
    expect(ok.firstLine).toBe("SIP/2.0 200 OK");
    expect(ok.text).toMatch(/\r\nm=audio [1-9]\d* RTP\/AVP 0/);
    this.pbx.send(inDialogRequest(ok, "ACK", 1));
    await this.until(() => this.activity === "on_call", "on_call");
    this.pbx.send(inDialogRequest(ok, "BYE", 2));
    await this.until(() => this.activity === "idle", "idle after the valid call");
    const ended = this.events.find((e) => e.type === "call.ended" && e.call_id === callId);
    expect(ended).toMatchObject({ end_reason: "remote_hangup" });
  }
}

interface InviteParts {
  readonly contact: string;
  readonly callId: string;
  readonly body?: string;
  /** null: no Content-Type header at all. */
  readonly contentType?: string | null;
  readonly extra?: readonly string[];
  /** Header lines to repeat (by name, e.g. "From"): each appears three times. */
  readonly tripled?: readonly string[];
}

/** An INVITE from the PBX to the desk, with exactly the headers a test asks for. */
function rawInvite(p: InviteParts): string {
  const body = p.body ?? "";
  const headers = [
    `Via: SIP/2.0/WS pbx.invalid;branch=z9hG4bK${randomBytes(6).toString("hex")}`,
    "Max-Forwards: 70",
    `From: "Caller" <sip:5551234@127.0.0.1>;tag=${randomBytes(4).toString("hex")}`,
    `To: <${p.contact}>`,
    `Call-ID: ${p.callId}`,
    "CSeq: 1 INVITE",
    "Contact: <sip:pbx@pbx.invalid;transport=ws>",
    ...(p.extra ?? []),
    ...(p.contentType === null ? [] : [`Content-Type: ${p.contentType ?? "application/sdp"}`]),
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  const lines = headers.flatMap((h) => {
    const name = h.slice(0, h.indexOf(":"));
    return p.tripled?.includes(name) ? [h, h, h] : [h];
  });
  return [`INVITE ${p.contact} SIP/2.0`, ...lines, "", body].join("\r\n");
}

const sdp = (m: string, rtpmaps: string[] = []) =>
  ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0", m, ...rtpmaps, ""].join("\r\n");

describe("INVITEs the desk can never take are refused at once, before it rings", () => {
  let desk: Desk;
  beforeAll(async () => {
    const first = await freePorts(40);
    const min = first % 2 === 0 ? first : first + 1;
    desk = await Desk.start({ portMin: min, portMax: min + 37 });
  });
  afterAll(async () => {
    await desk?.stop();
  });

  const cases: Array<{
    name: string;
    parts: Omit<InviteParts, "contact" | "callId">;
    status: string;
    warning: RegExp;
    header?: [string, RegExp];
  }> = [
    {
      name: "an SDP body without Content-Type",
      parts: { body: sdpOffer(40100), contentType: null },
      status: "400 Bad Request",
      warning: /^399 \S+ "Missing Content-Type"$/,
    },
    {
      name: "a body that is not SDP (text/plain)",
      parts: { body: "hello", contentType: "text/plain" },
      status: "415 Unsupported Media Type",
      warning: /^399 \S+ "Unsupported body: text\/plain"$/,
      header: ["accept", /^application\/sdp$/],
    },
    {
      name: "a multipart body",
      parts: { body: `--b\r\n\r\n${sdpOffer(40100)}\r\n--b--`, contentType: "multipart/mixed;boundary=b" },
      status: "415 Unsupported Media Type",
      warning: /^399 \S+ "Unsupported body: multipart\/mixed"$/,
      header: ["accept", /^application\/sdp$/],
    },
    {
      name: "SDP as a rendered body (Content-Disposition: render)",
      parts: { body: sdpOffer(40100), extra: ["Content-Disposition: render"] },
      status: "415 Unsupported Media Type",
      warning: /^399 \S+ "Unsupported body: Content-Disposition render"$/,
      header: ["accept", /^application\/sdp$/],
    },
    {
      name: "unparsable SDP",
      parts: { body: "v=0\r\nthis is not sdp\r\nm=audio notaport RTP/AVP zero\r\nc=IN IP4\r\n" },
      status: "488 Not Acceptable Here",
      warning: /^399 \S+ "Malformed SDP: .+"$/,
    },
    {
      name: "an offer without audio",
      parts: { body: sdp("m=video 4000 RTP/AVP 96", ["a=rtpmap:96 H264/90000"]) },
      status: "488 Not Acceptable Here",
      warning: /^304 \S+ "no active audio stream"$/,
    },
    {
      name: "no common codec",
      parts: { body: sdp("m=audio 40100 RTP/AVP 18", ["a=rtpmap:18 G729/8000"]) },
      status: "488 Not Acceptable Here",
      warning: /^305 \S+ "no common codec \(offered: G729\)"$/,
    },
    {
      name: "a DTLS-SRTP profile without a=fingerprint",
      parts: { body: sdp("m=audio 40100 UDP/TLS/RTP/SAVPF 0", ["a=rtpmap:0 PCMU/8000"]) },
      status: "488 Not Acceptable Here",
      warning: /^302 \S+ "UDP\/TLS\/RTP\/SAVPF offer without a=fingerprint"$/,
    },
    {
      name: "SDES keys over unencrypted signalling (RTP/SAVP with a=crypto to a desk on ws://)",
      parts: {
        body: sdp("m=audio 40100 RTP/SAVP 0", [
          "a=rtpmap:0 PCMU/8000",
          "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
        ]),
      },
      status: "488 Not Acceptable Here",
      warning:
        /^302 \S+ "SDES-SRTP keys over unencrypted signalling refused: use sips\/TLS for SDES, or DTLS-SRTP \(UDP\/TLS\/RTP\/SAVPF\)"$/,
    },
    {
      name: "an unsupported Require",
      parts: { body: sdpOffer(40100), extra: ["Require: foo-ext, timer-x"] },
      status: "420 Bad Extension",
      warning: /^399 \S+ "Unsupported extension: foo-ext, timer-x"$/,
      header: ["unsupported", /^foo-ext, timer-x$/],
    },
    ...["From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Type", "Content-Length"].map((h) => ({
      name: `three ${h} headers`,
      parts: { body: sdpOffer(40100), tripled: [h] },
      status: "400 Bad Request",
      warning: new RegExp(`^399 \\S+ "Duplicate ${h} header"$`),
    })),
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.status} with a Warning, no call.offered, then a valid call is answered`, async () => {
      const callId = `bad-${randomBytes(5).toString("hex")}`;
      const mark = desk.pbx.received.length;
      const inputMark = desk.inputs.length;
      desk.pbx.send(rawInvite({ contact: desk.contact, callId, ...c.parts }));
      const final = await desk.final(callId, mark, 3000);
      expect(final.firstLine).toBe(`SIP/2.0 ${c.status}`);
      expect(final.header("warning")).toMatch(c.warning);
      if (c.header) expect(final.header(c.header[0])).toMatch(c.header[1]);
      // nothing but the final response: no 100 Trying wait, no 180 Ringing
      const sent = desk.pbx.received.slice(mark).filter((m) => m.header("call-id") === callId);
      expect(sent.map((m) => m.firstLine)).toEqual([`SIP/2.0 ${c.status}`]);
      await sleep(100);
      expect(desk.offered(callId)).toBe(false);
      expect(desk.inputs.slice(inputMark).some((i) => "callId" in i && i.callId === callId)).toBe(false);
      expect(desk.activity).toBe("idle");
      expect(currentCall(desk.runner.state)).toBeNull();
      await desk.validCall();
    });
  }

  it("an INVITE that requires session timers (Require: timer, RFC 4028) rings and is answered", async () => {
    const callId = `timer-${randomBytes(5).toString("hex")}`;
    const mark = desk.pbx.received.length;
    desk.pbx.send(
      rawInvite({
        contact: desk.contact,
        callId,
        body: sdpOffer(await freePorts(2)),
        extra: ["Supported: timer", "Require: timer", "Session-Expires: 1800;refresher=uac"],
      }),
    );
    await desk.until(() => desk.activity === "ringing", "ringing");
    desk.ctl("answer");
    const ok = await desk.final(callId, mark);
    expect(ok.firstLine).toBe("SIP/2.0 200 OK");
    expect(ok.header("session-expires")).toBe("1800;refresher=uac");
    desk.ctl("hangup");
    await desk.until(() => desk.activity === "idle", "idle");
  });

  it("a second INVITE with the Call-ID of a ringing call (merged request) gets 482 at once", async () => {
    const callId = `merged-${randomBytes(5).toString("hex")}`;
    desk.pbx.send(rawInvite({ contact: desk.contact, callId, body: sdpOffer(await freePorts(2)) }));
    await desk.until(() => desk.activity === "ringing", "ringing");
    const mark = desk.pbx.received.length;
    desk.pbx.send(rawInvite({ contact: desk.contact, callId, body: sdpOffer(await freePorts(2)) }));
    const refused = await desk.final(callId, mark);
    expect(refused.firstLine).toBe("SIP/2.0 482 Loop Detected");
    expect(refused.header("warning")).toMatch(/^399 \S+ ".+"$/);
    expect(desk.activity).toBe("ringing");
    desk.ctl("reject");
    await desk.until(() => desk.activity === "idle", "idle");
    await desk.validCall();
  });

  it("an offerless INVITE is still offered and answered (our offer in the 200 OK)", async () => {
    const callId = `nosdp-${randomBytes(5).toString("hex")}`;
    const mark = desk.pbx.received.length;
    desk.pbx.send(rawInvite({ contact: desk.contact, callId, body: "", contentType: null }));
    await desk.until(() => desk.activity === "ringing", "ringing");
    expect(desk.offered(callId)).toBe(true);
    desk.ctl("answer");
    const ok = await desk.final(callId, mark);
    expect(ok.firstLine).toBe("SIP/2.0 200 OK");
    expect(ok.text).toMatch(/\r\nm=audio [1-9]\d* RTP\/AVP /);
    desk.ctl("hangup");
    await desk.until(() => desk.activity === "idle", "idle");
    await desk.validCall();
  });

  it("ctl hangup ends a call whose 200 OK waits for its ACK; the BYE follows the late ACK", async () => {
    const callId = `noack-${randomBytes(5).toString("hex")}`;
    const mark = desk.pbx.received.length;
    desk.pbx.send(rawInvite({ contact: desk.contact, callId, body: sdpOffer(40104) }));
    await desk.until(() => desk.activity === "ringing", "ringing");
    desk.ctl("answer");
    const ok = await desk.final(callId, mark);
    expect(ok.firstLine).toBe("SIP/2.0 200 OK");
    await desk.until(() => desk.activity === "on_call", "on_call");
    // sip.js may not send BYE before the ACK (RFC 3261 §15): the desk must not wait for it
    expect(desk.ctl("hangup")).toEqual({ ok: true });
    await desk.until(() => desk.activity === "idle", "idle after ctl hangup", 2000);
    const ended = desk.events.find((e) => e.type === "call.ended" && e.call_id === callId);
    expect(ended).toMatchObject({ end_reason: "local_hangup" });
    const byeMark = desk.pbx.received.length;
    desk.pbx.send(inDialogRequest(ok, "ACK", 1));
    const bye = await desk.pbx.waitFor(
      (m) => m.firstLine.startsWith("BYE ") && m.header("call-id") === callId,
      3000,
      byeMark,
    );
    desk.pbx.send(
      [
        "SIP/2.0 200 OK",
        `Via: ${bye.header("via")}`,
        `From: ${bye.header("from")}`,
        `To: ${bye.header("to")}`,
        `Call-ID: ${callId}`,
        `CSeq: ${bye.header("cseq")}`,
        "Content-Length: 0",
        "",
        "",
      ].join("\r\n"),
    );
    await desk.validCall();
  });

  it("ctl reject ends a ringing call with 603 and the desk is idle at once", async () => {
    const callId = `rej-${randomBytes(5).toString("hex")}`;
    const mark = desk.pbx.received.length;
    desk.pbx.send(rawInvite({ contact: desk.contact, callId, body: sdpOffer(40106) }));
    await desk.until(() => desk.activity === "ringing", "ringing");
    expect(desk.ctl("reject")).toEqual({ ok: true });
    expect((await desk.final(callId, mark)).firstLine).toBe("SIP/2.0 603 Decline");
    await desk.until(() => desk.activity === "idle", "idle", 2000);
    expect(desk.events.find((e) => e.type === "call.ended" && e.call_id === callId)).toMatchObject({
      end_reason: "rejected",
    });
    await desk.validCall();
  });
});

describe("a media session that cannot be created", () => {
  let desk: Desk;
  let squatters: Socket[] = [];
  let pair = 0;
  beforeAll(async () => {
    const first = await freePorts(3);
    pair = first % 2 === 0 ? first : first + 1;
    // another program holds the only RTP pair of the range before the daemon starts
    squatters = await Promise.all(
      [pair, pair + 1].map(
        (port) =>
          new Promise<Socket>((resolve) => {
            const s = createSocket("udp4");
            s.bind(port, "127.0.0.1", () => resolve(s));
          }),
      ),
    );
    desk = await Desk.start({ portMin: pair, portMax: pair + 1 });
  });
  afterAll(async () => {
    for (const s of squatters) s.close();
    await desk?.stop();
  });

  it("gets 480 with Retry-After at once (not 503, which a proxy turns into a 500 of its own); the desk is idle and answers once the port is free", async () => {
    const callId = `nomedia-${randomBytes(5).toString("hex")}`;
    const mark = desk.pbx.received.length;
    desk.pbx.send(rawInvite({ contact: desk.contact, callId, body: sdpOffer(40108) }));
    await desk.until(() => desk.activity === "ringing", "ringing");
    desk.ctl("answer");
    const final = await desk.final(callId, mark, 3000);
    expect(final.firstLine).toBe("SIP/2.0 480 Temporarily Unavailable");
    expect(final.header("retry-after")).toBe("5");
    expect(final.header("warning")).toMatch(/^399 \S+ "No media resources: .+"$/);
    await desk.until(() => desk.activity === "idle", "idle", 2000);
    expect(desk.events.find((e) => e.type === "call.ended" && e.call_id === callId)).toMatchObject({
      end_reason: "failed",
    });
    // a later hangup or reject has no call to act on, and changes nothing
    expect(desk.ctl("hangup").ok).toBe(false);
    expect(desk.activity).toBe("idle");
    for (const s of squatters) await new Promise<void>((r) => s.close(() => r()));
    squatters = [];
    await desk.validCall();
  });
});

describe("an answer that fails inside the SIP library", () => {
  let desk: Desk;
  let failOffers = true;
  beforeAll(async () => {
    const first = await freePorts(6);
    const min = first % 2 === 0 ? first : first + 1;
    // a media session whose offer throws (not a MediaError): sip.js's accept() fails mid-way
    desk = await Desk.start({ portMin: min, portMax: min + 3 }, (f) => ({
      ...f,
      create: async (o) => {
        const session = await f.create(o);
        return new Proxy(session, {
          get(target, key, receiver) {
            if (key === "createOffer" && failOffers)
              return () => {
                throw new TypeError("Content disposition undefined.");
              };
            const value = Reflect.get(target, key, receiver);
            return typeof value === "function" ? value.bind(target) : value;
          },
        }) as MediaSession;
      },
      close: () => f.close?.() ?? Promise.resolve(),
    }));
  });
  afterAll(async () => {
    await desk?.stop();
  });

  it("the INVITE still gets a final response, the call ends failed, ctl hangup/reject find the desk idle", async () => {
    const callId = `failans-${randomBytes(5).toString("hex")}`;
    const mark = desk.pbx.received.length;
    desk.pbx.send(rawInvite({ contact: desk.contact, callId, body: "", contentType: null }));
    await desk.until(() => desk.activity === "ringing", "ringing");
    desk.ctl("answer");
    const final = await desk.final(callId, mark, 3000);
    expect(final.firstLine).toMatch(/^SIP\/2\.0 (480|500) /);
    await desk.until(() => desk.activity === "idle", "idle", 2000);
    expect(desk.events.find((e) => e.type === "call.ended" && e.call_id === callId)).toMatchObject({
      end_reason: "failed",
    });
    expect(desk.ctl("hangup").ok).toBe(false);
    expect(desk.ctl("reject").ok).toBe(false);
    expect(desk.activity).toBe("idle");
    failOffers = false;
    await desk.validCall();
  });
});

describe("a 200 OK never ACKed", () => {
  let desk: Desk;
  const timers = Core.Timers as { TIMER_L: number; TIMER_H: number };
  const saved = { L: timers.TIMER_L, H: timers.TIMER_H };
  beforeAll(async () => {
    // RFC 3261 timer H / RFC 6026 timer L are 64*T1 = 32 s; shortened for this file's process
    timers.TIMER_L = 2000;
    timers.TIMER_H = 2000;
    const first = await freePorts(6);
    const min = first % 2 === 0 ? first : first + 1;
    desk = await Desk.start({ portMin: min, portMax: min + 3 });
  });
  afterAll(async () => {
    timers.TIMER_L = saved.L;
    timers.TIMER_H = saved.H;
    await desk?.stop();
  });

  it("ends the call with end_reason no_ack (not remote_hangup), sends BYE, then answers the next call", async () => {
    const callId = `lostack-${randomBytes(5).toString("hex")}`;
    const mark = desk.pbx.received.length;
    desk.pbx.send(rawInvite({ contact: desk.contact, callId, body: sdpOffer(40110) }));
    await desk.until(() => desk.activity === "ringing", "ringing");
    desk.ctl("answer");
    expect((await desk.final(callId, mark)).firstLine).toBe("SIP/2.0 200 OK");
    await desk.until(() => desk.activity === "on_call", "on_call");
    await desk.until(() => desk.activity === "idle", "idle after timer L", 8000);
    expect(desk.events.find((e) => e.type === "call.ended" && e.call_id === callId)).toMatchObject({
      end_reason: "no_ack",
    });
    await desk.pbx.waitFor(
      (m) => m.firstLine.startsWith("BYE ") && m.header("call-id") === callId,
      2000,
      mark,
    );
    await desk.validCall();
  });
});
