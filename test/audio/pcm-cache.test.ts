import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FileSource, PcmCache } from "../../src/audio/file-source.js";
import { goertzel, makeTone } from "../media/tone.js";

const dir = mkdtempSync(join(tmpdir(), "cuffia-pcm-cache-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const frameOf = async (path: string, rate: number, cache: PcmCache): Promise<Int16Array> => {
  const s = await FileSource.open(path, rate, true, cache);
  const f = new Int16Array(rate / 10); // 100 ms
  s.read(f);
  return f;
};

describe("PcmCache (a call's WAV decoded once, not on every call)", () => {
  it("decodes a file once for many calls, and again when the file changes", async () => {
    const path = join(dir, "a.wav");
    makeTone(path, 440, 8000, 1);
    const cache = new PcmCache();
    const frames = await Promise.all([1, 2, 3].map(() => frameOf(path, 8000, cache)));
    frames.push(await frameOf(path, 8000, cache));
    expect(cache.decoded).toBe(1);
    for (const f of frames) expect(Array.from(f)).toEqual(Array.from(frames[0] ?? []));
    expect(goertzel(frames[0] ?? new Int16Array(), 8000, 440)).toBeGreaterThan(1000);

    // Another tone, same path (and a different mtime): the next call hears the new file.
    makeTone(path, 1000, 8000, 1.5);
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    const changed = await frameOf(path, 8000, cache);
    expect(cache.decoded).toBe(2);
    expect(goertzel(changed, 8000, 1000)).toBeGreaterThan(20 * goertzel(changed, 8000, 440));
    expect(cache.size).toBe(1); // the old version was forgotten
  });

  it("keeps one entry per rate, and stays within its bounds (least recently used goes)", async () => {
    const cache = new PcmCache(50_000, 3); // one second at 8 kHz (16 kB) and at 16 kHz (32 kB) fit
    const a = join(dir, "b.wav");
    makeTone(a, 440, 8000, 1);
    await frameOf(a, 8000, cache);
    await frameOf(a, 16000, cache);
    await frameOf(a, 8000, cache);
    await frameOf(a, 16000, cache);
    expect(cache.decoded).toBe(2);
    expect(cache.size).toBe(2);
    // A third entry of 16 kB would pass 50 kB: the least recently used (8 kHz) goes.
    const c = join(dir, "c.wav");
    makeTone(c, 440, 8000, 1);
    await frameOf(c, 8000, cache);
    expect(cache.size).toBe(2);
    await frameOf(a, 16000, cache);
    expect(cache.decoded).toBe(3);
    await frameOf(a, 8000, cache);
    expect(cache.decoded).toBe(4);
    // Never more than maxEntries.
    const others = ["d", "e", "f", "g"].map((n) => join(dir, `${n}.wav`));
    for (const p of others) makeTone(p, 440, 8000, 0.1);
    for (const p of others) await frameOf(p, 8000, cache);
    expect(cache.size).toBe(3);
  });

  it("does not keep failures or files larger than its budget", async () => {
    const cache = new PcmCache(1000);
    const missing = join(dir, "missing.wav");
    await expect(FileSource.open(missing, 8000, false, cache)).rejects.toMatchObject({ code: "io" });
    const bad = join(dir, "bad.wav");
    writeFileSync(bad, "not a wav");
    await expect(FileSource.open(bad, 8000, false, cache)).rejects.toMatchObject({ code: "unsupported" });
    await expect(FileSource.open(bad, 8000, false, cache)).rejects.toMatchObject({ code: "unsupported" });
    expect(cache.decoded).toBe(2); // the failure was tried again, not remembered
    const big = join(dir, "big.wav");
    makeTone(big, 440, 8000, 1); // 16 kB decoded
    await frameOf(big, 8000, cache);
    expect(cache.size).toBe(0);
  });
});
