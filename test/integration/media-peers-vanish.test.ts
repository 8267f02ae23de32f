/**
 * Issue 14's peers that vanish or restart mid-call, against the whole desk as `cuffia run`
 * composes it (config → app, its control socket), on real peers: the rule is that a desk is never
 * left silently out of service. Each case ends with the desk idle and available in `ctl status`
 * (which is the presence document plus local details) and a NEXT call answered with audio both
 * ways, judged by measurement (each side's recording holds the tone the other side played).
 * - the DTLS-SRTP + ICE far end (baresip with `dtls_srtp` and `ice`) SIGKILLed mid-call:
 *   · with `rtp.media_timeout: 3` the media watchdog ends the call first (`media_timeout`, its
 *     silence detail), long before ICE consent (RFC 7675, 30 s) would;
 *   · with `rtp.media_timeout: 0` (watchdog off) consent freshness alone ends it
 *     (`media_timeout`, detail "ICE consent lost ...") ~30 s after the last consent answer;
 * - the TURN relay (coturn) of a relay-only desk SIGKILLed mid-call: the call ends cleanly
 *   (`media_timeout`, the caller gets the BYE); a call while coturn is down is refused (no
 *   candidate to offer: `failed`; the caller hears 180 meanwhile and gets 480 with Retry-After
 *   and Warning through Kamailio), the desk idle; with coturn started again on the same port the
 *   next relay-only call carries audio through it;
 * - rtpengine (the WebRTC gateway behind Kamailio, wss://) SIGKILLed mid-call and started again
 *   at once on the same ports: the restarted one knows nothing of the call, so its media stops
 *   and the call ends (`media_timeout`); the next call goes through the new rtpengine.
 * - a far end that lies: the lab Kamailio rewrites the a=fingerprint of baresip's offer, so its
 *   certificate does not match: the handshake is refused, the call ends at once with that reason
 *   and the desk sent no RTP (test/media/dtls-ice-session.test.ts has the same between two
 *   sessions).
 * ICE gathers 127.0.0.1 only (rtp.ice.host_addresses) and contacts no server but the lab's coturn.
 * baresip's `ice` offers every non-loopback address it sees (eth0's here), so the DTLS-SRTP + ICE
 * far ends run in a network namespace the test creates, joined by a veth pair (netns.ts
 * createVethLink), with a Kamailio of their own and the desk (SIP, media, ICE) on the pair's root
 * end: their ICE sees only the link's two addresses (the liar case's capture, on every interface,
 * checks it).
 */
import { mkdtempSync } from "node:fs";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, buildApp } from "../../src/app.js";
import { parseConfig } from "../../src/config/load.js";
import { request } from "../../src/control/control-client.js";
import type { DeskEvent } from "../../src/core/types.js";
import { makeTone } from "../lab/audio.js";
import { type Baresip, type BaresipOptions, readSipTrace } from "../lab/baresip.js";
import { type Coturn, startCoturn } from "../lab/coturn.js";
import { findFreeBase, type Kamailio, startKamailio } from "../lab/kamailio.js";
import { addressesSeen, createVethLink, machineAddresses, type VethLink } from "../lab/netns.js";
import { pause, waitUntil } from "../lab/proc.js";
import { callLegs, type Rtpengine, startRtpengine } from "../lab/rtpengine.js";
import {
  DESK_HZ,
  FAR_HZ,
  latestDecoded,
  makeFarTone,
  sipDebugLog,
  startToneDesk,
  startToneFar,
  type ToneDesk,
  toneError,
} from "../lab/tone-desk.js";
import { startCapture } from "../lab/wire.js";
import { connectWsSipPeer, headerValues } from "../lab/ws-sip-peer.js";

/** The desk's RTP (and ICE host candidate) ports; the second desk of the TURN case has its own. */
const DESK_PORTS = [33600, 33699] as const;
const CALLER_PORTS = [33700, 33799] as const;

