/**
 * Opus packets as RFC 6716 §3 frames them, read without decoding: how much audio a packet
 * carries (the far end may send any frame size from 2.5 to 60 ms, and several frames in one
 * packet), whether its framing is valid (§3.4's requirements R1-R7, so a malformed payload is
 * refused before it reaches libopus), and the one-byte packets the decoder takes as "conceal
 * this much" (§3.2.1: a frame of length 0 is a lost or DTX frame). Pure: no libopus here.
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

/**
 * One-byte packets that make the decoder conceal `samples` (a multiple of 120, at 48 kHz) of
 * lost audio: a TOC alone is one frame of length 0, which libopus takes as a lost frame of that
 * configuration's duration (its PLC; RFC 6716 §4.4 leaves concealment to the decoder). The
 * largest durations first; the stereo bit of the last real packet is kept, so the decoder does
 * not switch channel layout for the concealment.
 */
export function concealmentTocs(samples: number, lastToc: number): number[] {
  const stereo = lastToc & 0x04;
  const lastSize = frameSamplesOf(lastToc);
  // The far end's own configuration when the gap is made of its frames (the usual case).
  if (lastSize > 0 && samples % lastSize === 0) {
    return new Array<number>(samples / lastSize).fill((lastToc & 0xfc) | stereo);
  }
  // Otherwise the fewest frames: SILK NB 60/40/20/10 ms, CELT NB 5 and 2.5 ms.
  const configs: ReadonlyArray<readonly [number, number]> = [
    [2880, 3],
    [1920, 2],
    [960, 1],
    [480, 0],
    [240, 17],
    [120, 16],
  ];
  const out: number[] = [];
  let left = samples;
  for (const [size, config] of configs) {
    while (left >= size) {
      out.push((config << 3) | stereo);
      left -= size;
    }
  }
  return out;
}
