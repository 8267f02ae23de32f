/**
 * DTLS-SRTP + ICE + rtcp-mux with baresip directly (issue 14 item 6): baresip with its
 * `dtls_srtp` and `ice` modules calls the desk and the desk calls it, through a real Kamailio.
 * Audio is judged both ways by measurement (the tone each side plays is what the other heard),
 * and no clear G.711 crosses the wire: the desk's socket is watched with a raw capture of the
 * ICE port (every RTP datagram must be SRTP: its payload does not decode to the tone).
 * baresip 1.0's ICE offers every non-loopback address it sees, so it runs in a network namespace
 * the test creates, joined to this one by a veth pair (netns.ts createVethLink): its only address
 * is its end of the pair, Kamailio listens on this end, and the desk gathers on this end only
 * (rtp.ice.host_addresses). The capture (every interface) checks that no datagram of the desk's
 * media ports goes to or comes from any other address, none to the machine's own. No server is
 * contacted.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { heardFor, startVethLab, type VethLab } from "../lab/dtls-desk.js";
import { DESK_HZ, FAR_HZ, farCallsDesk, latestDecoded, sipDebugLog, toneError } from "../lab/tone-desk.js";
import { type Capture, type Datagram, judgeRtp, looksLikeClearTone } from "../lab/wire.js";

const KAMAILIO_BASE = 27460;
/** The tones' periods in samples at 8 kHz (DESK_HZ 1000; FAR_HZ 600: three periods make 40 samples). */
const DESK_PERIOD = 8;
const FAR_PERIOD = 40;
/** The desk's media ports (its ICE host candidates are bound in this range): what is captured. */
const PORT_MIN = 26400;
const PORT_MAX = 26499;

let lab: VethLab;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  lab = await startVethLab({
    prefix: "cuffia-dtls-ice-",
    kamailioBase: KAMAILIO_BASE,
    portMin: PORT_MIN,
    portMax: PORT_MAX,
    codecs: ["PCMU", "PCMA"],
    log: sipDebugLog,
  });
}, 120_000);

afterAll(async () => {
  await lab?.stop();
});

/** The RTP/RTCP range of RFC 7983 §7, from or to the desk. */
function media(datagrams: readonly Datagram[]): Datagram[] {
  return datagrams.filter((d) => (d.payload[0] ?? 0) >= 128 && (d.payload[0] ?? 0) <= 191);
}

/** Encrypted on the wire: DTLS and STUN seen, plenty of RTP both ways, none of it the clear tone. */
function judgeWire(datagrams: readonly Datagram[]): void {
  const inRange = (p: number) => p >= PORT_MIN && p <= PORT_MAX;
  // ICE used the link's two addresses and nothing else (none of the machine's own); DTLS ran
  lab.expectLinkOnly(datagrams);
  expect(datagrams.some((d) => (d.payload[0] ?? 255) <= 3)).toBe(true); // STUN checks
  const rtp = media(datagrams);
  const sent = rtp.filter((d) => inRange(d.srcPort));
  const received = rtp.filter((d) => inRange(d.dstPort));
  expect(sent.length).toBeGreaterThan(100);
  expect(received.length).toBeGreaterThan(100);
  expect(sent.filter((d) => looksLikeClearTone(d.payload, DESK_PERIOD))).toHaveLength(0);
  expect(received.filter((d) => looksLikeClearTone(d.payload, FAR_PERIOD))).toHaveLength(0);
  // and the payloads' bytes look random, as SRTP's keystream makes them (the lab's judge)
  expect(judgeRtp(datagrams).encrypted).toBe(true);
}

async function judgeAudio(callId: string): Promise<void> {
  const { dir, far } = lab;
  await sleep(500);
  const dec = await latestDecoded(far);
  expect(dec).toBeDefined();
  expect(await toneError(dec as string, DESK_HZ)).toBeLessThan(20);
  const sinks = (await readdir(dir)).filter((f) => f.startsWith(`sink-${callId}`) || f.includes(callId));
  expect(sinks.length).toBe(1);
  expect(await toneError(join(dir, sinks[0] as string), FAR_HZ)).toBeLessThan(20);
}

describe("DTLS-SRTP + ICE with baresip", () => {
  it("baresip calls the desk: answered UDP/TLS/RTP/SAVP(F), audio both ways, nothing clear on the wire", async () => {
    const { dir, far, inputs } = lab;
    const capture = await lab.captureMedia();
    const { offer, answered } = await farCallsDesk(lab);
    // reported to the desk (ctl status, presence, LCD) as DTLS-SRTP
    expect(answered.type === "call_answered" && answered.encryption).toBe("dtls");
    await heardFor(dir, offer.callId, 4, 20_000);
    await far.hangup();
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === offer.callId);
    expect(ended.reason).toBe("remote_hangup");
    expect(ended.stats?.packetsReceived).toBeGreaterThan(100);
    const trace = await readFile(far.logFile, "utf8");
    expect(trace).toMatch(/m=audio \d+ UDP\/TLS\/RTP\/SAVPF? /);
    judgeWire(await capture.stop());
    await judgeAudio(offer.callId);
  }, 60_000);

  it("the desk calls baresip: offers UDP/TLS/RTP/SAVPF with ICE and rtcp-mux, audio both ways", async () => {
    const { dir, far, inputs, link, sip } = lab;
    const capture: Capture = await lab.captureMedia();
    far.skip();
    const mark = inputs.mark;
    await sip({ action: "dial", target: "2001" });
    const dialling = await inputs.waitFor("call_dialling", () => true, 10_000, mark);
    await far.waitFor("CALL_INCOMING");
    await far.accept();
    const answered = await inputs.waitFor("call_answered", (i) => i.callId === dialling.callId, 10_000);
    expect(answered.type === "call_answered" && answered.encryption).toBe("dtls");
    await heardFor(dir, dialling.callId, 4, 20_000);
    await sip({ action: "hangup", callId: dialling.callId });
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === dialling.callId);
    expect(ended.reason).toBe("local_hangup");
    const trace = await readFile(far.logFile, "utf8");
    // our offer as baresip received it
    const invite = trace.slice(trace.lastIndexOf("INVITE sip:2001"));
    expect(invite).toMatch(/m=audio \d+ UDP\/TLS\/RTP\/SAVPF /);
    expect(invite).toMatch(/a=fingerprint:sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    expect(invite).toMatch(/a=setup:actpass/);
    expect(invite).toMatch(/a=rtcp-mux/);
    // host_addresses: [the link's end]: no other address of this machine in our candidates
    const body = invite.slice(invite.indexOf("v=0"));
    const sdp = body.slice(0, body.search(/\r?\n\r?\n/));
    const candidates = [...sdp.matchAll(/a=candidate:\S+ \d+ \S+ \d+ (\S+) /g)].map((m) => m[1]);
    expect(candidates.length).toBeGreaterThan(0);
    expect(candidates.every((a) => a === link.rootAddress)).toBe(true);
    // and baresip's answer offers its end of the link only
    const answer = invite.slice(invite.search(/^SIP\/2\.0 200 /m));
    const theirs = [...answer.matchAll(/a=candidate:\S+ \d+ \S+ \d+ (\S+) /g)].map((m) => m[1]);
    expect(theirs.length).toBeGreaterThan(0);
    expect(theirs.every((a) => a === link.address)).toBe(true);
    judgeWire(await capture.stop());
    await judgeAudio(dialling.callId);
  }, 60_000);
});
