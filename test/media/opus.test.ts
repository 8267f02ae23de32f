/**
 * Opus (RFC 6716 / RFC 7587): packet framing read without decoding, the codec on libopus
 * (libopus-wasm), the concealment of a lost packet, malformed packets from a real far end
 * on loopback, and that a desk not using Opus never loads it.
 */
import { execFileSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { describe, expect, it } from "vitest";
import { memoryLogger, silentLogger } from "../../src/log/logger.js";
import { AudioBridge, type DecodedPayload } from "../../src/media/audio-bridge.js";
import { CODECS, createCodec } from "../../src/media/codecs.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { OPUS_MAX_DECODED, OpusCodec, preloadOpus } from "../../src/media/opus-codec.js";
import { opusPacketSamples } from "../../src/media/opus-packet.js";
import { encodeRtp } from "../../src/media/rtp-packet.js";
import { goertzel, rms } from "./tone.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `n` samples of a `freq` Hz sine at 48 kHz, starting at sample `from`. */
function sine(freq: number, from: number, n: number, amplitude = 8000): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++)
    out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * freq * (from + i)) / 48000));
  return out;
}

/** The frequency among `candidates` with the most power in `x` (48 kHz). */
function strongest(x: Int16Array, candidates: readonly number[]): number {
  let best = candidates[0] ?? 0;
  for (const f of candidates) if (goertzel(x, 48000, f) > goertzel(x, 48000, best)) best = f;
  return best;
}

const NEAR = [250, 300, 400, 500, 700, 900, 1000, 1100, 1300, 1500, 2000, 3000];

describe("Opus packet framing (RFC 6716 §3)", () => {
  // TOC 0x08: SILK NB 20 ms (config 1); 0xf8: CELT FB 20 ms (config 31); 0x18: SILK NB 60 ms.
  it.each([
    ["code 0, one 20 ms frame", [0x08, 1, 2, 3], 960],
    ["code 0, TOC alone (a lost/DTX frame)", [0x08], 960],
    ["code 0, CELT 2.5 ms", [0x80 | 0x00, 9], 120],
    ["code 0, SILK 60 ms", [0x18, 9, 9], 2880],
    ["code 1, two equal frames", [0x09, 1, 2, 3, 4], 1920],
    ["code 2, first frame 2 bytes, second 1", [0x0a, 2, 7, 7, 7], 1920],
    ["code 3 CBR, three 20 ms frames", [0x0b, 0x03, 1, 2, 3], 2880],
    ["code 3 VBR, two frames of 1 and 3 bytes", [0x0b, 0x82, 1, 5, 6, 6, 6], 1920],
    ["code 3 CBR with 2 bytes of padding", [0x0b, 0x42, 2, 1, 2, 0, 0], 1920],
  ])("%s: %i samples", (_, bytes, samples) => {
    expect(opusPacketSamples(Uint8Array.from(bytes as number[]))).toBe(samples);
  });

  it.each([
    ["empty (R1)", []],
    ["code 1 with an odd size (R3)", [0x09, 1, 2, 3]],
    ["code 2 with a first frame past the end (R4)", [0x0a, 9, 1]],
    ["code 2 with its length byte missing", [0x0a]],
    ["code 3 without its frame count", [0x0b]],
    ["code 3 with no frames (R5)", [0x0b, 0x00]],
    ["code 3 over 120 ms (R5)", [0x1b, 0x03, 1, 2, 3]],
    ["code 3 CBR sizes that do not divide (R6)", [0x0b, 0x02, 1, 2, 3]],
    ["code 3 VBR lengths past the end (R7)", [0x0b, 0x83, 9, 9, 1]],
    ["code 3 padding longer than the packet", [0x0b, 0x41, 200, 1]],
    ["code 0 with a frame over 1275 bytes (R2)", [0x08, ...new Array<number>(1276).fill(1)]],
  ])("refuses %s", (_, bytes) => {
    expect(opusPacketSamples(Uint8Array.from(bytes as number[]))).toBeNull();
  });
});

