/**
 * Records a call's received audio to a 16-bit mono WAV. The header is written first with a
 * zero length and fixed up at close. Writes are queued on a stream; if the disk falls behind
 * by more than a few seconds, frames are dropped (and counted) rather than buffered without end.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { open } from "node:fs/promises";
import { AudioError, type AudioSink } from "./audio.js";
import { pcmToBytes, wavHeader } from "./wav.js";

const MAX_QUEUED_BYTES = 512 * 1024;

/** `{call}` in the path becomes the call id (only [A-Za-z0-9._-] kept); else the file is overwritten per call. */
export function sinkPath(template: string, callId: string): string {
  const safe = callId.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 100) || "call";
  return template.split("{call}").join(safe);
}

export class FileSink implements AudioSink {
  dropped = 0;
  private bytes = 0;
  private closing: Promise<void> | null = null;

  private constructor(
    readonly rate: number,
    readonly path: string,
    private readonly stream: WriteStream,
  ) {}

  static async open(path: string, rate: number): Promise<FileSink> {
    const stream = createWriteStream(path);
    await new Promise<void>((resolve, reject) => {
      stream.once("open", () => resolve());
      stream.once("error", (e) => reject(new AudioError("io", `cannot write ${path}: ${e.message}`)));
    });
    stream.on("error", () => {
      // reported at close; a failing disk must not take the call down
    });
    stream.write(wavHeader(rate, 0));
    return new FileSink(rate, path, stream);
  }

  write(frame: Int16Array): void {
    if (this.closing) return;
    if (this.stream.writableLength > MAX_QUEUED_BYTES) {
      this.dropped += frame.length;
      return;
    }
    this.stream.write(pcmToBytes(frame));
    this.bytes += frame.length * 2;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await new Promise<void>((resolve) => this.stream.end(() => resolve()));
      // RIFF and data sizes are known only now.
      const fh = await open(this.path, "r+");
      try {
        const h = wavHeader(this.rate, this.bytes);
        await fh.write(h, 0, h.length, 0);
      } finally {
        await fh.close();
      }
    })();
    return this.closing;
  }
}
