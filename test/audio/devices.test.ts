/**
 * Microphone and speaker wrappers: with fake processes (restart, bounded queues) and with the
 * real arecord/aplay through ALSA `type file` plugins (no sound card on CI machines).
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AudioFault } from "../../src/audio/audio.js";
import { Backoff } from "../../src/audio/backoff.js";
import { type CaptureSpawner, Microphone } from "../../src/audio/microphone.js";
import { type PlaybackSpawner, Speaker } from "../../src/audio/speaker.js";
import { silentLogger } from "../../src/log/logger.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Backoff", () => {
  it("doubles up to the cap and resets after a healthy run", () => {
    const b = new Backoff({ baseMs: 100, maxMs: 1000, healthyAfterMs: 5000, jitter: 0 });
    expect([b.next(0), b.next(0), b.next(0), b.next(0), b.next(0)]).toEqual([100, 200, 400, 800, 1000]);
    expect(b.next(6000)).toBe(100);
  });
});

describe("Microphone with a fake capture", () => {
  it("restarts a dead capture with backoff and reports the fault", async () => {
    const faults: AudioFault[] = [];
    let spawned = 0;
    let kill: ((m: string) => void) | null = null;
    const spawn: CaptureSpawner = (_o, onData, onEnd) => {
      spawned++;
      kill = onEnd;
      onData(new Uint8Array(320).fill(1));
      return { stop: () => undefined };
    };
    const mic = new Microphone({
      device: "x",
      rate: 8000,
      log: silentLogger,
      onFault: (f) => faults.push(f),
      spawn,
    });
    expect(spawned).toBe(1);
    (kill as ((m: string) => void) | null)?.("arecord exited (code 1)");
    expect(faults).toHaveLength(1);
    expect(faults[0]?.device).toBe("microphone");
    expect(faults[0]?.retryInMs).toBeGreaterThan(0);
    await sleep((faults[0]?.retryInMs ?? 0) + 50);
    expect(spawned).toBe(2);
    const f = new Int16Array(160);
    mic.read(f);
    expect(f[0]).toBe(257);
    await mic.close();
    (kill as ((m: string) => void) | null)?.("late exit after close");
    expect(faults).toHaveLength(1);
  });

  it("keeps the buffer capped under a producer hundreds of times faster than real time", async () => {
    let timer: NodeJS.Timeout | null = null;
    const spawn: CaptureSpawner = (_o, onData) => {
      const chunk = new Uint8Array(65536);
      timer = setInterval(() => {
        for (let i = 0; i < 50; i++) onData(chunk); // 3.2 MB per ms tick
      }, 1);
      return { stop: () => timer && clearInterval(timer) };
    };
    const mic = new Microphone({ device: "x", rate: 8000, log: silentLogger, spawn });
    const heapBefore = process.memoryUsage().heapUsed;
    await sleep(300);
    expect(mic.bytesReceived).toBeGreaterThan(50_000_000);
    expect(mic.buffered).toBeLessThanOrEqual(mic.capacity);
    expect(mic.capacity).toBe(1600);
    expect(mic.dropped).toBeGreaterThan(20_000_000);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    await mic.close();
  });
});

describe("Speaker with a fake playback", () => {
  it("queues at most 10 frames while the pipe is full, dropping the oldest, and restarts", async () => {
    const written: number[] = [];
    let full = true;
    let drain: (() => void) | null = null;
    let end: ((m: string) => void) | null = null;
    let spawned = 0;
    const spawn: PlaybackSpawner = (_o, onDrain, onEnd) => {
      spawned++;
      drain = onDrain;
      end = onEnd;
      return {
        write: (b) => {
          written.push(new DataView(b.buffer, b.byteOffset).getInt16(0, true));
          return !full;
        },
        stop: () => undefined,
      };
    };
    const faults: AudioFault[] = [];
    const sp = new Speaker({
      device: "x",
      rate: 8000,
      log: silentLogger,
      spawn,
      onFault: (f) => faults.push(f),
    });
    for (let i = 1; i <= 30; i++) sp.write(new Int16Array(160).fill(i));
    expect(written).toEqual([1]); // first write filled the pipe
    expect(sp.queued).toBe(10);
    expect(sp.dropped).toBe(19 * 160);
    full = false;
    (drain as (() => void) | null)?.();
    expect(written).toEqual([1, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    (end as ((m: string) => void) | null)?.("aplay exited (code 1)");
    expect(faults[0]?.device).toBe("speaker");
    await sleep((faults[0]?.retryInMs ?? 0) + 50);
    expect(spawned).toBe(2);
    await sp.close();
  });
});

describe("real arecord/aplay through ALSA file plugins", () => {
  let dir = "";
  const saved = process.env.ALSA_CONFIG_PATH;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "cuffia-alsa-"));
    writeFileSync(join(dir, "in.raw"), Buffer.alloc(3_200_000, 0x11));
    writeFileSync(
      join(dir, "asound.conf"),
      [
        `pcm.cuffia_cap { type file slave.pcm "null" file "/dev/null" infile "${join(dir, "in.raw")}" format "raw" }`,
        `pcm.cuffia_play { type file slave.pcm "null" file "${join(dir, "out.raw")}" format "raw" }`,
      ].join("\n"),
    );
    // The system alsa.conf first, as platform.md says; children inherit the variable.
    process.env.ALSA_CONFIG_PATH = `/usr/share/alsa/alsa.conf:${join(dir, "asound.conf")}`;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.ALSA_CONFIG_PATH;
    else process.env.ALSA_CONFIG_PATH = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  it("arecord at full speed fills a capped ring; frames carry the file's samples", async () => {
    const mic = new Microphone({ device: "cuffia_cap", rate: 8000, log: silentLogger });
    const f = new Int16Array(160);
    let sawData = false;
    for (let i = 0; i < 40 && !sawData; i++) {
      await sleep(10);
      mic.read(f);
      sawData = f[0] === 0x1111;
    }
    await sleep(300);
    expect(sawData).toBe(true);
    expect(mic.bytesReceived).toBeGreaterThan(3_000_000);
    expect(mic.buffered).toBeLessThanOrEqual(mic.capacity);
    expect(mic.dropped).toBeGreaterThan(1_000_000);
    await mic.close();
  });

  it("aplay plays what the speaker is given", async () => {
    const sp = new Speaker({ device: "cuffia_play", rate: 8000, log: silentLogger });
    for (let i = 0; i < 25; i++) {
      sp.write(new Int16Array(160).fill(1000));
      await sleep(20);
    }
    await sleep(200);
    await sp.close();
    await sleep(100);
    expect(existsSync(join(dir, "out.raw"))).toBe(true);
    expect(statSync(join(dir, "out.raw")).size).toBeGreaterThanOrEqual(20 * 320);
  });
});
