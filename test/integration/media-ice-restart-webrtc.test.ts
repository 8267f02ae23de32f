/**
 * ICE restart on re-INVITE (RFC 8445 §9, issue 14 item 3) against a WebRTC stack that is not the
 * desk's: werift's own RTCPeerConnection (test/lab/webrtc-peer.ts) acts as a browser softphone. It
 * offers SAVPF + ICE + DTLS + rtcp-mux + BUNDLE with Opus and PCMU, and the test carries its SDP
 * over a raw SIP-over-WebSocket peer through Kamailio to the desk, which auto-answers. Both send a
 * PCMU tone; each side's reception is measured.
 *
 * - the call: audio both ways, one DTLS handshake;
 * - restartIce() and a re-INVITE with its new ufrag/pwd: the desk answers with a new ufrag/pwd of
 *   its own, the checks and consent after it use the new credentials (STUN USERNAMEs on the wire),
 *   no DTLS handshake runs again (same fingerprint), audio flows both ways after it;
 * - the far end moves to another address in its restart (a second address in its namespace, the
 *   old one removed): the selected pair changes, the desk sends to the new address, audio goes on;
 * - a restart whose offer carries a candidate that goes nowhere (and whose far end never learns the
 *   desk's new credentials): the desk does not stay stuck, even with its media watchdog off; the
 *   call ends with a BYE 30 s after the restart ("ICE restart failed"), the desk is idle, and the
 *   next call has audio both ways.
 *
 * What werift taught the desk: it routes received RTP by the SSRC the SDP announced (the desk now
 * writes a=ssrc in DTLS calls), and it offers c=IN IP4 0.0.0.0 with port 9 (no default candidate,
 * which the desk took for the RFC 2543 hold and answered recvonly). werift's restartIce() has a bug
 * of its own, worked around in webrtc-peer.mjs: under a live DTLS transport its connect() never
 * starts the restarted ICE checks.
 *
 * Addresses: the peer runs in a network namespace on a veth pair the test makes (netns.ts
 * createVethLink), where werift's gathering finds only the link's far address; Kamailio and the
 * desk (SIP, media, ICE) are on the pair's root end. A capture on every interface checks that the
 * media used those two addresses only.
 */
import { mkdtempSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dominantFrequency, readWav, writeWav } from "../lab/audio.js";
import { heardFor } from "../lab/dtls-desk.js";
import { findFreeBase, type Kamailio, startKamailio } from "../lab/kamailio.js";
import { addressesSeen, createVethLink, machineAddresses, type VethLink } from "../lab/netns.js";
import { execFileAsync, waitUntil } from "../lab/proc.js";
import {
  DESK_HZ,
  FAR_HZ,
  makeDeskTone,
  sipDebugLog,
  startToneDesk,
  type ToneDesk,
} from "../lab/tone-desk.js";
import { startWebrtcPeer, type WebrtcPeer } from "../lab/webrtc-peer.js";
import { type Capture, type Datagram, startCapture } from "../lab/wire.js";
import { connectWsSipPeer, type WsSipPeer } from "../lab/ws-sip-peer.js";

const DESK_PORTS = [34100, 34199] as const;

const dir = mkdtempSync(join(tmpdir(), "cuffia-ice-restart-"));
const stops: Array<() => Promise<unknown>> = [];
let link: VethLink;
let kam: Kamailio;
let desk: ToneDesk;
let browser: WsSipPeer;

