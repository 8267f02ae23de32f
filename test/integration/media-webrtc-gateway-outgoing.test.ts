/**
 * The desk PLACES DTLS calls through a WebRTC-style PBX (issue 14, note 11's open point): registered
 * over wss:// to a Kamailio that sends every INVITE, answer and BYE through rtpengine, the desk
 * offers UDP/TLS/RTP/SAVPF (actpass, ICE, rtcp-mux); rtpengine answers `a=setup:passive`, so the
 * desk is the DTLS client, and rtpengine (OpenSSL) picks the ECDHE curve. A plain baresip
 * (RTP/AVP) is the far end. Calls are placed one after the other, each must complete the
 * handshake and carry audio both ways (measured: the desk's recording holds the far end's tone,
 * baresip's the desk's), and the desk's leg must be encrypted on the wire.
 *
 * Before src/media/dtls-datagrams.ts, werift-dtls as the client stalled in about one handshake in
 * three here: its flight 5 went one record per datagram, rtpengine's worker threads at times read
 * the ChangeCipherSpec before the CertificateVerify and dropped it, and werift's byte-for-byte
 * retransmissions were then dropped by the replay window. The capture checks that each flight 5
 * left as one datagram.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dtlsRecords } from "../../src/media/dtls-datagrams.js";
import { readSipTrace } from "../lab/baresip.js";
import { deskSent, type GatewayLab, heardFor, startGatewayLab } from "../lab/dtls-desk.js";
import { DESK_HZ, FAR_HZ, toneError } from "../lab/tone-desk.js";
import { judgeRtp, looksLikeClearTone, startCapture } from "../lab/wire.js";

/** The desk's media ports (its ICE host candidates are bound in this range): what is captured. */
const PORT_MIN = 26600;
const PORT_MAX = 26699;
/** Sequential calls: the stall hit about one handshake in three, so ten calls see it almost surely. */
const CALLS = 10;

let lab: GatewayLab;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  lab = await startGatewayLab({ prefix: "cuffia-webrtc-gw-out-", portMin: PORT_MIN, portMax: PORT_MAX });
}, 120_000);

afterAll(async () => {
  await lab?.stop();
});

/** One call placed by the desk; resolves when it ended with audio judged both ways. */
async function placeCall(n: number): Promise<void> {
  const { dir, far, inputs, sip } = lab;
  const before = new Set(await far.recordings());
  far.skip();
  const mark = inputs.mark;
  await sip({ action: "dial", target: "2001" });
  const dialling = await inputs.waitFor("call_dialling", () => true, 10_000, mark);
  try {
    await far.waitFor("CALL_INCOMING");
    await far.accept();
    const answered = await inputs.waitFor("call_answered", (i) => i.callId === dialling.callId, 10_000);
    expect(answered.type === "call_answered" && answered.encryption).toBe("dtls");
    // the INVITE baresip received: its Call-ID is the one rtpengine knows the call by
    const invite = (await readSipTrace(far.logFile)).filter((t) => /^INVITE sip:/.test(t.message)).at(-1);
    const sipCallId = /^Call-ID:\s*(\S+)/im.exec(invite?.message ?? "")?.[1];
    expect(sipCallId, `call ${n}: the INVITE baresip received`).toBeDefined();
    // 2 s of the far end's tone decrypted by the desk, and ~2 s of the desk's SRTP at rtpengine
    await heardFor(dir, dialling.callId, 2, 15_000);
    await deskSent(lab.rtpengine, sipCallId as string, 110, 15_000);
  } finally {
    await sip({ action: "hangup", callId: dialling.callId });
  }
  const ended = await inputs.waitFor("call_ended", (i) => i.callId === dialling.callId);
  expect(ended.reason).toBe("local_hangup");
  await far.waitFor("CALL_CLOSED");
  // what baresip heard (rtpengine decrypted the desk's SRTP for it) is the desk's tone
  await sleep(300);
  const dec = (await far.recordings()).filter((r) => r.endsWith("-dec.wav") && !before.has(r));
  expect(dec, `call ${n}: baresip's recording`).toHaveLength(1);
  expect(await toneError(dec[0] as string, DESK_HZ)).toBeLessThan(20);
  const sink = (await readdir(dir)).find((f) => f.startsWith("sink-") && f.includes(dialling.callId));
  expect(await toneError(join(dir, sink as string), FAR_HZ)).toBeLessThan(20);
}

describe("the desk places DTLS calls through a WebRTC gateway (Kamailio + rtpengine, wss://)", () => {
  it(`${CALLS} calls in a row: rtpengine answers passive, the desk is the DTLS client, each handshake completes and carries audio both ways`, async () => {
    const capture = await startCapture(lab.dir, `udp portrange ${PORT_MIN}-${PORT_MAX}`);
    const failed: string[] = [];
    for (let n = 1; n <= CALLS; n++) {
      try {
        await placeCall(n);
      } catch (e) {
        failed.push(`call ${n}: ${(e as Error).message.split("\n")[0]}`);
        // a stalled call is hung up by placeCall; wait for it to end before the next one
        await sleep(1000);
      }
    }
    const datagrams = await capture.stop();
    expect(failed).toEqual([]);
    // rtpengine's answer made the desk the client: the desk sent the ClientHellos
    // each flight 5 the desk sent is one datagram: Certificate, ClientKeyExchange,
    // CertificateVerify, ChangeCipherSpec and the (epoch 1) Finished, in that order
    const flights5 = datagrams
      .filter((d) => d.srcPort >= PORT_MIN && d.srcPort <= PORT_MAX && d.kind === "dtls")
      .map((d) => dtlsRecords(d.payload))
      .filter((records) => records.some((r) => r[0] === 20));
    expect(flights5.length).toBeGreaterThanOrEqual(CALLS);
    for (const records of flights5) {
      expect(records.map((r) => [r[0], r.readUInt16BE(3), r[13]])).toEqual([
        [22, 0, 11],
        [22, 0, 16],
        [22, 0, 15],
        [20, 0, 1],
        [22, 1, expect.any(Number)],
      ]);
    }
    const hellos = datagrams.filter(
      (d) => d.payload[0] === 22 && d.payload[13] === 1 && d.srcPort >= PORT_MIN && d.srcPort <= PORT_MAX,
    );
    expect(hellos.length).toBeGreaterThanOrEqual(CALLS);
    const rtp = datagrams.filter((d) => d.kind === "rtp");
    expect(rtp.filter((d) => d.srcPort >= PORT_MIN && d.srcPort <= PORT_MAX).length).toBeGreaterThan(
      CALLS * 100,
    );
    expect(rtp.filter((d) => d.dstPort >= PORT_MIN && d.dstPort <= PORT_MAX).length).toBeGreaterThan(
      CALLS * 100,
    );
    expect(
      rtp.filter((d) => looksLikeClearTone(d.payload, 8) || looksLikeClearTone(d.payload, 40)),
    ).toHaveLength(0);
    expect(judgeRtp(datagrams).encrypted).toBe(true);
  }, 400_000);
});
