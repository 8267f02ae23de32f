/**
 * The real capture and playback code (src/audio Microphone and Speaker: arecord and aplay)
 * on the lab's paced virtual sound card (test/lab/sound-card.ts):
 *  - the ALSA parameters the processes actually run with (read from their own `-v` dump):
 *    period ≤ 20 ms, buffer ≤ 80 ms, playback start threshold ≤ 2 periods;
 *  - a real call with baresip: a tone played into the card's microphone reaches baresip, and
 *    baresip's tone comes out of the card's speaker. No WAV shortcut on the daemon's side.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { LATENCY_PROFILES, type LatencyProfile } from "../../src/audio/latency.js";
import { Microphone } from "../../src/audio/microphone.js";
import { Speaker } from "../../src/audio/speaker.js";
import type { SipAction } from "../../src/core/types.js";
import { silentLogger } from "../../src/log/logger.js";
import type { SipAgent } from "../../src/sip/sip-agent.js";
import "../lab/context.js";
import { dominantFrequency, makeTone } from "../lab/audio.js";
import { type Baresip, startBaresip } from "../lab/baresip.js";
import { labKamailio } from "../lab/kamailio.js";
import { baresipPort } from "../lab/ports.js";
import { type Spawned, spawnLogged, stopProcess, waitUntil } from "../lab/proc.js";
import { startDeskOnCard, type VirtualCard } from "../lab/sound-card.js";
import { useVirtualCard } from "../lab/use-virtual-card.js";
import type { Inputs } from "../sip/harness.js";

const lab = inject("lab");
const MIC_HZ = 1000; // the operator's "voice", played into the card's microphone
const FAR_HZ = 600; // the caller's tone, from baresip
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let card: VirtualCard;
useVirtualCard((c) => {
  card = c;
});

describe("the ALSA parameters in force", () => {
  it.each(["low", "normal"] as const)(
    "%s: period ≤ 20 ms, buffer ≤ 80 ms, playback starts within 2 periods",
    async (profile: LatencyProfile) => {
      const latency = LATENCY_PROFILES[profile];
      const rate = 8000;
      const sp = new Speaker({ device: card.pcm.speaker, rate, latency, log: silentLogger });
      const mic = new Microphone({ device: card.pcm.mic, rate, latency, log: silentLogger });
      const frame = new Int16Array(160).fill(1000);
      const feed = setInterval(() => sp.write(frame), 20);
      try {
        const play = await waitUntil("aplay's parameters", () => sp.params ?? undefined, 10_000);
        const rec = await waitUntil("arecord's parameters", () => mic.params ?? undefined, 10_000);
        const ms = (frames: number) => (frames * 1000) / rate;
        for (const p of [play, rec]) {
          expect(p.rate).toBe(rate);
          expect(ms(p.periodSize)).toBeLessThanOrEqual(20);
          expect(ms(p.periodSize)).toBeCloseTo(latency.periodUs / 1000, 0);
          expect(ms(p.bufferSize)).toBeLessThanOrEqual(80);
        }
        expect(play.startThreshold).toBeLessThanOrEqual(2 * play.periodSize);
        expect(rec.startThreshold).toBeLessThanOrEqual(2 * rec.periodSize);
        // and audio flows through both: aplay hands periods to the card, arecord delivers
        await waitUntil("aplay to play", () => sp.pending < 1000 && sp.dropped < 8000, 5000);
        await waitUntil("arecord to deliver", () => mic.bytesReceived > 8000, 5000);
      } finally {
        clearInterval(feed);
        await sp.close();
        await mic.close();
      }
    },
  );
});

describe("a card opened at 48 kHz for an 8 kHz call", () => {
  /** Reads the microphone for `ms` on the send clock's 20 ms pace; returns what it gave. */
  async function capture(mic: Microphone, ms: number): Promise<Int16Array> {
    const out = new Int16Array((ms / 20) * 160);
    const t0 = performance.now();
    for (let i = 0; i < ms / 20; i++) {
      const due = t0 + (i + 1) * 20;
      await sleep(Math.max(0, due - performance.now()));
      mic.read(out.subarray(i * 160, (i + 1) * 160));
    }
    return out;
  }
  const power = (x: Int16Array, rate: number, hz: number) => {
    const w = (2 * Math.PI * hz) / rate;
    let re = 0;
    let im = 0;
    for (let i = 0; i < x.length; i++) {
      re += (x[i] ?? 0) * Math.cos(w * i);
      im += (x[i] ?? 0) * Math.sin(w * i);
    }
    return (re * re + im * im) / x.length;
  };

  it("captures at 48 kHz, keeps a 1 kHz tone and lets no 5 kHz tone fold to 3 kHz", async () => {
    const env = { ...process.env, ...card.alsaEnv };
    const results: Record<number, { p: number; alias: number }> = {};
    for (const hz of [1000, 5000]) {
      const tone = await makeTone(join(card.dir, `t${hz}.wav`), { freq: hz, seconds: 3, rate: 48000 });
      const player = spawnLogged("aplay", ["-q", "-D", card.pcm.micFeed, tone], join(card.dir, "t.log"), {
        env,
      });
      const mic = new Microphone({ device: card.pcm.mic, rate: 8000, deviceRate: 48000, log: silentLogger });
      try {
        await sleep(500);
        const x = await capture(mic, 1500);
        expect(mic.params?.rate).toBe(48000);
        results[hz] = { p: power(x, 8000, hz === 1000 ? 1000 : 3000), alias: power(x, 8000, 3000) };
      } finally {
        await mic.close();
        await stopProcess(player, 1000);
      }
    }
    const kept = results[1000]?.p ?? 0;
    expect(kept).toBeGreaterThan(1e6); // the 1 kHz tone came through the 48 → 8 kHz path
    // 5 kHz at 48 kHz, decimated without a low-pass, would be a 3 kHz tone about as strong.
    expect(results[5000]?.alias ?? Infinity).toBeLessThan(kept * 1e-4);
  });
});