beforeAll(async () => {
  link = await createVethLink();
  stops.push(() => link.teardown());
  kam = await startKamailio({
    base: await findFreeBase(29260),
    dir: join(dir, "kamailio"),
    listen: link.rootAddress,
  });
  stops.push(() => kam.stop());
  desk = await startToneDesk({
    url: `ws://${kam.domain}:${kam.wsPort}`,
    sip: { aor: `sip:1017@${kam.domain}` },
    tone: await makeDeskTone(dir),
    sinkDir: dir,
    rtp: {
      address: link.rootAddress,
      portMin: DESK_PORTS[0],
      portMax: DESK_PORTS[1],
      codecs: ["PCMU"],
      ice: { hostAddresses: [link.rootAddress] },
      // the media watchdog off: only ICE (consent, the restart's own deadline) may end a call
      mediaTimeoutMs: 0,
    },
    log: sipDebugLog,
  });
  stops.push(() => desk.agent.stop());
  // the desk auto-answers
  desk.inputs.onInput = (i) => {
    if (i.type === "call_offered") void desk.sip({ action: "answer", callId: i.callId });
  };
  browser = await connectWsSipPeer(kam, "2001");
  stops.push(async () => browser.close());
}, 60_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
});

const ufrag = (sdp: string): string => /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1] ?? "";
const pwd = (sdp: string): string => /^a=ice-pwd:(\S+)/m.exec(sdp)?.[1] ?? "";
const fingerprint = (sdp: string): string => /^a=fingerprint:(.+)$/m.exec(sdp)?.[1]?.trim() ?? "";

/** The USERNAME attribute (RFC 8489 §14.3) of a STUN message, if any. */
function stunUsername(payload: Buffer): string | undefined {
  let at = 20;
  const end = Math.min(payload.length, 20 + payload.readUInt16BE(2));
  while (at + 4 <= end) {
    const type = payload.readUInt16BE(at);
    const length = payload.readUInt16BE(at + 2);
    if (type === 0x0006) return payload.toString("utf8", at + 4, at + 4 + length);
    at += 4 + length + ((4 - (length % 4)) % 4);
  }
  return undefined;
}

/** Every datagram of the call between the link's two addresses, none elsewhere. */
function expectLinkOnly(datagrams: readonly Datagram[]): void {
  expect(addressesSeen(datagrams)).toEqual([link.rootAddress, link.address].sort());
  const own = machineAddresses();
  expect(datagrams.filter((d) => own.includes(d.dstAddress) || own.includes(d.srcAddress))).toHaveLength(0);
}

const captureLink = (): Promise<Capture> =>
  startCapture(dir, `udp and (host ${link.rootAddress} or host ${link.address})`, "any");

/** The desk's recording of `callId`: its path and how many samples it holds now. */
async function deskSink(callId: string): Promise<{ path: string; samples: number }> {
  const f = (await readdir(dir)).find((x) => x.startsWith("sink-") && x.includes(callId));
  if (!f) throw new Error(`no recording of ${callId}`);
  const path = join(dir, f);
  return { path, samples: (await readWav(path)).samples.length };
}

/** The dominant frequency of the desk's recording from sample `from` on (at least `seconds` of it). */
async function deskHeardSince(callId: string, from: number, seconds: number): Promise<number> {
  const { path } = await deskSink(callId);
  const samples = await waitUntil(
    `${seconds} s more in the desk's recording`,
    async () => {
      const all = (await readWav(path)).samples;
      return all.length >= from + seconds * 8000 ? all.subarray(from) : undefined;
    },
    15_000,
    200,
  );
  const tail = join(dir, `tail-${callId}-${from}.wav`);
  await writeWav(
    tail,
    Int16Array.from(samples, (x) => Math.round(x * 32767)),
    8000,
  );
  return dominantFrequency(tail, { skipSeconds: 0.5 });
}

/** Waits until the peer has heard `samples` more of the desk, and that it is mostly DESK_HZ. */
async function peerHears(peer: WebrtcPeer, samples: number): Promise<void> {
  const start = (await peer.stats()).received;
  const s = await waitUntil(
    "the WebRTC peer to hear the desk",
    async () => {
      const now = await peer.stats();
      return now.received >= start + samples ? now : undefined;
    },
    15_000,
    200,
  );
  expect(s.receivedPayloadTypes).toEqual([0]);
  expect(s.toneShare).toBeGreaterThan(0.8);
}

