/**
 * Two real media sessions on 127.0.0.1 with ICE + DTLS-SRTP + rtcp-mux between them (werift-ice
 * and werift-dtls on both sides, real sockets): the tones cross both ways encrypted, an ICE
 * restart by re-offer keeps the audio and the DTLS keys, a certificate that does not match the
 * SDP's fingerprint ends the media with a clear error, and lost consent (RFC 7675) ends it too,
 * as does an ICE restart whose checks all fail.
 * Garbage sent to a connected call's ICE socket (random bytes, truncated RTP, fake DTLS records,
 * broken STUN, SRTP with a wrong tag) is dropped and the call goes on.
 */
import { createSocket } from "node:dgram";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { goertzel, makeTone, readWav } from "./tone.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let dir = "";

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cuffia-dtls-ice-"));
  makeTone(join(dir, "440.wav"), 440, 8000, 2);
  makeTone(join(dir, "1000.wav"), 1000, 8000, 2);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function factory(tone: string, name: string, portMin: number, mediaTimeoutMs = 30_000) {
  return createMediaFactory({
    audio: {
      source: { type: "file", path: join(dir, tone), loop: true },
      sink: { type: "file", path: join(dir, `${name}-{call}.wav`) },
    },
    rtp: {
      address: "127.0.0.1",
      portMin,
      portMax: portMin + 19,
      codecs: ["PCMU"],
      ice: { hostAddresses: ["127.0.0.1"] },
      offerDtls: true,
      mediaTimeoutMs,
    },
    log: silentLogger,
    rtcpIntervalMs: 400,
  });
}

/** How much stronger `hz` is than `other` in the recording (after its first 0.3 s). */
function toneRatio(file: string, hz: number, other: number): number {
  const { samples, rate } = readWav(file);
  const tail = samples.subarray(Math.floor(rate * 0.3));
  return goertzel(tail, rate, hz) / Math.max(goertzel(tail, rate, other), 1e-9);
}

async function pair(base: number, tamper?: (offer: string) => string, timeouts?: [number, number]) {
  const a = await factory("440.wav", "a", base, timeouts?.[0]).create({ callId: `A${base}` });
  const offer = a.createOffer({ hold: false });
  const b = await factory("1000.wav", "b", base + 20, timeouts?.[1]).create({
    callId: `B${base}`,
    offer: tamper ? tamper(offer) : offer,
  });
  const ended = { a: [] as string[], b: [] as string[] };
  a.onMediaTimeout((d) => ended.a.push(d));
  b.onMediaTimeout((d) => ended.b.push(d));
  const answer = b.answer(tamper ? tamper(offer) : offer, { hold: false });
  a.acceptAnswer(answer);
  return { a, b, offer, answer, ended };
}

function sinkOf(name: string, callId: string): string {
  const f = readdirSync(dir).find((x) => x.startsWith(`${name}-`) && x.includes(callId));
  if (!f) throw new Error(`no recording for ${callId}`);
  return join(dir, f);
}

