/**
 * The lab's WebRTC gateway: a Kamailio of its own with `-A WITH_RTPENGINE` sends every INVITE,
 * its answer and the BYE through rtpengine. A plain baresip (RTP/AVP, PCMU, no ICE) calls a
 * baresip marked as a WebRTC end (mediaenc=dtls_srtp, medianat=ice, rtcp_mux): rtpengine turns
 * that leg into DTLS-SRTP + ICE + rtcp-mux (UDP/TLS/RTP/SAVPF) and the plain leg stays RTP/AVP.
 * Audio is measured both ways, rtpengine's own view of the call proves each leg's protocol and
 * packet counts, and a capture of the WebRTC leg proves no clear RTP crossed it.
 * baresip 1.0's ICE offers every non-loopback address it sees (in this namespace: eth0's), so the
 * baresips run in a network namespace the test creates, joined to this one by a veth pair (netns.ts
 * createVethLink): their only address is their end of the pair. Kamailio listens and rtpengine
 * offers media on this end (rtpengine's ng control stays on loopback), the browser stand-in's
 * candidate is there too; captures on every interface check that rtpengine's media went to or came
 * from the link's two addresses only, never the machine's own.
 */
import { createSocket, type Socket } from "node:dgram";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { classes, methods, parseMessage } from "werift-ice";
import { analyse, dominantFrequency, makeTone } from "../lab/audio.js";
import { type Baresip, type BaresipOptions, readSipTrace, startBaresip } from "../lab/baresip.js";
import type {} from "../lab/context.js";
import { type Kamailio, startKamailio } from "../lab/kamailio.js";
import { addressesSeen, createVethLink, machineAddresses, type VethLink } from "../lab/netns.js";
import { baresipPort } from "../lab/ports.js";
import { pause, waitUntil } from "../lab/proc.js";
import { callLegs, markWebrtcUser, type Rtpengine, startRtpengine } from "../lab/rtpengine.js";
import { boundSockets } from "../lab/sockets.js";
import { heardBothWays, receivedRecording, recordingsClosed } from "../lab/two-way.js";
import { type Datagram, judgeRtp, startWireCapture, type WireCapture } from "../lab/wire.js";
import { connectWsSipPeer, headerValues, sipBody } from "../lab/ws-sip-peer.js";

let dir = "";
let link: VethLink;
let rtpengine: Rtpengine;
let kamailio: Kamailio;
const started: Array<{ stop(): Promise<void> }> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cuffia-lab-rtpengine-"));
  link = await createVethLink();
  rtpengine = await startRtpengine({ dir: join(dir, "rtpengine"), address: link.rootAddress });
  kamailio = await startKamailio({ dir: join(dir, "kamailio"), rtpengine, listen: link.rootAddress });
}, 60_000);

afterAll(async () => {
  // Newest first: peers unregister while their Kamailio still runs.
  for (const p of started.splice(0).reverse()) await p.stop().catch(() => {});
  await kamailio?.stop();
  await rtpengine?.stop();
  await link?.teardown();
});

async function peer(opts: Omit<BaresipOptions, "port" | "kamailio">): Promise<Baresip> {
  const b = await startBaresip({
    kamailio,
    port: await baresipPort(),
    netns: { ns: link.ns, address: link.address, nat: link },
    ...opts,
  });
  started.push(b);
  return b;
}

/** The SIP messages a baresip received (from its `sipTrace` log) whose text matches `pattern`. */
async function receivedBy(b: Baresip, pattern: RegExp): Promise<string[]> {
  const me = `${link.address}:${b.port}`;
  return (await readSipTrace(b.logFile))
    .filter((t) => t.to === me && pattern.test(t.message))
    .map((t) => t.message);
}

const INVITE = /^INVITE sip:/;
const OK_TO_INVITE = /^SIP\/2\.0 200 [\s\S]*^CSeq: \d+ INVITE/m;

