/**
 * The lab's virtual sound card (test/lab/sound-card.ts): a private PulseAudio with null sinks,
 * reached by arecord/aplay through the ALSA pulse plugin. It carries audio, and it is paced
 * like a card: capturing 2 s takes 2 s of wall time (ALSA's `type file` plugin would take ~0).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dominantFrequency, makeTone } from "../lab/audio.js";
import { execFileAsync, spawnLogged, stopProcess } from "../lab/proc.js";
import { startVirtualCard, type VirtualCard } from "../lab/sound-card.js";

let card: VirtualCard;

beforeAll(async () => {
  card = await startVirtualCard();
});

afterAll(async () => {
  await card?.stop();
});

describe("the virtual sound card", () => {
  it("plays what aplay is given into the sink, and arecord captures it from the monitor, paced", async () => {
    const env = { ...process.env, ...card.alsaEnv };
    const tone = await makeTone(join(card.dir, "tone.wav"), { freq: 700, seconds: 4, rate: 16000 });
    const player = spawnLogged("aplay", ["-q", "-D", card.pcm.micFeed, tone], join(card.dir, "aplay.log"), {
      env,
    });
    try {
      const rec = join(card.dir, "rec.wav");
      const t0 = performance.now();
      await execFileAsync(
        "arecord",
        ["-q", "-D", card.pcm.mic, "-f", "S16_LE", "-r", "8000", "-c", "1", "-d", "2", rec],
        { env, timeout: 10_000 },
      );
      const took = performance.now() - t0;
      expect(took).toBeGreaterThan(1800); // paced: 2 s of audio take 2 s
      expect(Math.abs((await dominantFrequency(rec, { skipSeconds: 0.3 })) - 700)).toBeLessThan(10);
    } finally {
      await stopProcess(player, 1000);
    }
  });

  it("is private: its PCM names exist only with its ALSA config, and its server only on its socket", async () => {
    await expect(
      execFileAsync("aplay", ["-q", "-D", card.pcm.speaker, "-d", "1", "/dev/zero"], {
        env: { ...process.env, ALSA_CONFIG_PATH: "" },
        timeout: 5000,
      }),
    ).rejects.toThrow();
    expect(card.server).toContain(card.dir);
    expect(await card.pactl("list", "short", "sinks")).toMatch(/speaker/);
  });
});