const dir = mkdtempSync(join(tmpdir(), "cuffia-peers-vanish-"));
const cleanup: Array<() => Promise<unknown>> = [];
let kam: Kamailio;
/** The DTLS-SRTP + ICE far ends' namespace and their Kamailio, on the link's root end. */
let link: VethLink;
let dkam: Kamailio;
/** The desk plays FAR_HZ, the far ends DESK_HZ: what each side must hear of the other. */
let deskTone: string;
let farTone: string;

beforeAll(async () => {
  kam = await startKamailio({ base: await findFreeBase(28860), dir: join(dir, "kamailio") });
  link = await createVethLink();
  cleanup.push(() => link.teardown());
  dkam = await startKamailio({
    base: await findFreeBase(29060),
    dir: join(dir, "kamailio-link"),
    listen: link.rootAddress,
  });
  cleanup.push(() => dkam.stop());
  deskTone = await makeFarTone(dir);
  // long enough for a whole call: baresip's aufile ends the call when its file ends
  farTone = await makeTone(join(dir, "far-end.wav"), { freq: DESK_HZ, seconds: 60 });
}, 60_000);

afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
  await kam?.stop();
});

/**
 * A browser's offer (SAVPF, rtcp-mux, ICE, DTLS fingerprint, Opus and PCMU) with one host
 * candidate on 127.0.0.1:`port`, where nothing listens: used only for a call the desk refuses.
 */
function browserOffer(port: number): string {
  return [
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0",
    `m=audio ${port} UDP/TLS/RTP/SAVPF 111 0`,
    "c=IN IP4 127.0.0.1",
    `a=candidate:1 1 udp 2122260223 127.0.0.1 ${port} typ host generation 0`,
    "a=ice-ufrag:brws",
    "a=ice-pwd:browserpassword0123456789",
    "a=fingerprint:sha-256 66:72:B2:20:46:65:8E:FD:FE:76:75:AF:FE:50:AB:66:98:32:8E:88:CF:74:D8:1D:08:AB:0A:25:42:63:A2:C6",
    "a=setup:actpass",
    "a=mid:0",
    "a=sendrecv",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "a=rtpmap:0 PCMU/8000",
    "",
  ].join("\r\n");
}

interface Desk {
  readonly app: App;
  readonly socket: string;
  readonly sinkDir: string;
  readonly events: DeskEvent[];
}

/**
 * The desk from its config text (auto-answer, file tone and sink), logged in, ready, registered;
 * its aor and media on `address` (127.0.0.1, or the link's root end for the DTLS far ends).
 */
async function startDesk(
  name: string,
  server: string,
  rtpExtra: string,
  caFile?: string,
  address = "127.0.0.1",
): Promise<Desk> {
  const socket = join(dir, `${name}.sock`);
  const sinkDir = join(dir, `sink-${name}`);
  await mkdir(sinkDir, { recursive: true });
  const text = `
agent: { id: desk-${name} }
sip:
  server: ${server}
  aor: sip:1017@${address}
  password: pw1017
${caFile ? `  ca_file: ${caFile}\n` : ""}  auto_answer: true
rtp:
  address: ${address}
  port_min: ${DESK_PORTS[0]}
  port_max: ${DESK_PORTS[1]}
  codecs: [pcmu, pcma]
${rtpExtra}
audio:
  source: { type: file, path: ${deskTone}, loop: true }
  sink: { type: file, path: "${sinkDir}/sink-{call}.wav" }
policy: { wrap_up_seconds: 0, ring_timeout_seconds: 0 }
control: { socket: ${socket} }
state_dir: ${dir}/state-${name}
`;
  const { config } = parseConfig(text, join(dir, `${name}.yaml`));
  const app = await buildApp(config, sipDebugLog, {});
  const events: DeskEvent[] = [];
  app.runner.subscribe((c) => {
    if (c.kind === "event") events.push(c.event);
  });
  await app.start();
  cleanup.push(() => app.stop());
  await request(socket, { id: 1, cmd: "login" });
  await request(socket, { id: 2, cmd: "ready" });
  await waitUntil("registered", () => app.runner.state.health.sip === "registered", 15_000);
  return { app, socket, sinkDir, events };
}