/** The peer calls the desk (1017): resolves once the desk answered, ICE and DTLS are up. */
async function call(peer: WebrtcPeer) {
  const mark = desk.inputs.mark;
  const offer = await peer.offer();
  // what werift offers: a browser's SDP, its only candidate the link's far address
  expect(offer).toMatch(/^m=audio \d+ UDP\/TLS\/RTP\/SAVPF 111 0\r$/m);
  expect(offer).toMatch(/^a=rtcp-mux\r$/m);
  expect(offer).toMatch(/^a=group:BUNDLE 0\r$/m);
  const candidates = offer.match(/^a=candidate:.*$/gm) ?? [];
  expect(candidates.length).toBeGreaterThan(0);
  for (const c of candidates) expect(c.split(" ")[4]).toBe(link.address);
  const placed = await browser.invite(`sip:1017@${kam.domain}`, offer, 15_000);
  expect(placed.status).toBe(200);
  placed.ack();
  await peer.answer(placed.answer);
  const offered = await desk.inputs.waitFor("call_offered", () => true, 10_000, mark);
  await desk.inputs.waitFor("call_answered", (i) => i.callId === offered.callId, 10_000, mark);
  await waitUntil(
    "werift connected",
    async () => ((await peer.stats()).connection === "connected" ? true : undefined),
    15_000,
    100,
  );
  return { placed, offer, callId: offered.callId };
}

