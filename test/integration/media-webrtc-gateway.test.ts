/**
 * The desk behind a WebRTC-style PBX (issue 14 item 6): registered over wss:// to a Kamailio that
 * sends every INVITE, answer and BYE through rtpengine (the lab's WebRTC gateway), it is a WebRTC
 * end. A plain baresip (RTP/AVP, PCMU) calls it: rtpengine offers the desk the browser-style SDP
 * (UDP/TLS/RTP/SAVPF, fingerprint, actpass, ICE, rtcp-mux), the desk answers it (passive: it is the
 * DTLS server), DTLS-SRTP and ICE run between the desk and rtpengine. Tones are measured both ways,
 * rtpengine's view says the desk's leg is SAVPF and the baresip's RTP/AVP, and the capture of the
 * desk's leg is encrypted. (The desk calling through rtpengine, where rtpengine answers passive and
 * the desk is the DTLS client: media-webrtc-gateway-outgoing.test.ts.)
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSipTrace } from "../lab/baresip.js";
import { deskSent, type GatewayLab, startGatewayLab } from "../lab/dtls-desk.js";
import { waitUntil } from "../lab/proc.js";
import { callLegs } from "../lab/rtpengine.js";
import { DESK_HZ, FAR_HZ, farCallsDesk, latestDecoded, toneError } from "../lab/tone-desk.js";
import { judgeRtp, looksLikeClearTone, startCapture } from "../lab/wire.js";

const PORT_MIN = 26500;
const PORT_MAX = 26599;

let lab: GatewayLab;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  lab = await startGatewayLab({ prefix: "cuffia-webrtc-gw-", portMin: PORT_MIN, portMax: PORT_MAX });
}, 120_000);

afterAll(async () => {
  await lab?.stop();
});

async function judgeAudio(callId: string): Promise<void> {
  const { dir, far } = lab;
  const dec = await waitUntil("baresip's received recording", () => latestDecoded(far));
  await sleep(500);
  expect(await toneError(dec, DESK_HZ)).toBeLessThan(20);
  const sink = (await readdir(dir)).find((f) => f.startsWith("sink-") && f.includes(callId));
  expect(sink).toBeDefined();
  expect(await toneError(join(dir, sink as string), FAR_HZ)).toBeLessThan(20);
}

/** rtpengine's view: the desk's leg is DTLS-SRTP with ICE, the baresip's plain RTP/AVP. */
async function judgeLegs(sipCallId: string): Promise<void> {
  const legs = await callLegs(lab.rtpengine, sipCallId);
  const text = JSON.stringify(legs);
  expect(text).toMatch(/UDP\/TLS\/RTP\/SAVPF/);
  expect(text).toMatch(/RTP\/AVP/);
}

describe("the desk behind a WebRTC gateway (Kamailio + rtpengine, wss://)", () => {
  it("a plain caller reaches the desk as a browser-style offer; DTLS-SRTP + ICE with rtpengine, audio both ways", async () => {
    const { dir, far, inputs } = lab;
    const capture = await startCapture(dir, `udp portrange ${PORT_MIN}-${PORT_MAX}`);
    const { offer, answered } = await farCallsDesk(lab);
    // reported to the desk (ctl status, presence, LCD) as DTLS-SRTP
    expect(answered.type === "call_answered" && answered.encryption).toBe("dtls");
    // the INVITE baresip sent (the Call-ID rtpengine knows the call by)
    const invite = (await readSipTrace(far.logFile)).find((t) => /^INVITE sip:1017@/.test(t.message));
    const sipCallId = /^Call-ID:\s*(\S+)/im.exec(invite?.message ?? "")?.[1];
    expect(sipCallId).toBeDefined();
    // 4 s of 20 ms packets, and the STUN and DTLS datagrams rtpengine counts with them
    await deskSent(lab.rtpengine, sipCallId as string, 230, 20_000);
    await judgeLegs(sipCallId as string);
    await far.hangup();
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === offer.callId);
    expect(ended.reason).toBe("remote_hangup");
    const datagrams = await capture.stop();
    expect(datagrams.some((d) => d.kind === "dtls")).toBe(true);
    const rtp = datagrams.filter((d) => d.kind === "rtp");
    const toDesk = rtp.filter((d) => d.dstPort >= PORT_MIN && d.dstPort <= PORT_MAX);
    const fromDesk = rtp.filter((d) => d.srcPort >= PORT_MIN && d.srcPort <= PORT_MAX);
    expect(fromDesk.length).toBeGreaterThanOrEqual(200);
    expect(toDesk.length).toBeGreaterThan(150); // the caller's, forwarded since the handshake
    expect(
      rtp.filter((d) => looksLikeClearTone(d.payload, 8) || looksLikeClearTone(d.payload, 40)),
    ).toHaveLength(0);
    expect(judgeRtp(datagrams).encrypted).toBe(true);
    await judgeAudio(offer.callId);
  }, 60_000);
});
