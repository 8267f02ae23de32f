/**
 * Opus packets as RFC 6716 §3 frames them, read without decoding: how much audio a packet
 * carries (the far end may send any frame size from 2.5 to 60 ms, and several frames in one
 * packet), whether its framing is valid (§3.4's requirements R1-R7, so a malformed payload is
 * refused before it reaches libopus), and whether a packet carries in-band FEC data for the
 * one before it (its SILK header's LBRR flag, §4.2.3). Pure: no libopus here.
 */

/** Samples per channel at 48 kHz of one frame, by TOC configuration (§3.1, Table 2). */
const FRAME_SAMPLES: readonly number[] = [
  // SILK-only NB, MB, WB: 10, 20, 40, 60 ms
  480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880,
  // Hybrid SWB, FB: 10, 20 ms
  480, 960, 480, 960,
  // CELT-only NB, WB, SWB, FB: 2.5, 5, 10, 20 ms
  120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960,
];

/** R2: no frame is longer than 1275 bytes. */
const MAX_FRAME_BYTES = 1275;
/** R5: a packet carries at most 120 ms. */
const MAX_PACKET_SAMPLES = 5760;

export function frameSamplesOf(toc: number): number {
  return FRAME_SAMPLES[toc >> 3] ?? 0;
}

/** One or two bytes of frame length (§3.2.1); null when the packet ends first. */
function readLength(p: Uint8Array, at: number): { len: number; bytes: number } | null {
  const b0 = p[at];
  if (b0 === undefined) return null;
  if (b0 < 252) return { len: b0, bytes: 1 };
  const b1 = p[at + 1];
  if (b1 === undefined) return null;
  return { len: 4 * b1 + b0, bytes: 2 };
}

/**
 * Samples per channel at 48 kHz the packet decodes to, or null if its framing breaks one of
 * RFC 6716 §3.4's requirements (empty, a frame over 1275 bytes, lengths past the end, code 1
 * with an odd size, code 3 with no frames, over 120 ms, or CBR sizes that do not divide).
 */
export function opusPacketSamples(p: Uint8Array): number | null {
  const toc = p[0];
  if (toc === undefined) return null; // R1: at least one byte
  const frame = frameSamplesOf(toc);
  const rest = p.length - 1;
  switch (toc & 0x03) {
    case 0:
      return rest <= MAX_FRAME_BYTES ? frame : null;
    case 1:
      return rest % 2 === 0 && rest / 2 <= MAX_FRAME_BYTES ? 2 * frame : null; // R3
    case 2: {
      const l = readLength(p, 1);
      if (!l) return null;
      const second = rest - l.bytes - l.len;
      return second >= 0 && l.len <= MAX_FRAME_BYTES && second <= MAX_FRAME_BYTES ? 2 * frame : null; // R4
    }
    default: {
      const fc = p[1];
      if (fc === undefined) return null;
      const count = fc & 0x3f;
      if (count === 0 || count * frame > MAX_PACKET_SAMPLES) return null; // R5
      let at = 2;
      let padding = 0;
      if (fc & 0x40) {
        // §3.2.5: each 255 means 254 bytes of padding and one more length byte follows.
        for (;;) {
          const b = p[at++];
          if (b === undefined) return null;
          padding += b === 255 ? 254 : b;
          if (b !== 255) break;
        }
      }
      let left = p.length - at - padding;
      if (left < 0) return null;
      if (fc & 0x80) {
        // VBR (R7): count - 1 lengths, the last frame takes what is left.
        for (let i = 0; i < count - 1; i++) {
          const l = readLength(p, at);
          if (!l) return null;
          at += l.bytes;
          left -= l.bytes + l.len;
          if (l.len > MAX_FRAME_BYTES || left < 0) return null;
        }
        return left <= MAX_FRAME_BYTES ? count * frame : null;
      }
      // CBR (R6): every frame the same size.
      return left % count === 0 && left / count <= MAX_FRAME_BYTES ? count * frame : null;
    }
  }
}

