/**
 * A fixed-capacity ring of 16-bit samples. Writing past capacity overwrites the oldest samples
 * and counts them: a producer faster than real time (arecord on the ALSA file plugin delivers
 * hundreds of MB/s) can never grow memory, and the reader always gets the freshest audio.
 */
export class SampleRing {
  private readonly buf: Int16Array;
  private start = 0;
  private size = 0;
  /** Samples overwritten before they were read. */
  dropped = 0;

  constructor(readonly capacity: number) {
    this.buf = new Int16Array(capacity);
  }

  get length(): number {
    return this.size;
  }

  write(samples: Int16Array): void {
    let src = samples;
    if (src.length > this.capacity) {
      this.dropped += src.length - this.capacity;
      src = src.subarray(src.length - this.capacity);
    }
    const overflow = this.size + src.length - this.capacity;
    if (overflow > 0) {
      this.start = (this.start + overflow) % this.capacity;
      this.size -= overflow;
      this.dropped += overflow;
    }
    let end = (this.start + this.size) % this.capacity;
    const first = Math.min(src.length, this.capacity - end);
    this.buf.set(src.subarray(0, first), end);
    if (first < src.length) this.buf.set(src.subarray(first), 0);
    end = (end + src.length) % this.capacity;
    this.size += src.length;
  }

  /** Reads up to out.length samples; returns how many; the rest of `out` is left untouched. */
  read(out: Int16Array): number {
    const n = Math.min(out.length, this.size);
    const first = Math.min(n, this.capacity - this.start);
    out.set(this.buf.subarray(this.start, this.start + first), 0);
    if (first < n) out.set(this.buf.subarray(0, n - first), first);
    this.start = (this.start + n) % this.capacity;
    this.size -= n;
    return n;
  }

  /** Drops the `n` oldest samples (at most what is held), counted as dropped. */
  discard(n: number): void {
    const k = Math.max(0, Math.min(n, this.size));
    this.start = (this.start + k) % this.capacity;
    this.size -= k;
    this.dropped += k;
  }

  clear(): void {
    this.start = 0;
    this.size = 0;
  }
}

/** Turns a byte stream of S16LE into samples, carrying an odd byte over to the next chunk. */
export class S16leAssembler {
  private carry: number | null = null;

  push(chunk: Uint8Array): Int16Array {
    let bytes = chunk;
    if (this.carry !== null) {
      const joined = new Uint8Array(chunk.length + 1);
      joined[0] = this.carry;
      joined.set(chunk, 1);
      bytes = joined;
      this.carry = null;
    }
    const n = bytes.length >> 1;
    if (bytes.length & 1) this.carry = bytes[bytes.length - 1] ?? 0;
    const out = new Int16Array(n);
    const view = new DataView(bytes.buffer, bytes.byteOffset, n * 2);
    for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true);
    return out;
  }
}
