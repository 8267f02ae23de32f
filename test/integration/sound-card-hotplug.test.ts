/**
 * Hotplug of the headset's sound card in a call (issue 13 item 3), on the lab's virtual card:
 * the headset's source and sink are removed (`pactl unload-module`, which makes arecord and aplay
 * on them fail as an unplugged USB card does) while a call with baresip runs, then added back
 * under the same names. The call goes on with silence both ways, and audio comes back both ways
 * within 3 s of the "replug", through the same device names (on a real card: its id, see
 * src/audio/card.ts and its unit test).
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { AudioFault } from "../../src/audio/audio.js";
import { DEFAULT_LATENCY } from "../../src/audio/latency.js";
import type { SipAction } from "../../src/core/types.js";
import type { SipAgent } from "../../src/sip/sip-agent.js";
import "../lab/context.js";
import { makeTone, readWav, wavComplete } from "../lab/audio.js";
import { type Baresip, startBaresip } from "../lab/baresip.js";
import { labKamailio } from "../lab/kamailio.js";
import { baresipPort } from "../lab/ports.js";
import { type Spawned, spawnLogged, stopProcess, waitUntil } from "../lab/proc.js";
import { startDeskOnCard, type VirtualCard } from "../lab/sound-card.js";
import { useVirtualCard } from "../lab/use-virtual-card.js";
import type { Inputs } from "../sip/harness.js";

const lab = inject("lab");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WINDOW_MS = 100;

let card: VirtualCard;
useVirtualCard((c) => {
  card = c;
});

/** RMS of 100 ms windows of what the headset's speaker played, stamped with wall time. */
function listen(): { levels: Array<{ at: number; rms: number }>; stop: () => void } {
  const levels: Array<{ at: number; rms: number }> = [];
  const rec = spawn(
    "arecord",
    ["-q", "-D", card.pcm.ear, "-t", "raw", "-f", "S16_LE", "-r", "8000", "-c", "1"],
    {
      env: { ...process.env, ...card.alsaEnv },
      stdio: ["ignore", "pipe", "ignore"],
    },
  );
  let pending = Buffer.alloc(0);
  const win = (8000 * WINDOW_MS) / 1000;
  rec.stdout.on("data", (b: Buffer) => {
    pending = Buffer.concat([pending, b]);
    while (pending.length >= win * 2) {
      let sum = 0;
      for (let i = 0; i < win; i++) sum += pending.readInt16LE(i * 2) ** 2;
      levels.push({ at: performance.now(), rms: Math.sqrt(sum / win) });
      pending = pending.subarray(win * 2);
    }
  });
  return { levels, stop: () => rec.kill() };
}

/** RMS per 100 ms window of a WAV (first channel, scaled to 16 bits). */
async function wavLevels(path: string): Promise<number[]> {
  const w = await readWav(path);
  const win = (w.rate * WINDOW_MS) / 1000;
  const out: number[] = [];
  for (let i = 0; i + win <= w.samples.length; i += win) {
    let sum = 0;
    for (let j = 0; j < win; j++) sum += ((w.samples[i + j] ?? 0) * 32768) ** 2;
    out.push(Math.sqrt(sum / win));
  }
  return out;
}