/** Where the first frame's bytes are in a packet whose framing is valid (opusPacketSamples). */
function firstFrame(p: Uint8Array): { at: number; len: number } | null {
  const toc = p[0];
  if (toc === undefined || opusPacketSamples(p) === null) return null;
  switch (toc & 0x03) {
    case 0:
      return { at: 1, len: p.length - 1 };
    case 1:
      return { at: 1, len: (p.length - 1) / 2 };
    case 2: {
      const l = readLength(p, 1);
      return l && { at: 1 + l.bytes, len: l.len };
    }
    default: {
      const fc = p[1] ?? 0;
      const count = fc & 0x3f;
      let at = 2;
      let padding = 0;
      if (fc & 0x40) {
        for (;;) {
          const b = p[at++] ?? 0;
          padding += b === 255 ? 254 : b;
          if (b !== 255) break;
        }
      }
      if (!(fc & 0x80)) return { at, len: (p.length - at - padding) / count };
      // VBR: the frames follow all count - 1 lengths; the first length is the first frame's.
      const first = readLength(p, at);
      if (!first) return null;
      for (let i = 0; i < count - 1; i++) at += readLength(p, at)?.bytes ?? 0;
      return { at, len: first.len };
    }
  }
}

/**
 * The first bits of a frame's range-coded data (RFC 6716 §4.1: the decoder's initialisation
 * §4.1.1 and ec_dec_bit_logp, §4.1.3.2), enough to read the SILK header's flags. Bytes past the
 * frame's end read as zeros, as in libopus.
 */
class RangeBits {
  private rng = 128;
  private val: number;
  private rem: number;
  private at: number;

  constructor(
    private readonly p: Uint8Array,
    from: number,
    private readonly end: number,
  ) {
    this.at = from;
    this.rem = this.byte();
    this.val = 127 - (this.rem >> 1);
    this.normalize();
  }

  private byte(): number {
    return this.at < this.end ? (this.p[this.at++] ?? 0) : 0;
  }

  private normalize(): void {
    while (this.rng <= 0x80_0000) {
      this.rng *= 256;
      const sym = this.rem;
      this.rem = this.byte();
      const s = ((sym << 8) | this.rem) >> 1;
      this.val = (this.val * 256 + (255 & ~s)) % 0x8000_0000;
    }
  }

  /** One bit of probability 1/2 (logp = 1). */
  bit(): boolean {
    const s = Math.floor(this.rng / 2);
    const one = this.val < s;
    if (!one) this.val -= s;
    this.rng = one ? s : this.rng - s;
    this.normalize();
    return one;
  }
}

/**
 * Samples (per channel, at 48 kHz) of in-band FEC data that a packet carries for the audio just
 * before it: its first frame's duration when that frame is SILK or hybrid and its SILK header
 * sets the LBRR flag of a channel (RFC 6716 §4.2.3: per channel, one VAD flag per SILK frame
 * then the LBRR flag; §4.2.4); 0 for a CELT-only frame, a frame with no LBRR data (FEC off at
 * the sender, or nothing worth protecting), or malformed framing. Read, not decoded.
 */
export function opusFecSamples(p: Uint8Array): number {
  const toc = p[0];
  const frame = firstFrame(p);
  if (toc === undefined || !frame || frame.len <= 0) return 0;
  const config = toc >> 3;
  if (config >= 16) return 0; // CELT-only: no SILK layer
  const samples = frameSamplesOf(toc);
  // SILK frames in this Opus frame: one per 20 ms (a 10 ms frame is one SILK frame too).
  const silkFrames = config < 12 ? Math.max(1, samples / 960) : 1;
  const bits = new RangeBits(p, frame.at, frame.at + frame.len);
  const channels = toc & 0x04 ? 2 : 1;
  let lbrr = false;
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < silkFrames; i++) bits.bit(); // VAD flags
    if (bits.bit()) lbrr = true;
  }
  return lbrr ? samples : 0;
}