/** The `n`th (0-based) message matching `pattern` that `b` received, once it has arrived. */
function nthReceived(b: Baresip, pattern: RegExp, n: number): Promise<string> {
  return waitUntil(`${b.user} to receive message #${n + 1} matching ${pattern}`, async () => {
    return (await receivedBy(b, pattern))[n];
  });
}

/** SDP of a WebRTC leg as rtpengine writes it: SAVPF, DTLS fingerprint, ICE, rtcp-mux, no SDES. */
function expectWebrtcSdp(message: string): void {
  expect(message).toMatch(/^m=audio \d+ UDP\/TLS\/RTP\/SAVPF /m);
  expect(message).toMatch(/^a=fingerprint:sha-256 /m);
  expect(message).toMatch(/^a=ice-ufrag:/m);
  expect(message).toMatch(/^a=rtcp-mux/m);
  expect(message).not.toMatch(/^a=crypto:/m);
}

/** SDP of a plain leg: RTP/AVP and none of the WebRTC attributes. */
function expectPlainSdp(message: string): void {
  expect(message).toMatch(/^m=audio \d+ RTP\/AVP( \d+)*\r?$/m);
  expect(message).not.toMatch(/^a=(fingerprint|setup|ice-ufrag|ice-pwd|candidate|rtcp-mux|crypto)/m);
}

/**
 * A browser's SDP (Chrome-like: Opus, PCMU, telephone-event, rtcp-mux, ICE, DTLS fingerprint) with
 * one host candidate at `port`. No DTLS endpoint stands behind it: only signalling and ICE checks
 * are judged with it (the desk's own DTLS-SRTP transport is the real browser-side end).
 */
function browserSdp(port: number, setup: "actpass" | "active"): string {
  const address = link.rootAddress;
  return [
    "v=0",
    `o=- 4611731400430051336 2 IN IP4 ${address}`,
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0",
    "a=msid-semantic: WMS",
    `m=audio ${port} UDP/TLS/RTP/SAVPF 111 0 126`,
    `c=IN IP4 ${address}`,
    `a=rtcp:${port} IN IP4 ${address}`,
    `a=candidate:1 1 udp 2122260223 ${address} ${port} typ host generation 0`,
    "a=ice-ufrag:brws",
    "a=ice-pwd:browserpassword0123456789",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 66:72:B2:20:46:65:8E:FD:FE:76:75:AF:FE:50:AB:66:98:32:8E:88:CF:74:D8:1D:08:AB:0A:25:42:63:A2:C6",
    `a=setup:${setup}`,
    "a=mid:0",
    "a=sendrecv",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:126 telephone-event/8000",
    "",
  ].join("\r\n");
}

/**
 * A UDP socket standing for the browser's host candidate, on the link's root end (an address the
 * test made); collects STUN requests sent to it.
 */
async function candidateSocket(): Promise<{ socket: Socket; port: number; stunUsernames: string[] }> {
  const socket = createSocket("udp4");
  const stunUsernames: string[] = [];
  socket.on("message", (data) => {
    const m = parseMessage(data);
    if (m && m.messageMethod === methods.BINDING && m.messageClass === classes.REQUEST) {
      stunUsernames.push(String(m.getAttributeValue("USERNAME")));
    }
  });
  await new Promise<void>((resolve) => socket.bind(0, link.rootAddress, () => resolve()));
  started.push({
    stop: async () => {
      socket.close();
    },
  });
  return { socket, port: socket.address().port, stunUsernames };
}

/**
 * rtpengine's sockets: on loopback (ng control) or on the link's root end (media), none on a
 * wildcard or on an address of the machine (eth0's).
 */
function expectOnlyTestAddresses(sockets: readonly { address: string }[]): void {
  expect(sockets.length).toBeGreaterThan(0);
  const elsewhere = sockets.filter((s) => !s.address.startsWith("127.") && s.address !== link.rootAddress);
  expect(elsewhere, JSON.stringify(sockets)).toEqual([]);
}