async function status(desk: Desk): Promise<Record<string, unknown>> {
  const r = await request(desk.socket, { id: 9, cmd: "status" });
  return (r["data"] ?? r) as Record<string, unknown>;
}

/** The call's id once `ctl status` shows it answered. */
async function answeredCall(desk: Desk): Promise<string> {
  return waitUntil(
    "a call answered in ctl status",
    async () => {
      const call = (await status(desk))["call"] as Record<string, unknown> | null;
      return call?.["answered"] ? String(call["id"]) : undefined;
    },
    15_000,
  );
}

/** The call.ended event of `callId`, waited for (bounded). */
function ended(
  desk: Desk,
  callId: string,
  timeoutMs: number,
): Promise<Extract<DeskEvent, { type: "call.ended" }>> {
  return waitUntil(
    `call.ended of ${callId}`,
    async () =>
      desk.events.find((e) => e.type === "call.ended" && e.call_id === callId) as
        | Extract<DeskEvent, { type: "call.ended" }>
        | undefined,
    timeoutMs,
    100,
  );
}

/** Not silently out of service: idle, available, routable, no call, registered (ctl status = presence + locals). */
async function expectIdle(desk: Desk): Promise<void> {
  const s = await status(desk);
  expect(s).toMatchObject({ status: "available", activity: "idle", call: null, routable: true });
  expect((s["health"] as Record<string, unknown>)["sip"]).toBe("registered");
}

/**
 * Waits until the desk's recording of `callId` is `seconds` long (8 kHz, 16-bit; the sink is
 * written in real time from the answer on, silence until the DTLS keys are in included), so its
 * dominant frequency says what the far end sent; bounded.
 */
async function heardFor(desk: Desk, callId: string, seconds: number): Promise<string> {
  return waitUntil(
    `${seconds} s of the far end's audio in the desk's recording`,
    async () => {
      const f = (await readdir(desk.sinkDir).catch(() => [] as string[])).find((x) => x.includes(callId));
      if (!f) return undefined;
      const path = join(desk.sinkDir, f);
      return (await stat(path)).size >= 44 + seconds * 8000 * 2 ? path : undefined;
    },
    20_000,
  );
}

async function far(extra: Partial<BaresipOptions> = {}, via = kam): Promise<Baresip> {
  const b = await startToneFar(via, farTone, extra);
  cleanup.push(() => b.stop());
  return b;
}

/** A call from `from` answered by the desk, carrying audio both ways (both recordings measured). */
async function callWithAudio(desk: Desk, from: Baresip, via = kam): Promise<string> {
  const before = desk.events.length;
  await from.dial(`sip:1017@${via.domain}`);
  await from.waitFor("CALL_ESTABLISHED", 15_000);
  const callId = await answeredCall(desk);
  expect(desk.events.slice(before).some((e) => e.type === "call.answered" && e.call_id === callId)).toBe(
    true,
  );
  const sink = await heardFor(desk, callId, 3);
  expect(await toneError(sink, DESK_HZ)).toBeLessThan(20);
  const dec = await waitUntil("the far end's recording", () => latestDecoded(from), 5000);
  expect(await toneError(dec, FAR_HZ)).toBeLessThan(20);
  return callId;
}

/** A DTLS-SRTP + ICE far end: in the link's namespace, where its only address is its end of the pair. */
const dtlsFar = (): Promise<Baresip> =>
  far(
    {
      mediaenc: "dtls_srtp",
      medianat: "ice",
      rtcpMux: true,
      netns: { ns: link.ns, address: link.address, nat: link },
    },
    dkam,
  );