describe("the Opus codec (libopus-wasm)", () => {
  it("a tone keeps its frequency through encode and decode, at 8, 16 and 48 kHz content", async () => {
    for (const freq of [300, 1000, 3000]) {
      const c = await OpusCodec.create();
      const out = new Int16Array(OPUS_MAX_DECODED);
      const decoded: Int16Array[] = [];
      for (let f = 0; f < 25; f++) {
        const d = c.decode(c.encode(sine(freq, f * 960, 960)), out);
        expect(d).not.toBe("malformed");
        if (d !== "malformed") decoded.push(Int16Array.from(d));
      }
      c.close();
      expect(decoded.every((d) => d.length === 960)).toBe(true);
      const steady = Int16Array.from(decoded.slice(5).flatMap((d) => [...d]));
      expect(strongest(steady, NEAR)).toBe(freq);
      expect(rms(steady)).toBeGreaterThan(3000);
    }
  });

  it("decodes every frame size the far end may send, 2.5 to 60 ms", async () => {
    const far = await OpusCodec.create(); // the far end's encoder
    const ours = await OpusCodec.create();
    const out = new Int16Array(OPUS_MAX_DECODED);
    let at = 0;
    for (const n of [120, 240, 480, 960, 1920, 2880]) {
      const packet = far.encode(sine(1000, at, n));
      at += n;
      expect(opusPacketSamples(packet)).toBe(n);
      const d = ours.decode(packet, out);
      expect(d === "malformed" ? -1 : d.length).toBe(n);
    }
    far.close();
    ours.close();
  });

  it("plays a stereo far end (sprop-stereo=1) mixed down to mono, at the tone's frequency", async () => {
    const { createEncoder } = await import("libopus-wasm");
    const stereo = await createEncoder({ channels: 2, application: 2048 });
    const ours = await OpusCodec.create();
    const out = new Int16Array(OPUS_MAX_DECODED);
    const decoded: number[] = [];
    for (let f = 0; f < 20; f++) {
      const mono = sine(700, f * 960, 960);
      const both = new Int16Array(1920);
      for (let i = 0; i < 960; i++) both[2 * i] = both[2 * i + 1] = mono[i] ?? 0;
      const packet = stereo.encode(both);
      expect((packet[0] ?? 0) & 0x04).toBe(0x04); // the TOC's stereo bit
      const d = ours.decode(packet, out);
      if (d === "malformed") throw new Error("stereo packet refused");
      expect(d.length).toBe(960);
      if (f >= 5) decoded.push(...d);
    }
    stereo.free();
    ours.close();
    expect(strongest(Int16Array.from(decoded), [500, 600, 700, 800, 1000])).toBe(700);
  });

  it("decodes a multi-frame packet (code 3, two 20 ms frames)", async () => {
    const far = await OpusCodec.create({
      maxPlaybackRate: 48000,
      bitrate: 32000,
      inbandFec: false,
      cbr: true,
      stereoPreferred: false,
    });
    const a = far.encode(sine(1000, 0, 960));
    const b = far.encode(sine(1000, 960, 960));
    far.close();
    expect(a.length).toBe(b.length); // CBR: equal frames
    expect(a[0]).toBe(b[0]);
    const packet = Uint8Array.from([(a[0] ?? 0) | 0x03, 0x02, ...a.subarray(1), ...b.subarray(1)]);
    const ours = await OpusCodec.create();
    const d = ours.decode(packet, new Int16Array(OPUS_MAX_DECODED));
    ours.close();
    expect(d === "malformed" ? -1 : d.length).toBe(1920);
  });

  it("refuses malformed packets and a packet longer than 60 ms, and goes on decoding", async () => {
    const c = await OpusCodec.create();
    const out = new Int16Array(OPUS_MAX_DECODED);
    expect(c.decode(new Uint8Array(0), out)).toBe("malformed");
    expect(c.decode(Uint8Array.of(0x09, 1, 2, 3), out)).toBe("malformed");
    expect(c.decode(Uint8Array.of(0x1b, 0x02, 1, 1), out)).toBe("malformed"); // 2 × 60 ms
    const d = c.decode(c.encode(sine(1000, 0, 960)), out);
    expect(d === "malformed" ? -1 : d.length).toBe(960);
    c.close();
    c.close(); // idempotent
    expect(() => c.encode(sine(1000, 0, 960))).toThrow(/closed/);
  });

  it("the codec table: opus/48000/2, dynamic PT 111, 48 kHz clock", async () => {
    expect(CODECS.OPUS).toMatchObject({
      payloadType: 111,
      clockRate: 48000,
      sampleRate: 48000,
      rtpmapChannels: 2,
    });
    const c = createCodec("OPUS");
    await c.whenReady;
    expect(c.decode(Uint8Array.of(), new Int16Array(c.maxDecoded(0)))).toBeNull();
    c.close?.();
  });
});

