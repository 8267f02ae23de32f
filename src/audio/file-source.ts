/**
 * Announcements and test audio from a WAV file. The file is read once at open (capped), turned
 * into mono at the wanted rate, and handed out frame by frame as the RTP clock pulls: the
 * pacing is the caller's. At the end it loops or goes silent.
 */
import { readFile, stat } from "node:fs/promises";
import { AudioError, type AudioSource } from "./audio.js";
import { resampleAll } from "./resample.js";
import { downmix, parseWav } from "./wav.js";

const MAX_FILE_BYTES = 64 * 1024 * 1024;

export class FileSource implements AudioSource {
  readonly dropped = 0;
  private pos = 0;

  private constructor(
    readonly rate: number,
    private readonly samples: Int16Array,
    private readonly loop: boolean,
  ) {}

  static async open(path: string, rate: number, loop: boolean): Promise<FileSource> {
    let data: Buffer;
    try {
      const s = await stat(path);
      if (s.size > MAX_FILE_BYTES) {
        throw new AudioError(
          "unsupported",
          `${path}: ${s.size} bytes is more than the ${MAX_FILE_BYTES} allowed`,
        );
      }
      data = await readFile(path);
    } catch (e) {
      if (e instanceof AudioError) throw e;
      throw new AudioError("io", `cannot read ${path}: ${(e as Error).message}`);
    }
    const wav = parseWav(data, path);
    const mono = downmix(wav.samples, wav.channels);
    return new FileSource(rate, resampleAll(mono, wav.rate, rate), loop);
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