/** A desk on the link's root end (SIP over ws to the link's Kamailio, ICE on that address only). */
const linkDesk = (name: string, rtpExtra: string): Promise<Desk> =>
  startDesk(
    name,
    `ws://${dkam.domain}:${dkam.wsPort}`,
    [rtpExtra, `  ice: { host_addresses: [${link.rootAddress}] }`].filter((l) => l !== "").join("\n"),
    undefined,
    link.rootAddress,
  );

describe("the DTLS-SRTP + ICE far end killed mid-call (baresip SIGKILL)", () => {
  it("media_timeout 3: the media watchdog ends the call first; desk idle; next DTLS call has audio both ways", async () => {
    const desk = await linkDesk("dtls-watchdog", "  media_timeout: 3");
    const gone = await dtlsFar();
    const callId = await callWithAudio(desk, gone, dkam);
    expect((await status(desk))["call"]).toMatchObject({ encryption: "dtls" });
    const killedAt = Date.now();
    process.kill(gone.pid, "SIGKILL");
    const e = await ended(desk, callId, 15_000);
    // the watchdog's 3 s, not consent's 30 s
    expect(e.end_reason).toBe("media_timeout");
    expect(e.detail).toMatch(/no RTP or RTCP for 3 s/);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    await expectIdle(desk);
    const next = await dtlsFar();
    const nextId = await callWithAudio(desk, next, dkam);
    expect((await status(desk))["call"]).toMatchObject({ encryption: "dtls" });
    await next.hangup();
    expect((await ended(desk, nextId, 10_000)).end_reason).toBe("remote_hangup");
    await expectIdle(desk);
    await desk.app.stop();
  }, 90_000);

  it("media_timeout 0 (watchdog off): ICE consent freshness alone ends the call; desk idle; next call has audio both ways", async () => {
    const desk = await linkDesk("dtls-consent", "  media_timeout: 0");
    const gone = await dtlsFar();
    const callId = await callWithAudio(desk, gone, dkam);
    const killedAt = Date.now();
    process.kill(gone.pid, "SIGKILL");
    // RFC 7675 §5.1: 30 s after the last consent answer (werift checks every 4–6 s), so about
    // 24–31 s after the kill
    const e = await ended(desk, callId, 50_000);
    const after = Date.now() - killedAt;
    expect(e.end_reason).toBe("media_timeout");
    expect(e.detail).toMatch(/ICE consent lost/);
    expect(after).toBeGreaterThan(20_000);
    expect(after).toBeLessThan(45_000);
    await expectIdle(desk);
    const next = await dtlsFar();
    const nextId = await callWithAudio(desk, next, dkam);
    await next.hangup();
    expect((await ended(desk, nextId, 10_000)).end_reason).toBe("remote_hangup");
    await expectIdle(desk);
    await desk.app.stop();
  }, 120_000);
});