describe("a lost Opus packet", () => {
  async function bridge(): Promise<AudioBridge> {
    const b = new AudioBridge({
      callId: "plc",
      audio: { source: { type: "none" }, sink: { type: "none" } },
      log: silentLogger,
      frameMs: 20,
    });
    await preloadOpus();
    b.setCodec(CODECS.OPUS);
    await new Promise((r) => setImmediate(r)); // the codec is made a few microtasks later
    return b;
  }

  it("is concealed by libopus before the next one: the gap is filled, on the stream's timeline", async () => {
    const far = await OpusCodec.create();
    const packets = Array.from({ length: 12 }, (_, i) => far.encode(sine(1000, i * 960, 960)));
    far.close();
    const b = await bridge();
    const ts0 = 0xffff_f000; // wraps during the run
    const results: Array<{ ts: number; samples: Int16Array }> = [];
    for (let i = 0; i < packets.length; i++) {
      if (i === 6) continue; // lost
      const d = b.decode(packets[i] as Uint8Array, (ts0 + i * 960) >>> 0) as DecodedPayload;
      results.push({ ts: d.timestamp, samples: Int16Array.from(d.samples) });
    }
    // The packet after the loss starts at the lost one's timestamp, with 40 ms of audio.
    const after = results[6];
    expect(after?.ts).toBe((ts0 + 6 * 960) >>> 0);
    expect(after?.samples.length).toBe(1920);
    const concealed = after?.samples.subarray(0, 960) ?? new Int16Array(0);
    // libopus's PLC continues the tone (not silence, not the repeat of a frame with a click).
    expect(rms(concealed)).toBeGreaterThan(1000);
    expect(strongest(concealed, NEAR)).toBe(1000);
    expect(results.filter((r) => r !== after).every((r) => r.samples.length === 960)).toBe(true);
    await b.close();
  });

  it("an older packet arriving after a newer one is late (the decoder's state went past it)", async () => {
    const far = await OpusCodec.create();
    const p = [0, 1, 2].map((i) => far.encode(sine(1000, i * 960, 960)));
    far.close();
    const b = await bridge();
    expect(b.decode(p[0] as Uint8Array, 0)).not.toBe("late");
    expect(b.decode(p[2] as Uint8Array, 1920)).not.toBe("late");
    expect(b.decode(p[1] as Uint8Array, 960)).toBe("late");
    expect(b.decode(Uint8Array.of(0x09, 1, 2, 3), 2880)).toBe("malformed");
    // A new source (SSRC) may start anywhere, even just behind: not late.
    b.newSource();
    expect(b.decode(p[1] as Uint8Array, 960)).not.toBe("late");
    await b.close();
  });
});

describe("an Opus far end on loopback", () => {
  it("its malformed packets are dropped and counted, the good ones played, nothing thrown", async () => {
    const peer = createSocket("udp4");
    await new Promise<void>((r) => peer.bind(0, "127.0.0.1", () => r()));
    const peerPort = peer.address().port;
    const mem = memoryLogger("info");
    const f = createMediaFactory({
      audio: { source: { type: "none" }, sink: { type: "none" } },
      rtp: { address: "127.0.0.1", portMin: 31540, portMax: 31560, codecs: ["opus", "pcmu"] },
      log: mem.log,
    });
    const a = await f.create({ callId: "bad-opus" });
    const answer = a.answer(
      `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${peerPort} RTP/AVP 96 0\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n`,
      { hold: false },
    );
    expect(answer).toContain("a=rtpmap:96 opus/48000/2");
    const enc = await OpusCodec.create();
    const bad = [
      Uint8Array.of(),
      Uint8Array.of(0x09, 1, 2, 3),
      Uint8Array.of(0x0b, 0x00),
      Uint8Array.of(0x1b, 0x03, 1, 2, 3),
    ];
    for (let i = 0; i < 20; i++) {
      const payload =
        i % 2 === 0 ? enc.encode(sine(1000, i * 960, 960)) : (bad[(i >> 1) % bad.length] as Uint8Array);
      peer.send(
        encodeRtp({ payloadType: 96, marker: i === 0, sequence: i, timestamp: i * 960, ssrc: 7, payload }),
        a.localPort,
        "127.0.0.1",
      );
      await sleep(5);
    }
    enc.close();
    await sleep(300);
    const d = a.details();
    await a.close();
    peer.close();
    await f.close?.();
    expect(d.codec).toBe("OPUS");
    expect(d.packetsReceived).toBe(20);
    expect(d.undecodable).toBe(10);
    // Logged once per call, not once per packet.
    expect(mem.lines.filter((l) => l.msg === "undecodable payload dropped (counted)")).toHaveLength(1);
  });
});

