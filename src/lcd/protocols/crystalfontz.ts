/**
 * Crystalfontz packet protocol, CFA-533/631/633/635 (reference/serial-lcd.md § 4): type, length,
 * data, CRC-16/X-25 low byte first. One packet in flight; the adapter waits for the reply
 * (0x40 | type) or the error reply (0xC0 | type).
 */
import { type Chunk, clampByte, type InitOptions, type Protocol } from "./protocol.js";

export const CFA_MAX_DATA = 22;
/** Command 31 carries column, row and up to 20 text bytes. */
const CFA_MAX_TEXT = 20;

/** CRC-16/X-25: reflected poly 0x8408, init FFFF, final ones' complement (CFontz633io.c get_crc). */
export function cfaCrc(bytes: Iterable<number>): number {
  let reg = 0xffff;
  for (const byte of bytes) {
    reg ^= byte & 0xff;
    for (let i = 0; i < 8; i++) reg = reg & 1 ? (reg >>> 1) ^ 0x8408 : reg >>> 1;
  }
  return ~reg & 0xffff;
}

export function cfaPacket(type: number, data: readonly number[] = []): Buffer {
  if (data.length > CFA_MAX_DATA) throw new RangeError("CFA payload is 22 bytes at most");
  const head = [type & 0xff, data.length, ...data.map((b) => b & 0xff)];
  const crc = cfaCrc(head);
  return Buffer.from([...head, crc & 0xff, crc >>> 8]);
}

const cmd = (type: number, data: readonly number[] = []): Chunk => ({
  bytes: cfaPacket(type, data),
  reply: 0x40 | type,
});

export function crystalfontz(model: { contrastMax?: number } = {}): Protocol {
  return {
    // Packet overhead of command 31 (type, len, col, row, crc×2).
    gotoCost: 6,
    init(o: InitOptions): Chunk[] {
      const out: Chunk[] = [cmd(12, [0])]; // cursor hidden
      // Contrast is 0–50 on CFA-533/633, 0–255 on 631/635 (CFontzPacket_set_contrast).
      if (o.contrast !== undefined) out.push(cmd(13, [clampByte(o.contrast, model.contrastMax ?? 255)]));
      if (o.backlight?.level !== undefined)
        out.push(cmd(14, [Math.round((clampByte(o.backlight.level) * 100) / 255)]));
      out.push(cmd(6)); // clear, once
      o.glyphs.slice(0, 8).forEach((g, n) => {
        out.push(cmd(9, [n, ...g.rows.slice(0, 8).map((r) => r & 0x3f)]));
      });
      return out;
    },
    write(col, row, text): Chunk[] {
      const out: Chunk[] = [];
      for (let i = 0; i < text.length; i += CFA_MAX_TEXT) {
        out.push(cmd(31, [col + i, row, ...text.slice(i, i + CFA_MAX_TEXT)]));
      }
      return out;
    },
  };
}
