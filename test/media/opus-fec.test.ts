/**
 * Opus in-band FEC on receive (issue 14, RFC 6716 §2.1.7 / §4.2.4 LBRR): a lost packet's audio
 * recovered from the next packet's FEC data, through the call's real decode path (AudioBridge),
 * against libopus's concealment (PLC) alone; a sender without FEC, and a garbage or truncated
 * next packet, fall back to PLC without throwing.
 *
 * The reference for "closer to the original" is the same packets decoded with none lost: it has
 * the codec's own delay and coding error, so what is measured is only what the loss costs.
 */
import { createSocket } from "node:dgram";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { AudioBridge, type DecodedPayload } from "../../src/media/audio-bridge.js";
import { CODECS } from "../../src/media/codecs.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { OPUS_MAX_DECODED, OpusCodec, preloadOpus } from "../../src/media/opus-codec.js";
import { opusFecSamples } from "../../src/media/opus-packet.js";
import { OPUS_DEFAULT_PARAMS, opusSendParams } from "../../src/media/opus-sdp.js";
import { encodeRtp } from "../../src/media/rtp-packet.js";

const FRAME = 960;
const FRAMES = 100;
const LOSS_EVERY = 5;

/**
 * A voice-like signal at 48 kHz: a glottal pulse train (harmonics of a pitch gliding between
 * 110 and 190 Hz) through two moving formants, with 4 Hz syllables.
 */
function voice(frames: number): Int16Array {
  const out = new Int16Array(frames * FRAME);
  let phase = 0;
  for (let i = 0; i < out.length; i++) {
    const t = i / 48000;
    const f0 = 150 + 40 * Math.sin(2 * Math.PI * 0.7 * t);
    phase += (2 * Math.PI * f0) / 48000;
    const f1 = 600 + 200 * Math.sin(2 * Math.PI * 1.3 * t);
    const f2 = 1500 + 400 * Math.sin(2 * Math.PI * 0.9 * t);
    let v = 0;
    for (let h = 1; h * f0 < 4000; h++) {
      const fh = h * f0;
      const gain = 1 / (1 + ((fh - f1) / 150) ** 2) + 0.5 / (1 + ((fh - f2) / 250) ** 2);
      v += (gain * Math.sin(h * phase)) / h;
    }
    const syllable = 0.3 + 0.7 * Math.abs(Math.sin(2 * Math.PI * 2 * t));
    out[i] = Math.round(9000 * syllable * v);
  }
  return out;
}

/** SNR (dB) of `x` against the reference `ref`. */
function snrDb(ref: Int16Array, x: Int16Array): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i] ?? 0;
    s += r * r;
    n += (r - (x[i] ?? 0)) ** 2;
  }
  return 10 * Math.log10(s / Math.max(n, 1));
}

async function encodeAll(inbandFec: boolean): Promise<Uint8Array[]> {
  const pcm = voice(FRAMES);
  const far = await OpusCodec.create({ ...OPUS_DEFAULT_PARAMS, inbandFec });
  const packets = Array.from({ length: FRAMES }, (_, i) =>
    Uint8Array.from(far.encode(pcm.subarray(i * FRAME, (i + 1) * FRAME))),
  );
  far.close();
  return packets;
}

async function bridge(): Promise<AudioBridge> {
  await preloadOpus();
  const b = new AudioBridge({
    callId: "fec",
    audio: { source: { type: "none" }, sink: { type: "none" } },
    log: silentLogger,
    frameMs: 20,
  });
  b.setCodec(CODECS.OPUS);
  await new Promise((r) => setImmediate(r)); // the codec is made a few microtasks later
  return b;
}

