/**
 * The lab's WebRTC gateway: a Kamailio of its own with `-A WITH_RTPENGINE` sends every INVITE,
 * its answer and the BYE through rtpengine. A plain baresip (RTP/AVP, PCMU, no ICE) calls a
 * baresip marked as a WebRTC end (mediaenc=dtls_srtp, medianat=ice, rtcp_mux): rtpengine turns
 * that leg into DTLS-SRTP + ICE + rtcp-mux (UDP/TLS/RTP/SAVPF) and the plain leg stays RTP/AVP.
 * Audio is measured both ways, rtpengine's own view of the call proves each leg's protocol and
 * packet counts, and a capture of the WebRTC leg proves no clear RTP crossed it.
 */
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { analyse, dominantFrequency, makeTone, wavComplete, wavSeconds } from "../lab/audio.js";
import { type Baresip, type BaresipOptions, startBaresip } from "../lab/baresip.js";
import type {} from "../lab/context.js";
import { type Kamailio, startKamailio } from "../lab/kamailio.js";
import { baresipPort } from "../lab/ports.js";
import { waitUntil } from "../lab/proc.js";
import { callLegs, markWebrtcUser, type Rtpengine, startRtpengine } from "../lab/rtpengine.js";
import { nonLoopbackSockets } from "../lab/sockets.js";
import { judgeRtp, readDatagrams, startWireCapture } from "../lab/wire.js";

let dir = "";
let rtpengine: Rtpengine;
let kamailio: Kamailio;
const started: Array<{ stop(): Promise<void> }> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cuffia-lab-rtpengine-"));
  rtpengine = await startRtpengine({ dir: join(dir, "rtpengine") });
  kamailio = await startKamailio({ dir: join(dir, "kamailio"), rtpengine });
});

afterAll(async () => {
  // Newest first: peers unregister while their Kamailio still runs.
  for (const p of started.splice(0).reverse()) await p.stop().catch(() => {});
  await kamailio?.stop();
  await rtpengine?.stop();
});

async function peer(opts: Omit<BaresipOptions, "port" | "kamailio">): Promise<Baresip> {
  const b = await startBaresip({ kamailio, port: await baresipPort(), ...opts });
  started.push(b);
  return b;
}

/** The one recording of the received direction ("-dec.wav") of a peer's only call. */
async function received(b: Baresip): Promise<string> {
  return waitUntil(`${b.user}'s received-audio recording`, async () => {
    const files = (await b.recordings()).filter((f) => f.endsWith("-dec.wav"));
    return files.length === 1 && files[0] !== undefined ? files[0] : undefined;
  });
}

/** The first SIP message in a baresip `-s` trace that matches `pattern` (messages split at start lines). */
function tracedMessage(trace: string, pattern: RegExp): string {
  const messages = trace.split(/^(?=SIP\/2\.0 \d{3} |[A-Z]+ sip:\S+ SIP\/2\.0\r?$)/m);
  const found = messages.find((m) => pattern.test(m));
  if (found === undefined) throw new Error(`no SIP message matching ${pattern} in the trace`);
  return found;
}

describe("lab WebRTC gateway (Kamailio + rtpengine)", () => {
  test("rtpengine listens on loopback only", async () => {
    expect(await nonLoopbackSockets(rtpengine.pid)).toEqual([]);
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
    const capture = await startWireCapture(
      join(dir, "media.pcap"),
      `udp and portrange ${rtpengine.portMin}-${rtpengine.portMax}`,
    );
    started.push(capture);
    await plain.dial(`sip:2002@${kamailio.domain}`);
    await plain.waitFor("CALL_ESTABLISHED");
    await webrtc.waitFor("CALL_ESTABLISHED");
    const recPlain = await received(plain);
    const recWebrtc = await received(webrtc);
    await waitUntil(
      "3 s of received audio on both ends",
      async () => (await wavSeconds(recPlain)) >= 3 && (await wavSeconds(recWebrtc)) >= 3,
      15_000,
      100,
    );

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

    await capture.stop();
    await plain.hangup();
    await plain.waitFor("CALL_CLOSED");
    await webrtc.waitFor("CALL_CLOSED");
    await waitUntil(
      "recordings closed",
      async () => (await wavComplete(recPlain)) && (await wavComplete(recWebrtc)),
    );
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
    const datagrams = await readDatagrams(capture.file);
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

    // What each baresip was offered: the WebRTC end got SAVPF + fingerprint + ICE + rtcp-mux and
    // no SDES key; the plain end got (and answered) RTP/AVP without any of them.
    const offerToWebrtc = tracedMessage(await readFile(webrtc.logFile, "utf8"), /^INVITE sip:/);
    expect(offerToWebrtc).toMatch(/^m=audio \d+ UDP\/TLS\/RTP\/SAVPF /m);
    expect(offerToWebrtc).toMatch(/^a=fingerprint:sha-256 /m);
    expect(offerToWebrtc).toMatch(/^a=ice-ufrag:/m);
    expect(offerToWebrtc).toMatch(/^a=rtcp-mux/m);
    expect(offerToWebrtc).not.toMatch(/^a=crypto:/m);
    const answerToPlain = tracedMessage(
      await readFile(plain.logFile, "utf8"),
      /^SIP\/2\.0 200 [\s\S]*^CSeq: \d+ INVITE/m,
    );
    expect(answerToPlain).toMatch(/^m=audio \d+ RTP\/AVP /m);
    expect(answerToPlain).not.toMatch(/^a=(fingerprint|ice-ufrag|crypto|rtcp-mux)/m);
  });
});
