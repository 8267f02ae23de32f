/**
 * Two real MediaSessions on loopback, each playing a tone from a WAV file and recording what
 * it receives: the scenario the SIP side drives for every call.
 */
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { MediaError } from "../../src/media/media.js";
import { preloadOpus } from "../../src/media/opus-codec.js";
import { encodeRtp } from "../../src/media/rtp-packet.js";
import { goertzel, makeTone, readWav, rms } from "./tone.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let dir = "";

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cuffia-media-"));
  makeTone(join(dir, "440.wav"), 440, 8000, 2);
  makeTone(join(dir, "880.wav"), 880, 16000, 2);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function factory(tone: string, name: string, codecs: string[], portMin: number) {
  return createMediaFactory({
    audio: {
      source: { type: "file", path: join(dir, tone), loop: true },
      sink: { type: "file", path: join(dir, `${name}-{call}.wav`) },
    },
    rtp: { address: "127.0.0.1", portMin, portMax: portMin + 20, codecs },
    log: silentLogger,
    rtcpIntervalMs: 400,
  });
}

describe.each([
  ["PCMU", ["PCMU", "PCMA"], 8000],
  ["G722", ["G722", "PCMU"], 16000],
  // 8 and 16 kHz tones through a 48 kHz codec, DTMF as telephone-event/48000.
  ["OPUS", ["OPUS", "G722", "PCMU"], 48000],
])("two sessions on loopback (%s)", (codec, codecs, rate) => {
  it("exchange tones, DTMF, mute, reject a third party, report RTCP, survive garbage", async () => {
    const base = codec === "PCMU" ? 31000 : codec === "G722" ? 31100 : 31500;
    // libopus is loaded and warmed while the desk rings (the SIP side's offer check): the same here.
    if (codec === "OPUS") await preloadOpus();
    const a = await factory("440.wav", "a", codecs, base).create({ callId: `A-${codec}` });
    const b = await factory("880.wav", "b", codecs, base + 50).create({ callId: `B-${codec}` });
    const digits: string[] = [];
    b.onDtmf((d) => digits.push(d));

    const offer = a.createOffer({ hold: false });
    const answer = b.answer(offer, { hold: false });
    a.acceptAnswer(answer);
    expect(a.details().codec).toBe(codec);

    await sleep(1200);
    await a.sendDtmf("1#9");

    // A stranger on the same host sends valid RTP and garbage to A's port.
    const stranger = createSocket("udp4");
    await new Promise<void>((r) => stranger.bind(0, "127.0.0.1", () => r()));
    const payload = new Uint8Array(160).fill(0x10);
    for (let i = 0; i < 20; i++) {
      stranger.send(
        encodeRtp({ payloadType: 0, marker: false, sequence: i, timestamp: i * 160, ssrc: 99, payload }),
        a.localPort,
        "127.0.0.1",
      );
      stranger.send(Buffer.from([0xff, 0x00, i]), a.localPort, "127.0.0.1");
    }

    b.setMuted(true);
    const receivedAtMute = a.stats().packetsReceived;
    await sleep(1000);
    const receivedAfterMute = a.stats().packetsReceived;
    stranger.close();

    const sa = a.details();
    const sb = b.details();
    const finalA = await a.close();
    await b.close();
    expect(await a.close()).toEqual(finalA); // idempotent

    // Packets kept flowing while muted (about 50 in one second).
    expect(receivedAfterMute - receivedAtMute).toBeGreaterThan(40);
    expect(digits).toEqual(["1", "#", "9"]);
    // A latched onto B long before the stranger spoke, and its RTP socket is connected to B:
    // the kernel drops the stranger's 40 datagrams. None was parsed (no garbage counted), none
    // counted as received, none reached the jitter buffer (B's SSRC kept, nothing lost).
    // (Strangers before latching are rejected and counted: see "a stranger before latching".)
    expect(sa.garbage).toBe(0);
    expect(sa.unknownPayload).toBe(0);
    expect(sa.packetsReceived).toBeLessThanOrEqual(sb.packetsSent);
    expect(sa.packetsSent).toBeGreaterThan(100);
    expect(sb.packetsReceived).toBeGreaterThan(100);
    expect(sa.packetsLost).toBe(0);
    expect(sb.jitterMs).toBeLessThan(10);
    expect(sa.rtcpReceived).toBeGreaterThan(0);
    expect(sa.roundTripMs).not.toBeNull();
    expect(sa.roundTripMs ?? 99).toBeLessThan(20);

    // What each side recorded: the other's tone.
    const recA = readWav(join(dir, `a-A-${codec}.wav`));
    const recB = readWav(join(dir, `b-B-${codec}.wav`));
    expect(recA.rate).toBe(rate);
    const r = recA.rate;
    const talkA = recA.samples.subarray(Math.round(0.3 * r), Math.round(1.1 * r));
    const talkB = recB.samples.subarray(Math.round(0.3 * r), Math.round(1.1 * r));
    expect(goertzel(talkA, r, 880)).toBeGreaterThan(20 * goertzel(talkA, r, 440));
    expect(goertzel(talkB, r, 440)).toBeGreaterThan(20 * goertzel(talkB, r, 880));
    expect(rms(talkA)).toBeGreaterThan(3000);
    // The last 0.5 s of A's recording is while B was muted: silence.
    const mutedPart = recA.samples.subarray(recA.samples.length - Math.round(0.5 * r));
    expect(rms(mutedPart)).toBeLessThan(20);
  }, 20_000);
});