/** Every datagram of rtpengine's media ports on every interface, to or from the link's addresses. */
function captureMedia(name: string): Promise<WireCapture> {
  return startWireCapture(
    join(dir, name),
    `udp and portrange ${rtpengine.portMin}-${rtpengine.portMax} and (host ${link.rootAddress} or host ${link.address})`,
    "any",
  );
}

/**
 * rtpengine's media (its sockets are bound to the link's root end, so a datagram it sent anywhere
 * else, eth0's address included, passes the capture's filter) used the link's two addresses and
 * no other, none of the machine's own.
 */
function expectLinkOnly(datagrams: readonly Datagram[]): void {
  expect(datagrams.length).toBeGreaterThan(0);
  const seen = addressesSeen(datagrams);
  expect(seen.filter((a) => a !== link.rootAddress && a !== link.address)).toEqual([]);
  const own = machineAddresses();
  expect(datagrams.filter((d) => own.includes(d.srcAddress) || own.includes(d.dstAddress))).toEqual([]);
}

describe("lab WebRTC gateway (Kamailio + rtpengine)", () => {
  test("rtpengine's ng control listens on loopback only, and it has no socket on any other address", async () => {
    const sockets = await boundSockets(rtpengine.pid);
    expect(sockets.filter((s) => s.port === rtpengine.ngPort)).toEqual([
      expect.objectContaining({ proto: "udp", address: "127.0.0.1" }),
    ]);
    expectOnlyTestAddresses(sockets);
  });

  test("plain RTP/AVP caller ↔ DTLS-SRTP + ICE + rtcp-mux callee: audio both ways, WebRTC leg encrypted", async () => {
    const tone440 = await makeTone(join(dir, "440.wav"), { freq: 440, seconds: 20 });
    const tone880 = await makeTone(join(dir, "880.wav"), { freq: 880, seconds: 20 });
    await markWebrtcUser(kamailio, "2002");
    const plain = await peer({ user: "2001", audioFile: tone440, record: true, sipTrace: true });
    const webrtc = await peer({
      user: "2002",
      audioFile: tone880,
      record: true,
      autoAnswer: true,
      sipTrace: true,
      mediaenc: "dtls_srtp",
      medianat: "ice",
      rtcpMux: true,
    });

    // Every datagram to or from rtpengine's media ports, from before the first offer.
    const capture = await captureMedia("media.pcap");
    started.push(capture);
    await plain.dial(`sip:2002@${kamailio.domain}`);
    await plain.waitFor("CALL_ESTABLISHED");
    await webrtc.waitFor("CALL_ESTABLISHED");
    const recPlain = await receivedRecording(plain);
    const recWebrtc = await receivedRecording(webrtc);
    await heardBothWays(recPlain, recWebrtc);

    // rtpengine's view while the call runs: which leg speaks what, and packets both ways.
    const calls = await rtpengine.calls();
    expect(calls).toHaveLength(1);
    const legs = await callLegs(rtpengine, calls[0] as string);
    const plainLeg = legs.find((l) => l.protocol === "RTP/AVP");
    const webrtcLeg = legs.find((l) => l.protocol === "UDP/TLS/RTP/SAVPF");
    expect(plainLeg, JSON.stringify(legs)).toBeDefined();
    expect(webrtcLeg, JSON.stringify(legs)).toBeDefined();
    expect(webrtcLeg?.flags).toEqual(
      expect.arrayContaining(["ICE", "DTLS-SRTP", "DTLS fingerprint verified", "rtcp-mux"]),
    );
    for (const flag of ["ICE", "DTLS-SRTP", "rtcp-mux"]) expect(plainLeg?.flags).not.toContain(flag);
    expect(plainLeg?.packets).toBeGreaterThan(50);
    expect(webrtcLeg?.packets).toBeGreaterThan(50);
    // Both ends' media came from their end of the link, and rtpengine's media sockets are on its end.
    expect(plainLeg?.endpoint).toMatch(new RegExp(`^${link.address.replaceAll(".", "\\.")}:\\d+$`));
    expect(webrtcLeg?.endpoint).toMatch(new RegExp(`^${link.address.replaceAll(".", "\\.")}:\\d+$`));
    const sockets = await boundSockets(rtpengine.pid);
    expect(sockets.some((s) => s.address === link.rootAddress)).toBe(true);
    expectOnlyTestAddresses(sockets);

    // What each end was offered and answered: the WebRTC end SAVPF + fingerprint + ICE +
    // rtcp-mux and no SDES key; the plain end RTP/AVP without any of them.
    expectWebrtcSdp(await nthReceived(webrtc, INVITE, 0));
    expectPlainSdp(await nthReceived(plain, OK_TO_INVITE, 0));

    // A re-INVITE each way goes through rtpengine too (the Record-Route parameters and the ftag
    // tell the direction), each end keeps its own kind of media, and audio keeps flowing.
    await plain.command("reinvite");
    expectWebrtcSdp(await nthReceived(webrtc, INVITE, 1));
    expectPlainSdp(await nthReceived(plain, OK_TO_INVITE, 1));
    await webrtc.command("reinvite");
    expectPlainSdp(await nthReceived(plain, INVITE, 0));
    expectWebrtcSdp(await nthReceived(webrtc, OK_TO_INVITE, 0));
    const offers = (await readFile(rtpengine.logFile, "utf8")).match(/Received command 'offer'/g) ?? [];
    expect(offers).toHaveLength(3);
    const [plainBefore = 0, webrtcBefore = 0] = [plainLeg?.packets, webrtcLeg?.packets];
    await waitUntil(
      "50 more packets from each end after both re-INVITEs",
      async () => {
        const legsNow = await callLegs(rtpengine, calls[0] as string);
        const p = legsNow.find((l) => l.protocol === "RTP/AVP")?.packets ?? 0;
        const w = legsNow.find((l) => l.protocol === "UDP/TLS/RTP/SAVPF")?.packets ?? 0;
        return p > plainBefore + 50 && w > webrtcBefore + 50;
      },
      10_000,
      200,
    );

    await capture.stop();
    await plain.hangup();
    await plain.waitFor("CALL_CLOSED");
    await webrtc.waitFor("CALL_CLOSED");
    await recordingsClosed(recPlain, recWebrtc);
    // The BYE went through rtpengine too: the call is gone there.
    await waitUntil("rtpengine forgot the call", async () => (await rtpengine.calls()).length === 0, 5_000);

    // Each end hears the other's tone.
    expect(Math.abs((await dominantFrequency(recPlain, { skipSeconds: 0.5 })) - 880)).toBeLessThanOrEqual(15);
    expect(Math.abs((await dominantFrequency(recWebrtc, { skipSeconds: 0.5 })) - 440)).toBeLessThanOrEqual(
      15,
    );
    expect((await analyse(recPlain)).rms).toBeGreaterThan(0.1);
    expect((await analyse(recWebrtc)).rms).toBeGreaterThan(0.1);

    // On the wire: the WebRTC leg carried ICE checks, a DTLS handshake and RTP whose payloads are
    // random bytes (SRTP); the plain leg carried G.711 in the clear. Same judge, both verdicts.
    // All of it between the link's two addresses: baresip's ICE offered its end only.
    const datagrams = await capture.datagrams();
    expectLinkOnly(datagrams);
    expect(addressesSeen(datagrams)).toEqual([link.rootAddress, link.address].sort());
    const onLeg = (ports: readonly number[]) =>
      datagrams.filter((d) => ports.includes(d.srcPort) || ports.includes(d.dstPort));
    const wireWebrtc = judgeRtp(onLeg(webrtcLeg?.localPorts ?? []));
    const wirePlain = judgeRtp(onLeg(plainLeg?.localPorts ?? []));
    expect(wireWebrtc.kinds.stun, JSON.stringify(wireWebrtc)).toBeGreaterThan(0);
    expect(wireWebrtc.kinds.dtls, JSON.stringify(wireWebrtc)).toBeGreaterThan(0);
    expect(wireWebrtc.encrypted, JSON.stringify(wireWebrtc)).toBe(true);
    expect(wirePlain.encrypted, JSON.stringify(wirePlain)).toBe(false);
    expect(wirePlain.payloadTypes).toEqual([0]);
    expect(wirePlain.kinds.dtls + wirePlain.kinds.stun).toBe(0);
  });

  test("a browser-style offer over wss reaches a plain baresip as RTP/AVP; the answer returns as SAVPF + DTLS + ICE", async () => {
    const callee = await peer({ user: "2003", autoAnswer: true, sipTrace: true });
    const browser = await connectWsSipPeer(kamailio, "1018", { secure: true });
    started.push({ stop: async () => browser.close() });
    const candidate = await candidateSocket();
    const capture = await captureMedia("browser-offer.pcap");
    started.push(capture);

    const call = await browser.invite(`sip:2003@${kamailio.domain}`, browserSdp(candidate.port, "actpass"));
    expect(call.status).toBe(200);
    call.ack();

    // What the plain end was offered: clear RTP/AVP, PCMU, none of the WebRTC attributes.
    const offer = await nthReceived(callee, INVITE, 0);
    expectPlainSdp(offer);
    expect(offer).toMatch(/^a=rtpmap:0 PCMU\/8000/m);

    // What the browser got back: rtpengine's own DTLS-SRTP + ICE + rtcp-mux end.
    expectWebrtcSdp(call.answer);
    expect(call.answer).toMatch(/^a=setup:passive/m);
    // rtpengine's candidates: its media address only (the link's root end), none of the machine's
    const theirs = [...call.answer.matchAll(/^a=candidate:\S+ \d+ UDP \d+ (\S+) \d+ typ /gim)].map(
      (m) => m[1],
    );
    expect(theirs.length).toBeGreaterThan(0);
    expect(theirs.every((a) => a === link.rootAddress)).toBe(true);

    // ICE is live on that leg: rtpengine sends connectivity checks to the browser's candidate,
    // with USERNAME "<browser ufrag>:<rtpengine ufrag>".
    const rtpeUfrag = /^a=ice-ufrag:(\S+)/m.exec(call.answer)?.[1];
    await waitUntil(
      "rtpengine's ICE checks at the browser candidate",
      () => candidate.stunUsernames.length > 0,
      5_000,
    );
    expect(candidate.stunUsernames[0]).toBe(`brws:${rtpeUfrag}`);
    // tshark writes what it captured in batches: give the last ones (these first checks) time
    await pause(1000);
    await capture.stop();
    // rtpengine's checks and the plain leg's media: the link's addresses only
    expectLinkOnly(await capture.datagrams());

    expect((await call.bye()).split("\r\n")[0]).toBe("SIP/2.0 200 OK");
    await callee.waitFor("CALL_CLOSED");
    await waitUntil("rtpengine forgot the call", async () => (await rtpengine.calls()).length === 0, 5_000);
  });

  test("a plain baresip calling a contact registered over wss: the browser gets SAVPF + DTLS + ICE, baresip gets RTP/AVP", async () => {
    const browser = await connectWsSipPeer(kamailio, "1017", { secure: true });
    started.push({ stop: async () => browser.close() });
    const caller = await peer({ user: "2001", sipTrace: true });
    const candidate = await candidateSocket();

    await caller.dial(`sip:1017@${kamailio.domain}`);
    const invite = await browser.next((m) => m.startsWith("INVITE ") && m.includes(browser.host));
    const offer = sipBody(invite);
    expectWebrtcSdp(offer);
    expect(offer).toMatch(/^a=setup:actpass/m);
    expect(headerValues(invite, "Record-Route").join(",")).toContain("rtpe-callee=webrtc");

    const to = browser.answer(invite, browserSdp(candidate.port, "active"));
    await caller.waitFor("CALL_ESTABLISHED");
    await browser.next((m) => m.startsWith("ACK "));
    expectPlainSdp(await nthReceived(caller, OK_TO_INVITE, 0));
    await waitUntil(
      "rtpengine's ICE checks at the browser candidate",
      () => candidate.stunUsernames.length > 0,
      5_000,
    );

    // The browser hangs up (BYE upstream through the Record-Routes): rtpengine forgets the call.
    expect((await browser.bye(invite, to)).split("\r\n")[0]).toBe("SIP/2.0 200 OK");
    await caller.waitFor("CALL_CLOSED");
    await waitUntil("rtpengine forgot the call", async () => (await rtpengine.calls()).length === 0, 5_000);
  });

  test("SDES-SRTP between two plain ends goes through the gateway encrypted on both legs, each leg with its own key", async () => {
    const tone440 = await makeTone(join(dir, "sdes-440.wav"), { freq: 440, seconds: 20 });
    const tone880 = await makeTone(join(dir, "sdes-880.wav"), { freq: 880, seconds: 20 });
    const caller = await peer({
      user: "2001",
      audioFile: tone440,
      record: true,
      sipTrace: true,
      mediaenc: "srtp-mand",
    });
    const callee = await peer({
      user: "2003",
      audioFile: tone880,
      record: true,
      sipTrace: true,
      autoAnswer: true,
      mediaenc: "srtp-mand",
    });
    const capture = await captureMedia("sdes.pcap");
    started.push(capture);
    await caller.dial(`sip:2003@${kamailio.domain}`);
    await caller.waitFor("CALL_ESTABLISHED");
    await callee.waitFor("CALL_ESTABLISHED");
    const recCaller = await receivedRecording(caller);
    const recCallee = await receivedRecording(callee);
    await heardBothWays(recCaller, recCallee);
    const [callId] = await rtpengine.calls();
    const legs = await callLegs(rtpengine, callId as string);
    expect(legs.map((l) => l.protocol)).toEqual(["RTP/SAVP", "RTP/SAVP"]);
    for (const leg of legs) expect(leg.flags).toContain("SDES");
    await capture.stop();
    await caller.hangup();
    await callee.waitFor("CALL_CLOSED");
    await recordingsClosed(recCaller, recCallee);

    expect(Math.abs((await dominantFrequency(recCaller, { skipSeconds: 0.5 })) - 880)).toBeLessThanOrEqual(
      15,
    );
    expect(Math.abs((await dominantFrequency(recCallee, { skipSeconds: 0.5 })) - 440)).toBeLessThanOrEqual(
      15,
    );

    // What rtpengine 10.5 offers the callee by default (a trap for SRTP answerers): the caller's
    // suite and key first, then eleven more suites of its own, down to NULL_HMAC_SHA1_80/_32
    // (authenticated, NOT encrypted). baresip picks the first; an answerer must never pick NULL.
    const calleeInvite = await nthReceived(callee, INVITE, 0);
    const callerInvite =
      (await readSipTrace(caller.logFile)).find((t) => INVITE.test(t.message))?.message ?? "";
    const firstCrypto = (m: string): string | undefined => /^a=crypto:1 (\S+ inline:\S+)/m.exec(m)?.[1];
    expect(firstCrypto(calleeInvite)).toBe(firstCrypto(callerInvite));
    expect(calleeInvite).toMatch(/^a=crypto:\d+ NULL_HMAC_SHA1_80 /m);
    expect(await nthReceived(caller, OK_TO_INVITE, 0)).toMatch(/^a=crypto:1 AES_CM_128_HMAC_SHA1_80 /m);
    // And both legs' RTP payloads are random bytes on the wire, between the link's addresses only.
    const datagrams = await capture.datagrams();
    expectLinkOnly(datagrams);
    expect(addressesSeen(datagrams)).toEqual([link.rootAddress, link.address].sort());
    for (const leg of legs) {
      const verdict = judgeRtp(
        datagrams.filter((d) => leg.localPorts.includes(d.srcPort) || leg.localPorts.includes(d.dstPort)),
      );
      expect(verdict.encrypted, JSON.stringify(verdict)).toBe(true);
    }
  });
});