describe("an Opus stream on the wire is at 48 kHz", () => {
  it("RTP timestamps step 960 per 20 ms, RTCP sender reports count 48000 a second, DTMF at 48000", async () => {
    const peer = createSocket("udp4");
    const peerRtcp = createSocket("udp4");
    await new Promise<void>((r) => peer.bind(31580, "127.0.0.1", () => r()));
    await new Promise<void>((r) => peerRtcp.bind(31581, "127.0.0.1", () => r()));
    const rtp: Array<{ pt: number; ts: number; seq: number; payload: Buffer }> = [];
    peer.on("message", (m) =>
      rtp.push({
        pt: (m[1] ?? 0) & 0x7f,
        seq: m.readUInt16BE(2),
        ts: m.readUInt32BE(4),
        payload: m.subarray(12),
      }),
    );
    const srs: Array<{ ntp: number; ts: number }> = [];
    peerRtcp.on("message", (m) => {
      if (m[1] === 200)
        srs.push({ ntp: m.readUInt32BE(8) + m.readUInt32BE(12) / 2 ** 32, ts: m.readUInt32BE(16) });
    });
    const f = createMediaFactory({
      audio: { source: { type: "none" }, sink: { type: "none" } },
      rtp: { address: "127.0.0.1", portMin: 31600, portMax: 31620, codecs: ["opus"] },
      log: silentLogger,
      rtcpIntervalMs: 300,
    });
    await preloadOpus(); // as the SIP side's offer check does while the desk rings
    const a = await f.create({ callId: "wire" });
    a.answer(
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
        "m=audio 31580 RTP/AVP 100 101\r\na=rtpmap:100 opus/48000/2\r\na=rtpmap:101 telephone-event/48000\r\n",
      { hold: false },
    );
    await sleep(600);
    await a.sendDtmf("3");
    await sleep(1400);
    await a.close();
    await sleep(50);
    peer.close();
    peerRtcp.close();
    await f.close?.();

    const audio = rtp.filter((p) => p.pt === 100);
    expect(audio.length).toBeGreaterThan(60);
    // Consecutive audio packets (no event between them): 960 timestamp units apart, or a multiple
    // when the clock skipped overdue ticks after a stall (send-clock.ts: timestamps follow time).
    const steps = audio
      .slice(1)
      .map((p, i) => ({
        dseq: (p.seq - (audio[i]?.seq ?? 0)) & 0xffff,
        dts: (p.ts - (audio[i]?.ts ?? 0)) >>> 0,
      }))
      .filter((x) => x.dseq === 1);
    for (const x of steps) expect(x.dts % 960).toBe(0);
    expect(steps.filter((x) => x.dts === 960).length).toBeGreaterThan(0.9 * steps.length);
    // RFC 3550 §6.4.1: an SR's RTP timestamp and NTP time move together, at the codec's clock
    // (±10 %: an SR's timestamp is its last tick's, up to a tick or a stall behind its NTP time;
    // a wrong clock is off by 3× or 6×).
    expect(srs.length).toBeGreaterThanOrEqual(2);
    const first = srs[0] as { ntp: number; ts: number };
    const last = srs.at(-1) as { ntp: number; ts: number };
    const rate = ((last.ts - first.ts) >>> 0) / (last.ntp - first.ntp);
    expect(Math.abs(rate - 48000)).toBeLessThan(4800);
    // RFC 4733: the event's packets carry an audio timestamp of the stream, its duration at 48 kHz.
    const events = rtp.filter((p) => p.pt === 101);
    expect(events.length).toBeGreaterThan(3);
    expect(events[0]?.payload[0]).toBe(3);
    const end = events.at(-1);
    expect(((end?.payload[2] ?? 0) << 8) | (end?.payload[3] ?? 0)).toBe(4800); // 100 ms
    const firstEvent = rtp.findIndex((p) => p.pt === 101);
    const before = rtp
      .slice(0, firstEvent)
      .filter((p) => p.pt === 100)
      .at(-1);
    const sinceAudio = ((events[0]?.ts ?? 0) - (before?.ts ?? 0)) >>> 0;
    expect(sinceAudio > 0 && sinceAudio % 960 === 0).toBe(true); // the next tick's timestamp
  });
});

describe("loading", () => {
  it("a desk whose calls use G.711 or G.722 never loads libopus; a call with Opus does", () => {
    // A process of its own (this one may have loaded it already), on the build.
    const script = `
      import { createCodec } from "${process.cwd()}/dist/media/codecs.js";
      import { isOpusLoaded } from "${process.cwd()}/dist/media/opus-codec.js";
      for (const n of ["PCMU", "PCMA", "G722"]) createCodec(n);
      await new Promise((r) => setTimeout(r, 100));
      const before = [isOpusLoaded()];
      const c = createCodec("OPUS");
      const early = c.ready();
      await c.whenReady;
      console.log(JSON.stringify({ before, early, after: [isOpusLoaded(), c.ready()] }));
      c.close();
    `;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    // Made before the library was loaded, the codec is ready once it is (nothing to wait for after).
    expect(JSON.parse(out)).toEqual({ before: [false], early: false, after: [true, true] });
  });
});