describe("ICE restart on re-INVITE, against werift's RTCPeerConnection (a browser-style far end)", () => {
  it("the desk answers the restart with new credentials, ICE runs again on them, DTLS is kept, audio flows both ways after it", async () => {
    const peer = await startWebrtcPeer(link, { dir, name: "peer-1", sendHz: FAR_HZ, listenHz: DESK_HZ });
    stops.push(() => peer.stop());
    const before = await captureLink();
    const { placed, callId, offer } = await call(peer);
    await heardFor(dir, callId, 2, 15_000);
    await peerHears(peer, 2 * 8000);
    expect(Math.abs((await deskHeardSince(callId, 0, 2)) - FAR_HZ)).toBeLessThan(20);
    const s1 = await peer.stats();
    expect(s1.codec).toBe("audio/PCMU");
    expect(s1.remoteUfrag).toBe(ufrag(placed.answer));
    const first = await before.stop();
    expectLinkOnly(first);
    expect(first.some((d) => d.kind === "dtls" && d.payload[0] === 22)).toBe(true); // the handshake

    // restartIce(): a re-INVITE with new credentials
    const during = await captureLink();
    const restartOffer = await peer.restart();
    expect(ufrag(restartOffer)).not.toBe(s1.localUfrag);
    expect(fingerprint(restartOffer)).toBe(fingerprint(offer));
    const reanswer = await placed.reinvite(restartOffer);
    expect(reanswer).toMatch(/^SIP\/2\.0 200 /);
    const answer2 = reanswer.slice(reanswer.indexOf("\r\n\r\n") + 4);
    // the desk restarted too: new ufrag and password, same certificate
    expect(ufrag(answer2)).not.toBe(ufrag(placed.answer));
    expect(pwd(answer2)).not.toBe(pwd(placed.answer));
    expect(fingerprint(answer2)).toBe(fingerprint(placed.answer));
    const sinkAtRestart = (await deskSink(callId)).samples;
    await peer.answer(answer2);
    await waitUntil(
      "werift connected on the new credentials",
      async () => {
        const s = await peer.stats();
        return s.connection === "connected" && s.remoteUfrag === ufrag(answer2) && s.selected ? s : undefined;
      },
      20_000,
      100,
    );
    // audio both ways after the restart
    await peerHears(peer, 3 * 8000);
    expect(Math.abs((await deskHeardSince(callId, sinkAtRestart, 2)) - FAR_HZ)).toBeLessThan(20);
    const second = await during.stop();
    expectLinkOnly(second);
    // the checks after the restart are on the new credentials (RFC 8445 §7.2.2: USERNAME is
    // "<their ufrag>:<our ufrag>"): the desk's go out as "<werift's new>:<desk's new>", and the
    // desk answers werift's addressed to its new ufrag with a success. (werift at times puts its
    // pre-restart ufrag in the second half; the responder checks only its own half, §7.3.)
    const stun = second.filter((d) => d.kind === "stun");
    const peerUfrag = ufrag(restartOffer);
    const deskUfrag = ufrag(answer2);
    const request = 0x0001;
    const success = 0x0101;
    const transaction = (d: Datagram) => d.payload.subarray(8, 20).toString("hex");
    expect(
      stun.some(
        (d) =>
          d.srcAddress === link.rootAddress &&
          d.payload.readUInt16BE(0) === request &&
          stunUsername(d.payload) === `${peerUfrag}:${deskUfrag}`,
      ),
    ).toBe(true);
    const toDesk = new Set(
      stun
        .filter(
          (d) =>
            d.dstAddress === link.rootAddress &&
            d.payload.readUInt16BE(0) === request &&
            stunUsername(d.payload)?.startsWith(`${deskUfrag}:`),
        )
        .map(transaction),
    );
    expect(toDesk.size).toBeGreaterThan(0);
    expect(
      stun.some(
        (d) =>
          d.srcAddress === link.rootAddress &&
          d.payload.readUInt16BE(0) === success &&
          toDesk.has(transaction(d)),
      ),
    ).toBe(true);
    // no new DTLS handshake: the association and its SRTP keys are kept
    expect(second.filter((d) => d.kind === "dtls" && d.payload[0] === 22)).toHaveLength(0);
    expect(second.filter((d) => d.kind === "rtp").length).toBeGreaterThan(100);

    const mark = desk.inputs.mark;
    const bye = await placed.bye();
    expect(bye).toMatch(/^SIP\/2\.0 200 /);
    await desk.inputs.waitFor("call_ended", (i) => i.callId === callId, 10_000, mark);
    await peer.stop();
  }, 120_000);

  it("the far end moves to another address in its restart: the selected pair changes, audio goes on both ways", async () => {
    const peer = await startWebrtcPeer(link, { dir, name: "peer-move", sendHz: FAR_HZ, listenHz: DESK_HZ });
    stops.push(() => peer.stop());
    const { placed, callId } = await call(peer);
    await peerHears(peer, 8000);
    const oldPair = (await peer.stats()).selected;
    expect(oldPair?.local).toMatch(new RegExp(`^${link.address.replace(/\./g, "\\.")}:`));
    // a second address in the far end's namespace (198.18.N.6, in the link's /24 that
    // createVethLink checked free), reachable from the desk's end by a host route
    const moved = link.address.replace(/\.2$/, ".6");
    const farDev = `cf${link.id}f`;
    const inNs = (...args: string[]) => execFileAsync("ip", ["netns", "exec", link.ns, "ip", ...args]);
    await inNs("addr", "add", `${moved}/32`, "dev", farDev);
    await inNs("route", "add", `${link.rootAddress}/32`, "dev", farDev, "src", moved);
    await execFileAsync("ip", ["route", "add", `${moved}/32`, "dev", link.rootDev]);
    const during = await startCapture(
      dir,
      `udp and (host ${link.rootAddress} or host ${link.address} or host ${moved})`,
      "any",
    );
    const restartOffer = await peer.restart();
    const offered = (restartOffer.match(/^a=candidate:.*$/gm) ?? []).map((c) => c.split(" ")[4]);
    expect(new Set(offered)).toEqual(new Set([link.address, moved]));
    // the old address goes away (a laptop leaving one network for another): only the new can work
    await inNs("addr", "del", `${link.address}/30`, "dev", farDev);
    const sinkAtMove = (await deskSink(callId)).samples;
    const reanswer = await placed.reinvite(restartOffer);
    expect(reanswer).toMatch(/^SIP\/2\.0 200 /);
    const answer2 = reanswer.slice(reanswer.indexOf("\r\n\r\n") + 4);
    await peer.answer(answer2);
    const s = await waitUntil(
      "werift connected from its new address",
      async () => {
        const now = await peer.stats();
        return now.connection === "connected" && now.selected?.local.startsWith(`${moved}:`)
          ? now
          : undefined;
      },
      20_000,
      100,
    );
    expect(s.selected?.remote).toBe(oldPair?.remote); // the desk's side of the pair is the same socket
    await peerHears(peer, 3 * 8000);
    expect(Math.abs((await deskHeardSince(callId, sinkAtMove, 2)) - FAR_HZ)).toBeLessThan(20);
    const datagrams = await during.stop();
    // the desk now sends its media to the new address
    expect(datagrams.filter((d) => d.kind === "rtp" && d.dstAddress === moved).length).toBeGreaterThan(100);
    expect(datagrams.filter((d) => d.kind === "dtls" && d.payload[0] === 22)).toHaveLength(0);
    expect(addressesSeen(datagrams)).toEqual([link.rootAddress, link.address, moved].sort());
    const own = machineAddresses();
    expect(datagrams.filter((d) => own.includes(d.dstAddress) || own.includes(d.srcAddress))).toHaveLength(0);

    const mark = desk.inputs.mark;
    expect(await placed.bye()).toMatch(/^SIP\/2\.0 200 /);
    await desk.inputs.waitFor("call_ended", (i) => i.callId === callId, 10_000, mark);
    await peer.stop();
    // the link as it was, for the next test
    await inNs("addr", "add", `${link.address}/30`, "dev", farDev);
    await inNs("route", "del", `${link.rootAddress}/32`, "dev", farDev).catch(() => {});
    await inNs("addr", "del", `${moved}/32`, "dev", farDev);
    await execFileAsync("ip", ["route", "del", `${moved}/32`, "dev", link.rootDev]);
  }, 120_000);

  it("a restart whose checks fail does not leave the desk stuck: the call ends, and the next call has audio both ways", async () => {
    const peer = await startWebrtcPeer(link, { dir, name: "peer-2", sendHz: FAR_HZ, listenHz: DESK_HZ });
    stops.push(() => peer.stop());
    const { placed, callId } = await call(peer);
    await peerHears(peer, 8000);
    // the restart offer's candidate goes nowhere (nothing listens there), and the far end never
    // takes the desk's answer: no check can succeed either way
    const restartOffer = (await peer.restart()).replace(
      /^(a=candidate:\S+ 1 udp \d+ \S+ )(\d+)( typ host.*)$/gm,
      (_m, head: string, _port: string, tail: string) => `${head}9${tail}`,
    );
    expect(restartOffer).toMatch(/^a=candidate:\S+ 1 udp \d+ \S+ 9 typ host/m);
    const mark = desk.inputs.mark;
    const reanswer = await placed.reinvite(restartOffer);
    expect(reanswer).toMatch(/^SIP\/2\.0 200 /);
    const startedAt = Date.now();
    // the desk ends the call with a BYE once the restart has gone 30 s without a pair (RFC 7675's
    // consent limit; werift-ice itself reports nothing, and the watchdog is off here)
    const byeIn = await browser.next((m) => m.startsWith("BYE "), 50_000);
    browser.ok(byeIn);
    const ended = await desk.inputs.waitFor("call_ended", (i) => i.callId === callId, 10_000, mark);
    expect(ended.reason).toBe("media_timeout");
    expect(ended.detail).toMatch(/^ICE restart failed: no candidate pair answered the checks within 30 s/);
    expect(Date.now() - startedAt).toBeGreaterThan(29_000);
    await peer.stop();

    // the next call works
    const next = await startWebrtcPeer(link, { dir, name: "peer-3", sendHz: FAR_HZ, listenHz: DESK_HZ });
    stops.push(() => next.stop());
    const again = await call(next);
    await heardFor(dir, again.callId, 2, 15_000);
    await peerHears(next, 2 * 8000);
    expect(Math.abs((await deskHeardSince(again.callId, 0, 2)) - FAR_HZ)).toBeLessThan(20);
    const m2 = desk.inputs.mark;
    await again.placed.bye();
    await desk.inputs.waitFor("call_ended", (i) => i.callId === again.callId, 10_000, m2);
    await next.stop();
  }, 150_000);
});
