/**
 * Announcements and test audio from a WAV file. The file is read once at open (capped), turned
 * into mono at the wanted rate, and handed out frame by frame as the RTP clock pulls: the
 * pacing is the caller's. At the end it loops or goes silent.
 *
 * A desk plays the same file on every call: a PcmCache (one per media factory) keeps the
 * decoded samples keyed by path, size, modification time and rate, so a call costs a stat()
 * instead of reading, parsing and resampling the file again. Sources only read the samples.
 */
import { readFile, stat } from "node:fs/promises";
import { AudioError, type AudioSource } from "./audio.js";
import { resampleAll } from "./resample.js";
import { downmix, parseWav } from "./wav.js";

const MAX_FILE_BYTES = 64 * 1024 * 1024;

/** Decoded files kept, bounded by their total size (least recently used dropped first). */
export class PcmCache {
  private readonly entries = new Map<string, Promise<Int16Array>>();
  private readonly bytes = new Map<string, number>();
  private total = 0;
  /** Files decoded (cache misses), for tests and logs. */
  decoded = 0;

  constructor(
    readonly maxBytes = 32 * 1024 * 1024,
    readonly maxEntries = 16,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The samples for `key`, decoding with `load` when absent (concurrent callers share one load). */
  get(key: string, load: () => Promise<Int16Array>): Promise<Int16Array> {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key); // re-insert: Map order is the LRU order
      this.entries.set(key, hit);
      return hit;
    }
    this.decoded++;
    const p = load();
    this.entries.set(key, p);
    p.then(
      (samples) => {
        if (this.entries.get(key) !== p) return; // evicted or replaced meanwhile
        if (samples.byteLength > this.maxBytes) {
          this.entries.delete(key);
          return;
        }
        this.bytes.set(key, samples.byteLength);
        this.total += samples.byteLength;
        this.evict();
      },
      () => {
        if (this.entries.get(key) === p) this.entries.delete(key); // failures are not kept
      },
    );
    return p;
  }

  /** Drops the entries starting with `prefix` but `keep` (older versions of a changed file). */
  forget(prefix: string, keep: string): void {
    for (const k of [...this.entries.keys()]) if (k !== keep && k.startsWith(prefix)) this.drop(k);
  }

  private drop(key: string): void {
    this.entries.delete(key);
    this.total -= this.bytes.get(key) ?? 0;
    this.bytes.delete(key);
  }

  private evict(): void {
    for (const k of this.entries.keys()) {
      if (this.total <= this.maxBytes && this.entries.size <= this.maxEntries) return;
      if (this.bytes.has(k)) this.drop(k); // loads in flight are not counted yet: kept
    }
  }
}

export class FileSource implements AudioSource {
  readonly dropped = 0;
  private pos = 0;

  private constructor(
    readonly rate: number,
    private readonly samples: Int16Array,
    private readonly loop: boolean,
  ) {}

  static async open(path: string, rate: number, loop: boolean, cache?: PcmCache): Promise<FileSource> {
    let size: number;
    let mtimeMs: number;
    try {
      const s = await stat(path);
      size = s.size;
      mtimeMs = s.mtimeMs;
    } catch (e) {
      throw new AudioError("io", `cannot read ${path}: ${(e as Error).message}`);
    }
    if (size > MAX_FILE_BYTES) {
      throw new AudioError(
        "unsupported",
        `${path}: ${size} bytes is more than the ${MAX_FILE_BYTES} allowed`,
      );
    }
    const load = () => decodeFile(path, rate);
    if (!cache) return new FileSource(rate, await load(), loop);
    const prefix = `${path}\0${rate}\0`;
    const key = `${prefix}${size}\0${mtimeMs}`;
    cache.forget(prefix, key);
    return new FileSource(rate, await cache.get(key, load), loop);
  }
  read(frame: Int16Array): void {
    let filled = 0;
    while (filled < frame.length) {
      if (this.pos >= this.samples.length) {
        if (!this.loop || this.samples.length === 0) break;
        this.pos = 0;
      }
      const n = Math.min(frame.length - filled, this.samples.length - this.pos);
      frame.set(this.samples.subarray(this.pos, this.pos + n), filled);
      this.pos += n;
      filled += n;
    }
    frame.fill(0, filled);
  }

  async close(): Promise<void> {}
}

async function decodeFile(path: string, rate: number): Promise<Int16Array> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (e) {
    throw new AudioError("io", `cannot read ${path}: ${(e as Error).message}`);
  }
  if (data.length > MAX_FILE_BYTES) {
    throw new AudioError(
      "unsupported",
      `${path}: ${data.length} bytes is more than the ${MAX_FILE_BYTES} allowed`,
    );
  }
  const wav = parseWav(data, path);
  return resampleAll(downmix(wav.samples, wav.channels), wav.rate, rate);
}