/** The call's path: every packet but the lost ones through AudioBridge.decode. */
async function receive(
  packets: readonly Uint8Array[],
  lost: (i: number) => boolean,
  replace?: (next: Uint8Array, i: number) => Uint8Array,
): Promise<{ pcm: Int16Array; fecSamples: number; recovered: number }> {
  const b = await bridge();
  const pcm = new Int16Array(packets.length * FRAME);
  let fecSamples = 0;
  let recovered = 0;
  for (let i = 0; i < packets.length; i++) {
    if (lost(i)) continue;
    const p =
      replace && i > 0 && lost(i - 1) ? replace(packets[i] as Uint8Array, i) : (packets[i] as Uint8Array);
    const d = b.decode(p, i * FRAME);
    if (d === "malformed" || d === "late" || d === "unready") throw new Error(`packet ${i}: ${d}`);
    const r = d as DecodedPayload;
    pcm.set(r.samples, r.timestamp);
    fecSamples += r.fecSamples;
    if (r.fecSamples > 0) recovered++;
  }
  await b.close();
  return { pcm, fecSamples, recovered };
}

/** libopus's PLC alone for each lost packet (what the desk did before FEC), then the next packet. */
async function receivePlc(packets: readonly Uint8Array[], lost: (i: number) => boolean): Promise<Int16Array> {
  const c = await OpusCodec.create();
  const pcm = new Int16Array(packets.length * FRAME);
  const out = new Int16Array(OPUS_MAX_DECODED);
  for (let i = 0; i < packets.length; i++) {
    const d = lost(i) ? c.conceal(FRAME, out) : c.decode(packets[i] as Uint8Array, out);
    if (d === "malformed") throw new Error(`packet ${i} refused`);
    pcm.set(d, i * FRAME);
  }
  c.close();
  return pcm;
}

const lostEvery5th = (i: number) => i % LOSS_EVERY === LOSS_EVERY - 1 && i < FRAMES - 1;
const frameOf = (x: Int16Array, i: number) => x.subarray(i * FRAME, (i + 1) * FRAME);
const lostIndexes = Array.from({ length: FRAMES }, (_, i) => i).filter(lostEvery5th);
const fmt = (xs: readonly number[]) => xs.map((x) => x.toFixed(1)).join(" ");

