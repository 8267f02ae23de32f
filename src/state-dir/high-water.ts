/**
 * A number that must never go back across crashes (the outbox's seq reservation, the desk's boot
 * count), kept in a small file that is overwritten in place: once created, writing it needs no
 * new disk block, so it still works on a full disk.
 *
 * Two fixed-size slots in different sectors (offsets 0 and 512), each `gen value check`. A write
 * goes to the slot the previous one did not use, then datasync; a power cut can tear only the
 * slot being written, whose check then fails, and the reader takes the valid slot with the
 * highest generation: the old value, or the new one, never garbage.
 */
import { mkdir, open, readFile, rename } from "node:fs/promises";
import { dirname } from "node:path";

/** The few calls this file (and the outbox) make on a file; Node's FileHandle has them. */
export interface StoreFile {
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number | null,
  ): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  truncate(len?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The file system calls of the durable stores, injectable so a test can make a write fail or
 * come up short (ENOSPC) at a chosen point. `nodeStoreFs` is the real one.
 */
export interface StoreFs {
  open(path: string, flags: string): Promise<StoreFile>;
  readFile(path: string): Promise<Buffer>;
  rename(from: string, to: string): Promise<void>;
  mkdir(dir: string): Promise<void>;
}

export const nodeStoreFs: StoreFs = {
  open: (path, flags) => open(path, flags, 0o640),
  readFile: (path) => readFile(path),
  rename: (from, to) => rename(from, to),
  mkdir: async (dir) => {
    await mkdir(dir, { recursive: true });
  },
};

/** A write that stored fewer bytes than asked (the disk filled up during it). */
export class ShortWriteError extends Error {
  readonly code = "ESHORTWRITE";
  constructor(
    readonly written: number,
    readonly wanted: number,
  ) {
    super(`short write: ${written} of ${wanted} bytes (disk full?)`);
  }
}

/** Writes all of `data` at `position` (null: at the file's end), or throws ShortWriteError. */
export async function writeFully(file: StoreFile, data: Uint8Array, position: number | null): Promise<void> {
  let done = 0;
  while (done < data.byteLength) {
    const { bytesWritten } = await file.write(
      data,
      done,
      data.byteLength - done,
      position === null ? null : position + done,
    );
    // A write that makes no progress will not make any on a retry either (full disk).
    if (bytesWritten <= 0) throw new ShortWriteError(done, data.byteLength);
    done += bytesWritten;
  }
}

export async function fsyncDir(fs: StoreFs, dir: string): Promise<void> {
  const fh = await fs.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const SLOT_BYTES = 64;
const SLOT_STRIDE = 512;

/** FNV-1a, enough to tell a torn slot from a whole one. */
function check(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

function encodeSlot(gen: number, value: number): Buffer {
  const body = `${gen} ${value}`;
  const buf = Buffer.alloc(SLOT_BYTES, 0x20);
  buf.write(`${body} ${check(body)}\n`, "ascii");
  return buf;
}

function decodeSlot(buf: Buffer): { gen: number; value: number } | null {
  const m = /^(\d+) (\d+) ([0-9a-f]{8})\n/.exec(buf.toString("ascii"));
  if (!m || check(`${m[1]} ${m[2]}`) !== m[3]) return null;
  const gen = Number(m[1]);
  const value = Number(m[2]);
  return Number.isSafeInteger(gen) && Number.isSafeInteger(value) ? { gen, value } : null;
}

export class HighWaterFile {
  private constructor(
    readonly path: string,
    private readonly fs: StoreFs,
    private gen: number,
    private _value: number,
    private exists: boolean,
  ) {}

  /** Reads the file; a missing or wholly unreadable one is 0 (and `found` false). */
  static async open(path: string, fs: StoreFs = nodeStoreFs): Promise<HighWaterFile> {
    let data: Buffer | null = null;
    try {
      data = await fs.readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    let best: { gen: number; value: number } | null = null;
    if (data) {
      for (const at of [0, SLOT_STRIDE]) {
        const slot =
          data.byteLength >= at + SLOT_BYTES ? decodeSlot(data.subarray(at, at + SLOT_BYTES)) : null;
        if (slot && (best === null || slot.gen > best.gen)) best = slot;
      }
    }
    return new HighWaterFile(path, fs, best?.gen ?? 0, best?.value ?? 0, data !== null && best !== null);
  }

  get value(): number {
    return this._value;
  }

  /** Whether a valid value was read or written (false on a first start or a destroyed file). */
  get found(): boolean {
    return this.exists;
  }

  /** Makes `value` durable (datasync'd) before resolving; on failure the old value stands. */
  async set(value: number): Promise<void> {
    const gen = this.gen + 1;
    const slot = encodeSlot(gen, value);
    if (!this.exists) {
      // Created whole (both slots) so later writes only overwrite allocated bytes.
      const buf = Buffer.alloc(SLOT_STRIDE + SLOT_BYTES, 0x20);
      slot.copy(buf, (gen % 2) * SLOT_STRIDE);
      const tmp = `${this.path}.tmp`;
      const fh = await this.fs.open(tmp, "w");
      try {
        await writeFully(fh, buf, 0);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.fs.rename(tmp, this.path);
      await fsyncDir(this.fs, dirname(this.path));
    } else {
      const fh = await this.fs.open(this.path, "r+");
      try {
        await writeFully(fh, slot, (gen % 2) * SLOT_STRIDE);
        await fh.datasync();
      } finally {
        await fh.close();
      }
    }
    this.exists = true;
    this.gen = gen;
    this._value = value;
  }
}