describe("a call through the card", () => {
  let agent: SipAgent;
  let inputs: Inputs;
  let far: Baresip;
  let voice: Spawned | null = null;
  let ear: Spawned | null = null;

  beforeAll(async () => {
    const kamailio = labKamailio(lab.kamailio);
    ({ agent, inputs } = await startDeskOnCard({
      wsPort: lab.kamailio.wsPort,
      mic: card.pcm.mic,
      speaker: card.pcm.speaker,
      latency: LATENCY_PROFILES.normal,
      rtp: { portMin: 22000, portMax: 22999, codecs: ["PCMU", "PCMA"] },
    }));
    const farTone = await makeTone(join(card.dir, "far.wav"), { freq: FAR_HZ, seconds: 30 });
    far = await startBaresip({
      kamailio,
      user: "2002",
      port: await baresipPort(),
      audioFile: farTone,
      record: true,
    });
  }, 120_000);

  afterAll(async () => {
    if (voice) await stopProcess(voice, 1000);
    if (ear) await stopProcess(ear, 1000);
    await agent?.stop();
    await far?.stop();
  });

  it("carries the card's microphone to baresip and baresip's audio to the card's speaker", async () => {
    const env = { ...process.env, ...card.alsaEnv };
    const micTone = await makeTone(join(card.dir, "mic.wav"), { freq: MIC_HZ, seconds: 20, rate: 16000 });
    voice = spawnLogged("aplay", ["-q", "-D", card.pcm.micFeed, micTone], join(card.dir, "voice.log"), {
      env,
    });
    const earFile = join(card.dir, "ear.wav");
    ear = spawnLogged(
      "arecord",
      ["-q", "-D", card.pcm.ear, "-f", "S16_LE", "-r", "8000", "-c", "1", earFile],
      join(card.dir, "ear.log"),
      { env },
    );
    const mark = inputs.mark;
    await far.dial("sip:1018@127.0.0.1");
    const offer = await inputs.waitFor("call_offered", () => true, 10_000, mark);
    await agent.execute({ type: "sip", action: "answer", callId: offer.callId } as {
      type: "sip";
    } & SipAction);
    await inputs.waitFor("call_answered", (i) => i.callId === offer.callId);
    await far.waitFor("CALL_ESTABLISHED");
    await sleep(4000);
    await far.hangup();
    const ended = await inputs.waitFor("call_ended", (i) => i.callId === offer.callId);
    await stopProcess(ear, 1000); // arecord writes the WAV header's sizes when it ends
    ear = null;
    expect(ended.stats?.packetsSent).toBeGreaterThan(100);
    expect(ended.stats?.audioUnderruns).toBeTypeOf("number");
    expect(ended.stats?.audioOverruns).toBeTypeOf("number");
    // what baresip received is the tone played into the card's microphone
    await sleep(500);
    const dec = (await far.recordings())
      .filter((r) => r.endsWith("-dec.wav"))
      .sort()
      .at(-1);
    expect(dec).toBeDefined();
    expect(Math.abs((await dominantFrequency(dec as string, { skipSeconds: 1 })) - MIC_HZ)).toBeLessThan(20);
    // what came out of the card's speaker is baresip's tone
    expect(Math.abs((await dominantFrequency(earFile, { skipSeconds: 1 })) - FAR_HZ)).toBeLessThan(20);
  });
});