describe("Opus in-band FEC on receive", () => {
  it("a sender with FEC: every 5th packet lost is recovered from the next one, closer to the original than PLC", async () => {
    const packets = await encodeAll(true);
    // libopus codes LBRR data for the frames before a packet that it judges worth it (active
    // voice), so most packets of a voice carry some, not all.
    const withLbrr = packets.filter((p) => opusFecSamples(p) === FRAME).length;
    expect(withLbrr, `${withLbrr} of ${FRAMES} packets carry FEC data`).toBeGreaterThanOrEqual(FRAMES / 2);
    const covered = lostIndexes.filter((i) => opusFecSamples(packets[i + 1] as Uint8Array) === FRAME);
    expect(covered.length, `${covered.length} of ${lostIndexes.length} losses`).toBeGreaterThanOrEqual(
      lostIndexes.length / 2,
    );

    const clean = await receive(packets, () => false);
    expect(clean.fecSamples).toBe(0);
    const fec = await receive(packets, lostEvery5th);
    const plc = await receivePlc(packets, lostEvery5th);

    const fecSnr = covered.map((i) => snrDb(frameOf(clean.pcm, i), frameOf(fec.pcm, i)));
    const plcSnr = covered.map((i) => snrDb(frameOf(clean.pcm, i), frameOf(plc, i)));
    const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const figures = `per lost frame, SNR against the lossless decode (dB): FEC ${fmt(fecSnr)} (mean ${mean(fecSnr).toFixed(1)}); PLC ${fmt(plcSnr)} (mean ${mean(plcSnr).toFixed(1)})`;
    // Exactly the losses whose next packet has FEC data are counted as recovered.
    expect(fec.recovered, figures).toBe(covered.length);
    expect(fec.fecSamples, figures).toBe(covered.length * FRAME);
    // Recovered frames are closer to the original than their concealment: nearly all of them
    // (PLC can match a steady stretch by luck), and by a clear margin on average.
    const better = covered.filter((_, k) => (fecSnr[k] ?? 0) > (plcSnr[k] ?? 0)).length;
    expect(better, `${better} of ${covered.length} better; ${figures}`).toBeGreaterThanOrEqual(
      0.8 * covered.length,
    );
    expect(mean(fecSnr) - mean(plcSnr), figures).toBeGreaterThan(6);
    // And the frames after a loss are not worse for it (the decoder's state went through FEC).
    const afterFec = covered.map((i) => snrDb(frameOf(clean.pcm, i + 1), frameOf(fec.pcm, i + 1)));
    const afterPlc = covered.map((i) => snrDb(frameOf(clean.pcm, i + 1), frameOf(plc, i + 1)));
    process.stdout.write(`${figures}\nnext frames: FEC ${fmt(afterFec)}; PLC ${fmt(afterPlc)}\n`);
    expect(mean(afterFec), `next frames: FEC ${fmt(afterFec)}; PLC ${fmt(afterPlc)}`).toBeGreaterThanOrEqual(
      mean(afterPlc) - 0.5,
    );
  });

  it("a sender without FEC: no packet carries LBRR data, and a loss is concealed exactly as PLC does", async () => {
    const packets = await encodeAll(false);
    expect(packets.filter((p) => opusFecSamples(p) > 0)).toHaveLength(0);
    const got = await receive(packets, lostEvery5th);
    const plc = await receivePlc(packets, lostEvery5th);
    expect(got.recovered).toBe(0);
    expect(Array.from(got.pcm)).toEqual(Array.from(plc));
  });

  it("a garbage or truncated next packet does not throw: the gap is concealed, decoding goes on", async () => {
    const packets = await encodeAll(true);
    // Truncated so that its framing breaks (code 1 with an odd length: §3.4 R3): refused for FEC
    // and for decoding alike; the gap is concealed as PLC does.
    const c = await OpusCodec.create();
    const out = new Int16Array(2 * OPUS_MAX_DECODED);
    const good = packets[10] as Uint8Array;
    c.decode(packets[8] as Uint8Array, out);
    const broken = Uint8Array.from([((good[0] ?? 0) & 0xfc) | 1, ...good.subarray(1, 4)]);
    expect(opusFecSamples(broken)).toBe(0);
    expect(c.recover(FRAME, broken, out)).toBe(0);
    c.close();

    // Random bytes and cut packets as the packet after each loss, through the call's path.
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const variants: Array<(p: Uint8Array) => Uint8Array> = [
      (p) => p.subarray(0, 1 + (rand() % Math.max(1, p.length - 1))), // cut
      (p) => Uint8Array.from(p, (b, k) => (k === 0 ? b : rand() & 0xff)), // TOC kept, data random
      () => Uint8Array.from({ length: 1 + (rand() % 200) }, () => rand() & 0xff), // all random
    ];
    for (const v of variants) {
      for (let run = 0; run < 20; run++) {
        const b = await bridge();
        for (let i = 0; i < FRAMES; i++) {
          if (lostEvery5th(i)) continue;
          const p = i > 0 && lostEvery5th(i - 1) ? v(packets[i] as Uint8Array) : (packets[i] as Uint8Array);
          const d = b.decode(p, i * FRAME);
          expect(d).not.toBe("unready");
          if (typeof d === "object") expect(d.samples.length).toBeGreaterThan(0);
        }
        await b.close();
      }
    }
    // A next packet that is CELT-only (no SILK layer, so no FEC data): PLC exactly.
    const celt = Uint8Array.of(0xf8, 1, 2, 3, 4, 5);
    expect(opusFecSamples(celt)).toBe(0);
    const only9 = (i: number) => i === 9;
    const got = await receive(packets, only9, (next, i) => (i === 10 ? celt : next));
    expect(got.recovered).toBe(0);
    expect(Array.from(frameOf(got.pcm, 9))).toEqual(Array.from(frameOf(await receivePlc(packets, only9), 9)));
  });

  it("reads the LBRR flag of each framing (codes 0-3) and of stereo packets, and refuses no valid packet", async () => {
    const packets = await encodeAll(true);
    const p = packets[20] as Uint8Array;
    expect(opusFecSamples(p)).toBe(FRAME);
    const toc = p[0] ?? 0;
    const data = p.subarray(1);
    // Code 1: two frames of equal size, the first one's header read.
    const code1 = Uint8Array.from([(toc & 0xfc) | 1, ...data, ...data]);
    expect(opusFecSamples(code1)).toBe(FRAME);
    // Code 3 VBR with padding: the first frame starts after the padding length and frame lengths.
    const code3 = Uint8Array.from([(toc & 0xfc) | 3, 0xc2, 2, data.length, ...data, ...data, 0, 0]);
    expect(opusFecSamples(code3)).toBe(FRAME);
    // A stereo sender with FEC (libopus's own stereo packets).
    const { createEncoder } = await import("libopus-wasm");
    const st = await createEncoder({
      channels: 2,
      application: 2048,
      bitrate: 48000,
      fec: true,
      packetLossPercent: 10,
      signal: 3001,
    });
    const pcm = voice(10);
    const both = new Int16Array(2 * 10 * FRAME);
    for (let i = 0; i < pcm.length; i++) both[2 * i] = both[2 * i + 1] = pcm[i] ?? 0;
    const stereo = Array.from({ length: 10 }, (_, i) =>
      st.encode(both.subarray(2 * i * FRAME, 2 * (i + 1) * FRAME)),
    );
    st.free();
    expect((stereo[5]?.[0] ?? 0) & 0x04).toBe(0x04);
    expect(stereo.slice(2).every((s) => opusFecSamples(s) === FRAME)).toBe(true);
    // Malformed framing: none.
    expect(opusFecSamples(Uint8Array.of())).toBe(0);
    expect(opusFecSamples(Uint8Array.of(0x09, 1, 2, 3))).toBe(0);
  });
});