describe("a far end that lies: its DTLS certificate is not the a=fingerprint of its SDP", () => {
  it("the handshake is refused, the call ends at once with the reason, no media sent by the desk, desk idle; the next call has audio both ways", async () => {
    const desk = await linkDesk("liar", "");
    const liar = await dtlsFar();
    // the desk's media ports on every interface, to or from the link's addresses (the desk's
    // sockets are bound to its end, so one sent anywhere else is caught too)
    const capture = await startCapture(
      dir,
      `udp portrange ${DESK_PORTS[0]}-${DESK_PORTS[1]} and (host ${link.rootAddress} or host ${link.address})`,
      "any",
    );
    // the lab Kamailio puts another fingerprint in 2001's INVITEs (kamailio.cfg, route[LIE]),
    // its re-INVITE after ICE included
    await dkam.rpc("htable.seti", "lie", "s:2001", "1");
    const before = desk.events.length;
    await liar.dial(`sip:1017@${dkam.domain}`);
    const answered = await waitUntil("the call answered", () =>
      desk.events.slice(before).find((e) => e.type === "call.answered"),
    );
    const answeredAt = Date.now();
    const e = await ended(desk, answered.call_id, 15_000);
    // refused when the handshake completes, not by a timeout (media_timeout is 30 s here)
    expect(Date.now() - answeredAt).toBeLessThan(10_000);
    expect(e.end_reason).toBe("media_timeout");
    expect(e.detail).toMatch(/DTLS: the far end's certificate does not match its a=fingerprint/);
    await expectIdle(desk);
    await liar.waitFor("CALL_CLOSED", 10_000);
    // tshark writes what it captured in batches: give the last ones (the handshake's end) time
    await pause(1000);
    const datagrams = await capture.stop();
    const fromDesk = datagrams.filter((d) => d.srcPort >= DESK_PORTS[0] && d.srcPort <= DESK_PORTS[1]);
    expect(fromDesk.some((d) => d.kind === "dtls")).toBe(true); // the handshake did run
    expect(fromDesk.filter((d) => d.kind === "rtp" || d.kind === "rtcp")).toHaveLength(0);
    // ICE and the handshake between the link's two addresses only: none of the machine's own
    expect(addressesSeen(datagrams)).toEqual([link.rootAddress, link.address].sort());
    const own = machineAddresses();
    expect(datagrams.filter((d) => own.includes(d.srcAddress) || own.includes(d.dstAddress))).toEqual([]);
    await dkam.rpc("htable.delete", "lie", "s:2001");
    const nextId = await callWithAudio(desk, liar, dkam);
    expect((await status(desk))["call"]).toMatchObject({ encryption: "dtls" });
    await liar.hangup();
    expect((await ended(desk, nextId, 10_000)).end_reason).toBe("remote_hangup");
    await expectIdle(desk);
    await desk.app.stop();
  }, 90_000);
});

describe("the TURN relay of a relay-only desk killed mid-call (coturn SIGKILL), then started again", () => {
  let coturn: Coturn;
  let caller: ToneDesk;
  let callerSinks: string;

  beforeAll(async () => {
    coturn = await startCoturn({ dir: join(dir, "coturn-1"), verbose: true });
    cleanup.push(() => coturn.stop());
    callerSinks = join(dir, "sink-caller");
    await mkdir(callerSinks, { recursive: true });
    // a second desk (our own SIP side, host candidates on 127.0.0.1) places the calls
    caller = await startToneDesk({
      url: `ws://127.0.0.1:${kam.wsPort}`,
      sip: { aor: "sip:2001@127.0.0.1", username: "2001", password: "pw2001" },
      tone: farTone,
      sinkDir: callerSinks,
      rtp: {
        address: "127.0.0.1",
        portMin: CALLER_PORTS[0],
        portMax: CALLER_PORTS[1],
        codecs: ["PCMU"],
        ice: { hostAddresses: ["127.0.0.1"] },
        offerDtls: true,
      },
      log: sipDebugLog,
    });
    cleanup.push(() => caller.agent.stop());
  }, 60_000);

  /**
   * The caller dials the desk; once answered, each side has heard the other's tone. Resolves
   * with the call's id at the desk and at the caller.
   */
  async function relayCall(desk: Desk): Promise<{ callId: string; callerId: string }> {
    const mark = caller.inputs.mark;
    await caller.sip({ action: "dial", target: "1017" });
    const dialling = await caller.inputs.waitFor("call_dialling", () => true, 10_000, mark);
    await caller.inputs.waitFor("call_answered", (i) => i.callId === dialling.callId, 15_000, mark);
    const callId = await answeredCall(desk);
    expect((await status(desk))["call"]).toMatchObject({ encryption: "dtls" });
    const sink = await heardFor(desk, callId, 3);
    expect(await toneError(sink, DESK_HZ)).toBeLessThan(20);
    const theirs = await waitUntil("the caller's recording", async () => {
      const f = (await readdir(callerSinks)).find((x) => x.includes(dialling.callId));
      return f && (await stat(join(callerSinks, f))).size > 44 + 2 * 8000 * 2
        ? join(callerSinks, f)
        : undefined;
    });
    expect(await toneError(theirs, FAR_HZ)).toBeLessThan(20);
    return { callId, callerId: dialling.callId };
  }

  it("the call ends cleanly (media_timeout, BYE to the caller), desk idle; a call while it is down is refused; coturn back on its port: the next relay-only call has audio both ways", async () => {
    await writeFile(join(dir, "turn-password"), coturn.password, { mode: 0o600 });
    const desk = await startDesk(
      "turn",
      `ws://127.0.0.1:${kam.wsPort}`,
      [
        "  media_timeout: 3",
        "  ice:",
        "    host_addresses: [127.0.0.1]",
        "    relay_only: true",
        "    turn_servers:",
        `      - { url: "${coturn.turnUrl}", username: ${coturn.username}, password_file: ${join(dir, "turn-password")} }`,
      ].join("\n"),
    );
    const { callId } = await relayCall(desk);
    const mark = caller.inputs.mark;
    const killedAt = Date.now();
    process.kill(coturn.pid, "SIGKILL");
    const e = await ended(desk, callId, 15_000);
    expect(e.end_reason).toBe("media_timeout");
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    // the caller got the desk's BYE: nothing left hanging on either side
    const theirEnd = await caller.inputs.waitFor("call_ended", () => true, 10_000, mark);
    expect(theirEnd.reason).toBe("remote_hangup");
    await expectIdle(desk);

    // a call while the relay is down, from a browser-style caller over ws:// through Kamailio: a
    // relay-only desk has no candidate to offer, so it refuses the call once the TURN Allocate
    // times out (~6 s) and stays idle, not stuck ringing. The caller hears ringing meanwhile (the
    // desk auto-answers, so only its slow media sends the 180), and the refusal reaches it as the
    // desk sent it: 480 with Retry-After and the reason (a 503 would reach it as Kamailio's own
    // 500, RFC 3261 §16.7, without either).
    const deskMark = desk.events.length;
    const browser = await connectWsSipPeer(kam, "2002");
    cleanup.push(async () => browser.close());
    const sentAt = Date.now();
    const refused = await browser.invite(`sip:1017@127.0.0.1`, browserOffer(CALLER_PORTS[1]), 20_000);
    refused.ack();
    expect(refused.status).toBe(480);
    expect(refused.response).toMatch(/^SIP\/2\.0 480 Temporarily Unavailable\r\n/);
    expect(headerValues(refused.response, "Retry-After")).toEqual(["5"]);
    expect(headerValues(refused.response, "Warning")).toEqual([
      expect.stringMatching(
        /^399 \S+ "No media resources: media: ICE: .*no candidate could be gathered on 127\.0\.0\.1"$/,
      ),
    ]);
    const refusedCallId = headerValues(refused.response, "Call-ID")[0];
    const ringing = await browser.next(
      (m) => /^SIP\/2\.0 180 /.test(m) && headerValues(m, "Call-ID")[0] === refusedCallId,
      1000,
    );
    expect(ringing).toBeTruthy();
    // the refusal came when the Allocate gave up, not at once and not after a ring timeout
    expect(Date.now() - sentAt).toBeGreaterThan(3000);
    const deskRefused = desk.events.slice(deskMark).find((x) => x.type === "call.ended");
    expect(deskRefused).toMatchObject({ end_reason: "failed", talk_time: 0 });
    expect(deskRefused?.type === "call.ended" && deskRefused.detail).toMatch(
      /no candidate could be gathered/,
    );
    await expectIdle(desk);
    browser.close();

    coturn = await startCoturn({
      dir: join(dir, "coturn-2"),
      port: coturn.port,
      relayPorts: coturn.relayPorts,
      verbose: true,
    });
    cleanup.push(() => coturn.stop());
    const next = await relayCall(desk);
    // the new call's media crossed the new coturn: a relay allocated for the desk, a channel to the caller
    const log = await readFile(coturn.logFile, "utf8");
    expect(log).toMatch(/ALLOCATE processed, success/);
    expect(log).toMatch(new RegExp(`peer 127\\.0\\.0\\.1:${CALLER_PORTS[0].toString().slice(0, 3)}\\d\\d `));
    expect(log).toMatch(/CHANNEL_BIND processed, success/);
    await caller.sip({ action: "hangup", callId: next.callerId });
    expect((await ended(desk, next.callId, 10_000)).end_reason).toBe("remote_hangup");
    await expectIdle(desk);
    await desk.app.stop();
  }, 120_000);
});

describe("rtpengine (the WebRTC gateway, wss://) killed mid-call and started again (SIGKILL)", () => {
  let rtpengine: Rtpengine;
  let gw: Kamailio;

  beforeAll(async () => {
    rtpengine = await startRtpengine({ dir: join(dir, "rtpengine-1") });
    cleanup.push(() => rtpengine.stop());
    gw = await startKamailio({ base: await findFreeBase(28960), dir: join(dir, "kamailio-gw"), rtpengine });
    cleanup.push(() => gw.stop());
  }, 60_000);

  /** The SIP Call-ID of `from`'s latest INVITE to the desk (the id rtpengine knows the call by). */
  async function sipCallId(from: Baresip): Promise<string> {
    const invite = (await readSipTrace(from.logFile)).findLast((t) => /^INVITE sip:1017@/.test(t.message));
    const id = /^Call-ID:\s*(\S+)/im.exec(invite?.message ?? "")?.[1];
    expect(id).toBeDefined();
    return id as string;
  }

  /** rtpengine's view of the call: the desk's leg DTLS-SRTP (SAVPF) and carrying the desk's packets. */
  async function throughRtpengine(id: string): Promise<void> {
    await waitUntil(
      "rtpengine forwarding the desk's leg",
      async () => {
        const desk = (await callLegs(rtpengine, id)).find((l) => l.protocol === "UDP/TLS/RTP/SAVPF");
        return desk !== undefined && desk.packets > 50 ? true : undefined;
      },
      10_000,
    );
  }

  it("the call ends (media_timeout), desk idle; the next call goes through the new rtpengine with audio both ways", async () => {
    const desk = await startDesk(
      "gateway",
      `wss://127.0.0.1:${gw.wssPort}`,
      "  media_timeout: 3\n  ice: { host_addresses: [127.0.0.1] }",
      gw.caFile,
    );
    const plain = await far({}, gw);
    const callId = await callWithAudio(desk, plain, gw);
    expect((await status(desk))["call"]).toMatchObject({ encryption: "dtls" });
    await throughRtpengine(await sipCallId(plain));
    const { ngPort, portMin, portMax } = rtpengine;
    const killedAt = Date.now();
    process.kill(rtpengine.pid, "SIGKILL");
    await waitUntil("rtpengine gone", () => rtpengine.stop().then(() => true), 5000);
    // back at once where Kamailio knows it, with no memory of the call
    rtpengine = await startRtpengine({
      dir: join(dir, "rtpengine-2"),
      ngPort,
      ports: { min: portMin, max: portMax },
    });
    cleanup.push(() => rtpengine.stop());
    const e = await ended(desk, callId, 15_000);
    expect(e.end_reason).toBe("media_timeout");
    expect(Date.now() - killedAt).toBeLessThan(12_000);
    await expectIdle(desk);
    // the caller got the desk's BYE (through Kamailio, whose rtpengine_delete finds no such call)
    await plain.waitFor("CALL_CLOSED", 10_000);

    const nextId = await callWithAudio(desk, plain, gw);
    expect((await status(desk))["call"]).toMatchObject({ encryption: "dtls" });
    await throughRtpengine(await sipCallId(plain));
    await plain.hangup();
    expect((await ended(desk, nextId, 10_000)).end_reason).toBe("remote_hangup");
    await expectIdle(desk);
    await desk.app.stop();
  }, 120_000);
});