describe("session contract details", () => {
  it("increments o= on every re-offer and offers sendonly on hold", async () => {
    const f = factory("440.wav", "h", ["PCMU"], 31200);
    const a = await f.create({ callId: "hold" });
    const v = (sdp: string) => Number(/^o=\S+ \S+ (\d+)/m.exec(sdp)?.[1]);
    const o1 = a.createOffer({ hold: false });
    const o2 = a.createOffer({ hold: true });
    expect(v(o2)).toBeGreaterThan(v(o1));
    expect(o2).toContain("a=sendonly");
    await a.close();
    expect(() => a.createOffer({ hold: false })).toThrow(MediaError);
    await expect(a.sendDtmf("1")).rejects.toMatchObject({ code: "closed" });
  });

  it("answers recvonly to a sendonly offer and reports that the far end holds us", async () => {
    const a = await factory("440.wav", "x", ["PCMU"], 31220).create({ callId: "x" });
    const b = await factory("880.wav", "y", ["PCMU"], 31240).create({ callId: "y" });
    const offer = a.createOffer({ hold: false });
    b.answer(offer, { hold: false });
    const hold = b.createOffer({ hold: true });
    expect(hold).toContain("a=sendonly");
    expect(a.answer(hold, { hold: false })).toContain("a=recvonly");
    expect(a.remoteDirection).toBe("sendonly");
    await Promise.all([a.close(), b.close()]);
  });

  it("garbage SDP throws MediaError malformed and leaves the session usable", async () => {
    const a = await factory("440.wav", "g", ["PCMU"], 31260).create({ callId: "g" });
    expect(() => a.answer("not sdp at all", { hold: false })).toThrow(
      expect.objectContaining({ code: "malformed" }),
    );
    expect(a.createOffer({ hold: false })).toContain("m=audio");
    await a.close();
  });
});

describe("a raw far end", () => {
  it("gets 20 ms packets from the port we listen on, and its garbage is counted, not fatal", async () => {
    const peer = createSocket("udp4");
    const peerRtcp = createSocket("udp4");
    await new Promise<void>((r) => peer.bind(31300, "127.0.0.1", () => r()));
    await new Promise<void>((r) => peerRtcp.bind(31301, "127.0.0.1", () => r()));
    const got: Array<{ port: number; at: number; seq: number; ts: number; pt: number }> = [];
    peer.on("message", (m, rinfo) =>
      got.push({
        port: rinfo.port,
        at: performance.now(),
        seq: m.readUInt16BE(2),
        ts: m.readUInt32BE(4),
        pt: (m[1] ?? 0) & 0x7f,
      }),
    );
    const rtcpFrom: number[] = [];
    peerRtcp.on("message", (m) => rtcpFrom.push(m[1] ?? 0));
    const a = await factory("440.wav", "raw", ["PCMA"], 31320).create({ callId: "raw" });
    a.answer(
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 31300 RTP/AVP 8\r\n",
      { hold: false },
    );
    const send = (b: Uint8Array) => peer.send(b, a.localPort, "127.0.0.1");
    for (let i = 0; i < 10; i++) {
      send(
        encodeRtp({
          payloadType: 8,
          marker: false,
          sequence: i,
          timestamp: i * 160,
          ssrc: 5,
          payload: new Uint8Array(160).fill(0xd5),
        }),
      );
      send(Buffer.from("definitely not RTP"));
      send(Buffer.alloc(0));
      send(Buffer.from([0x80, 8, 0, 1]));
    }
    await sleep(700);
    const d = a.details();
    await a.close();
    await sleep(50);
    peer.close();
    peerRtcp.close();
    expect(d.garbage).toBeGreaterThanOrEqual(20);
    expect(d.packetsReceived).toBe(10);
    expect(new Set(got.map((g) => g.port))).toEqual(new Set([a.localPort]));
    const audio = got.filter((g) => g.pt === 8);
    expect(audio.length).toBeGreaterThan(25);
    for (let i = 1; i < audio.length; i++) {
      expect(((audio[i]?.seq ?? 0) - (audio[i - 1]?.seq ?? 0)) & 0xffff).toBe(1);
      expect(((audio[i]?.ts ?? 0) - (audio[i - 1]?.ts ?? 0)) >>> 0).toBe(160);
    }
    // RTCP reports went to port + 1; the last one carried a BYE.
    expect(rtcpFrom.length).toBeGreaterThan(0);
  });
});