describe("a call's statistics", () => {
  it("our answer asks for FEC; a far end that codes it loses every 5th packet: each loss with FEC data is counted recovered", async () => {
    const peer = createSocket("udp4");
    await new Promise<void>((r) => peer.bind(0, "127.0.0.1", () => r()));
    await preloadOpus(); // as while the desk rings
    const f = createMediaFactory({
      audio: { source: { type: "none" }, sink: { type: "none" } },
      rtp: { address: "127.0.0.1", portMin: 31640, portMax: 31660, codecs: ["opus"] },
      log: silentLogger,
    });
    const a = await f.create({ callId: "fec-stats" });
    const answer = a.answer(
      `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${peer.address().port} RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n`,
      { hold: false },
    );
    // The far end's encoder follows our answer's fmtp (RFC 7587 §7: it describes our decoder).
    const fmtp = /a=fmtp:96 (.*)\r\n/.exec(answer)?.[1];
    expect(fmtp).toContain("useinbandfec=1");
    const params = opusSendParams(fmtp);
    expect(params.inbandFec).toBe(true);
    const enc = await OpusCodec.create(params);
    const pcm = voice(60);
    const packets = Array.from({ length: 60 }, (_, i) =>
      enc.encode(pcm.subarray(i * FRAME, (i + 1) * FRAME)),
    );
    enc.close();
    const lost = (i: number) => i % LOSS_EVERY === LOSS_EVERY - 1 && i < 59;
    for (let i = 0; i < packets.length; i++) {
      if (!lost(i)) {
        const payload = packets[i] as Uint8Array;
        peer.send(
          encodeRtp({
            payloadType: 96,
            marker: i === 0,
            sequence: i,
            timestamp: i * FRAME,
            ssrc: 5,
            payload,
          }),
          a.localPort,
          "127.0.0.1",
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 200));
    const d = a.details();
    await a.close();
    peer.close();
    await f.close?.();
    const losses = packets.map((_, i) => i).filter(lost);
    const withFec = losses.filter((i) => opusFecSamples(packets[i + 1] as Uint8Array) > 0);
    const figures = `lost ${losses.length}, of which ${withFec.length} before a packet with FEC data; stats: lost ${d.packetsLost}, recovered ${d.fecRecovered}`;
    expect(d.packetsLost, figures).toBe(losses.length);
    expect(withFec.length, figures).toBeGreaterThan(losses.length / 2);
    expect(d.fecRecovered, figures).toBe(withFec.length);
  });
});