describe("ICE + DTLS-SRTP between two sessions", () => {
  it("carries both tones encrypted; an ICE restart by re-offer keeps the audio and the keys", async () => {
    const { a, b, offer, answer, ended } = await pair(33000);
    expect(offer).toMatch(/UDP\/TLS\/RTP\/SAVPF/);
    expect(answer).toMatch(/a=setup:passive/);
    // every candidate on the one configured host address
    const addresses = [...`${offer}${answer}`.matchAll(/a=candidate:\S+ \d+ \S+ \d+ (\S+) /g)].map(
      (m) => m[1],
    );
    expect(addresses.length).toBeGreaterThan(0);
    expect(new Set(addresses)).toEqual(new Set(["127.0.0.1"]));
    await sleep(1500);
    const before = { a: a.stats().packetsReceived, b: b.stats().packetsReceived };
    expect(before.a).toBeGreaterThan(20);
    expect(before.b).toBeGreaterThan(20);

    // A restarts ICE in a re-offer (new ufrag/pwd); B restarts too in its answer (RFC 8445 §9).
    const ufrag = (sdp: string) => /a=ice-ufrag:(\S+)/.exec(sdp)?.[1];
    a.restartIce();
    const reoffer = a.createOffer({ hold: false });
    expect(ufrag(reoffer)).not.toBe(ufrag(offer));
    const reanswer = b.answer(reoffer, { hold: false });
    expect(ufrag(reanswer)).not.toBe(ufrag(answer));
    expect(reanswer).toMatch(/a=setup:passive/); // the association goes on: same roles
    a.acceptAnswer(reanswer);
    await sleep(1500);
    expect(a.stats().packetsReceived - before.a).toBeGreaterThan(40);
    expect(b.stats().packetsReceived - before.b).toBeGreaterThan(40);
    expect(ended).toEqual({ a: [], b: [] });
    const sa = await a.close();
    await b.close();
    expect(sa.packetsSent).toBeGreaterThan(100);
    await sleep(200);
    expect(toneRatio(sinkOf("a", "A33000"), 1000, 440)).toBeGreaterThan(100);
    expect(toneRatio(sinkOf("b", "B33000"), 440, 1000)).toBeGreaterThan(100);
  }, 20_000);

  it("a certificate that does not match a=fingerprint ends the media with a clear error (regression: media from an impostor)", async () => {
    // B is told a fingerprint that is not A's certificate's.
    const wrong = (sdp: string) =>
      sdp.replace(/a=fingerprint:sha-256 \S+/, `a=fingerprint:sha-256 ${Array(32).fill("AB").join(":")}`);
    const { a, b, ended } = await pair(33100, wrong);
    await sleep(1500);
    expect(ended.b).toHaveLength(1);
    expect(ended.b[0]).toMatch(/does not match its a=fingerprint/);
    expect(b.stats().packetsReceived).toBe(0);
    await a.close();
    await b.close();
  }, 10_000);

  it("lost consent (RFC 7675: no answer to consent checks for 30 s) ends the media, said as consent", async () => {
    // A's silence watchdog is off: only ICE consent can end its media.
    const { a, b, ended } = await pair(33200, undefined, [0, 30_000]);
    await sleep(1500);
    expect(a.stats().packetsReceived).toBeGreaterThan(20);
    await b.close(); // B vanishes without a word: its socket is gone
    const deadline = Date.now() + 40_000;
    while (ended.a.length === 0 && Date.now() < deadline) await sleep(500);
    expect(ended.a).toHaveLength(1);
    expect(ended.a[0]).toMatch(/consent/);
    await a.close();
  }, 50_000);
  it("a restart whose checks all fail ends the media after 30 s, even with the watchdog off (regression: a silent call kept for good)", async () => {
    // B's silence watchdog is off. A re-offers with new credentials and a candidate where nothing
    // listens, and never takes B's answer: no check can succeed either way.
    const { a, b, ended } = await pair(33400, undefined, [30_000, 0]);
    await sleep(1500);
    expect(b.stats().packetsReceived).toBeGreaterThan(20);
    a.restartIce();
    const dead = a
      .createOffer({ hold: false })
      .replace(/^(a=candidate:\S+ 1 udp \d+ \S+ )\d+( typ host.*)$/gm, (_m, head, tail) => `${head}9${tail}`);
    const restartedAt = Date.now();
    b.answer(dead, { hold: false });
    const deadline = Date.now() + 40_000;
    while (ended.b.length === 0 && Date.now() < deadline) await sleep(500);
    expect(ended.b).toEqual([expect.stringMatching(/^ICE restart failed: no candidate pair answered/)]);
    expect(Date.now() - restartedAt).toBeGreaterThan(29_000);
    await a.close();
    await b.close();
  }, 50_000);

  it("garbage at a connected call's ICE socket (random, truncated RTP, fake DTLS and STUN, forged SRTP) is dropped; the call and its audio go on", async () => {
    const { a, b, answer, ended } = await pair(33300);
    await sleep(1500);
    const port = Number(/a=candidate:\S+ 1 \S+ \d+ 127\.0\.0\.1 (\d+) typ host/.exec(answer)?.[1]);
    expect(port).toBeGreaterThan(0);
    const before = b.stats().packetsReceived;
    const rtp = (payloadBytes: number) => {
      const p = Buffer.alloc(12 + payloadBytes, 0x5a);
      p[0] = 0x80;
      p[1] = 0; // PCMU
      p.writeUInt16BE(1234, 2);
      p.writeUInt32BE(0xdeadbeef, 8);
      return p;
    };
    const stun = Buffer.alloc(20);
    stun.writeUInt16BE(0x0001, 0); // Binding request
    stun.writeUInt16BE(40, 2); // a length its body does not have
    stun.writeUInt32BE(0x2112a442, 4);
    const dtls = Buffer.from([22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0xff, 1, 2, 3]); // handshake, lying length
    const appData = Buffer.concat([
      Buffer.from([23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 7, 0, 40]),
      Buffer.alloc(40, 1),
    ]);
    const junk = [
      Buffer.alloc(0),
      Buffer.from([0x80]),
      rtp(0).subarray(0, 11),
      rtp(160),
      rtp(170),
      stun,
      dtls,
      appData,
    ];
    for (let i = 0; i < 50; i++)
      junk.push(Buffer.from(Array.from({ length: 1 + ((i * 37) % 300) }, (_, j) => (i * 31 + j * 7) & 0xff)));
    const stranger = createSocket("udp4");
    await new Promise<void>((r) => stranger.bind(0, "127.0.0.1", r));
    for (const j of junk) stranger.send(j, port, "127.0.0.1");
    await sleep(1500);
    stranger.close();
    // Nothing ended, and B kept receiving A's packets at the pace of a call.
    expect(ended).toEqual({ a: [], b: [] });
    expect(b.stats().packetsReceived - before).toBeGreaterThan(40);
    // The RTP-shaped junk reached the protection layer and failed its authentication there.
    expect(b.stats().srtpAuthDropped).toBeGreaterThan(0);
    await a.close();
    await b.close();
    await sleep(200);
    expect(toneRatio(sinkOf("b", "B33300"), 440, 1000)).toBeGreaterThan(100);
  }, 15_000);
});