describe("the headset's sound card unplugged and plugged back during a call", () => {
  let agent: SipAgent;
  let inputs: Inputs;
  let far: Baresip;
  let voice: Spawned | null = null;
  const faults: AudioFault[] = [];

  beforeAll(async () => {
    const kamailio = labKamailio(lab.kamailio);
    ({ agent, inputs } = await startDeskOnCard({
      wsPort: lab.kamailio.wsPort,
      mic: card.pcm.headsetMic,
      speaker: card.pcm.headsetSpeaker,
      latency: DEFAULT_LATENCY, // what a desk runs with (`low` since it became the default)
      rtp: { portMin: 22000, portMax: 22999, codecs: ["PCMU", "PCMA"] },
      onAudioFault: (_call, f) => faults.push(f),
    }));
    far = await startBaresip({
      kamailio,
      user: "2002",
      port: await baresipPort(),
      audioFile: await makeTone(join(card.dir, "far.wav"), { freq: 600, seconds: 60 }),
      record: true,
    });
  }, 120_000);

  afterAll(async () => {
    if (voice) await stopProcess(voice, 1000);
    await agent?.stop();
    await far?.stop();
  });

  it("goes silent both ways, keeps the call, and carries audio again within 3 s of the replug", async () => {
    const env = { ...process.env, ...card.alsaEnv };
    const micTone = await makeTone(join(card.dir, "mic.wav"), { freq: 1000, seconds: 40, rate: 16000 });
    voice = spawnLogged("aplay", ["-q", "-D", card.pcm.micFeed, micTone], join(card.dir, "voice.log"), {
      env,
    });
    const ear = listen();
    try {
      const mark = inputs.mark;
      await far.dial("sip:1018@127.0.0.1");
      const offer = await inputs.waitFor("call_offered", () => true, 10_000, mark);
      await agent.execute({ type: "sip", action: "answer", callId: offer.callId } as {
        type: "sip";
      } & SipAction);
      await inputs.waitFor("call_answered", (i) => i.callId === offer.callId);
      await far.waitFor("CALL_ESTABLISHED");
      const t0 = performance.now();
      const loud = (from: number, to: number) =>
        ear.levels.filter((l) => l.at > from && l.at <= to && l.rms > 1000).length;
      await waitUntil("the caller heard on the headset", () => loud(t0, performance.now()) >= 5, 10_000);

      const unplugAt = performance.now();
      await card.unplugHeadset();
      await waitUntil("both device processes to report the unplug", () => faults.length >= 2, 5000);
      await sleep(4000);
      const replugAt = performance.now();
      await card.plugHeadset();
      await sleep(4000);
      const endAt = performance.now();

      // The call lived through it.
      expect(inputs.all.filter((i) => i.type === "call_ended")).toHaveLength(0);
      expect(new Set(faults.map((f) => f.device))).toEqual(new Set(["microphone", "speaker"]));
      expect(faults.every((f) => f.retryInMs !== null && f.retryInMs <= 1000)).toBe(true);

      // The operator's ear: silence while unplugged (nothing plays), the caller within 3 s after.
      const quiet = ear.levels.filter((l) => l.at > unplugAt + 500 && l.at <= replugAt);
      expect(quiet.length).toBeGreaterThan(20);
      expect(quiet.every((l) => l.rms < 100)).toBe(true);
      const back = ear.levels.find((l) => l.at > replugAt && l.rms > 1000);
      expect(back, "the caller heard again after the replug").toBeDefined();
      expect((back?.at ?? Infinity) - replugAt).toBeLessThan(3000);

      await far.hangup();
      await inputs.waitFor("call_ended", (i) => i.callId === offer.callId);
      // The caller's side: what baresip received, on the call's timeline (from its start).
      await sleep(500);
      const dec = (await far.recordings())
        .filter((r) => r.endsWith("-dec.wav"))
        .sort()
        .at(-1);
      expect(dec).toBeDefined();
      await waitUntil("baresip's recording", () => wavComplete(dec as string), 5000);
      const got = await wavLevels(dec as string);
      const at = (t: number) => Math.floor((t - t0) / WINDOW_MS);
      expect(got.length).toBeGreaterThan(at(endAt) - 10);
      // silence from shortly after the unplug until the replug (a 300 ms margin: the recording
      // starts a little before t0), the operator's voice again within 3 s of the replug.
      const silent = got.slice(at(unplugAt) + 8, at(replugAt) - 3);
      expect(silent.length).toBeGreaterThan(20);
      expect(Math.max(...silent)).toBeLessThan(100);
      expect(Math.max(...got.slice(0, at(unplugAt)))).toBeGreaterThan(1000);
      const backAt = got.findIndex((rms, i) => i >= at(replugAt) && rms > 1000);
      expect(backAt, "the operator heard again after the replug").toBeGreaterThan(0);
      expect((backAt - at(replugAt)) * WINDOW_MS).toBeLessThan(3000);
    } finally {
      ear.stop();
    }
  });
});
