/**
 * An independent model of the displays, for tests: replays the bytes a protocol encoder produced
 * onto a virtual panel (DDRAM + CGRAM) and says what a person would read. Written from the
 * reference (shared/reference/serial-lcd.md §§ 2–5, 8), not from src/lcd, so an encoder bug and
 * a decoder bug do not cancel out. Commands that write EEPROM are recorded in `persisted`.
 */
import { GLYPH_BITMAPS } from "../../src/lcd/glyphs.js";

export type Driver = "matrix-orbital" | "sparkfun-serlcd" | "crystalfontz" | "hd44780-serial" | "terminal";
export type Rom = "a00" | "a02" | "crystalfontz";

/** What each ROM shows for a code, from the HD44780U / CFA datasheet tables (subset we need). */
function romChar(rom: Rom, b: number): string {
  if (rom === "a00") {
    const hi: Record<number, string> = {
      92: "¥",
      126: "→",
      127: "←",
      225: "ä",
      239: "ö",
      245: "ü",
      238: "ñ",
      223: "°",
      226: "β",
    };
    if (hi[b]) return hi[b];
    return b >= 0x20 && b < 0x7e ? String.fromCharCode(b) : "¤";
  }
  if (rom === "a02") {
    if (b >= 0x20 && b <= 0x7e) return String.fromCharCode(b);
    return b >= 0xa1 && b <= 0xff && ![0xa8, 0xb4, 0xb8].includes(b) ? String.fromCharCode(b) : "¤";
  }
  const cfa: Record<number, string> = {
    127: "à",
    164: "è",
    165: "é",
    167: "ì",
    168: "ò",
    166: "ù",
    200: "ç",
    125: "ñ",
    231: "á",
    232: "í",
    233: "ó",
    234: "ú",
    123: "ä",
    124: "ö",
    126: "ü",
    160: "@",
    162: "$",
    64: "¡",
    96: "¿",
    191: "É",
    199: "ê",
    237: "ô",
    196: "_",
  };
  if (cfa[b]) return cfa[b];
  if ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a))
    return String.fromCharCode(b);
  return b >= 0x20 && b < 0x7b && !"$@[\\]^_`{|}~".includes(String.fromCharCode(b))
    ? String.fromCharCode(b)
    : "¤";
}

const bitmapKey = (rows: readonly number[]) => rows.map((r) => r & 0x1f).join(",");
const LETTER_OF_BITMAP = new Map(Object.entries(GLYPH_BITMAPS).map(([c, rows]) => [bitmapKey(rows), c]));

/** CRC-16/X-25 computed the table-free way from its definition (check value 906E for "123456789"). */
export function x25(bytes: readonly number[]): number {
  let crc = 0xffff;
  for (const b of bytes) {
    for (let i = 0; i < 8; i++) {
      const bit = ((b >> i) & 1) ^ (crc & 1);
      crc >>>= 1;
      if (bit) crc ^= 0x8408;
    }
  }
  return crc ^ 0xffff;
}

export class VirtualDisplay {
  readonly ddram: number[][];
  readonly cgram: number[][] = Array.from({ length: 8 }, () => Array(8).fill(0));
  col = 0;
  row = 0;
  clears = 0;
  readonly persisted: string[] = [];
  readonly errors: string[] = [];
  /** Crystalfontz: packets answered (the adapter waits for these). */
  readonly replies: Buffer[] = [];
  #pending: number[] = [];
  #cgAddr: number | null = null;
  #term = "";

  constructor(
    readonly driver: Driver,
    readonly cols: number,
    readonly rows: number,
    readonly rom: Rom,
    readonly origin = { row: 1, col: 1 },
  ) {
    this.ddram = Array.from({ length: rows }, () => Array(cols).fill(0x20));
  }

  read(): string[] {
    return this.ddram.map((line) =>
      line
        .map((b) => {
          if (this.driver === "terminal") return String.fromCodePoint(b);
          if (b < 8) return LETTER_OF_BITMAP.get(bitmapKey(this.cgram[b] ?? [])) ?? "▯";
          return romChar(this.rom, b);
        })
        .join(""),
    );
  }

  feed(bytes: Uint8Array): void {
    this.#pending.push(...bytes);
    if (this.driver === "crystalfontz") this.#cfa();
    else if (this.driver === "terminal") this.#terminal(Buffer.from(bytes).toString("utf8"));
    else this.#stream();
  }

  #clear(): void {
    this.clears++;
    for (const l of this.ddram) l.fill(0x20);
    this.col = this.row = 0;
  }

  #put(b: number): void {
    if (this.#cgAddr !== null) {
      const slot = (this.#cgAddr >> 3) & 7;
      (this.cgram[slot] as number[])[this.#cgAddr & 7] = b & 0x1f;
      this.#cgAddr = (this.#cgAddr + 1) & 0x3f;
      return;
    }
    if (this.row >= this.rows || this.col >= this.cols) {
      this.errors.push(`write outside the panel at ${this.col},${this.row}`);
      return;
    }
    (this.ddram[this.row] as number[])[this.col] = b;
    this.col++;
  }

  /** HD44780 DDRAM address → cell, for the geometry (row starts 00, 40, cols, 40+cols). */
  #gotoAddr(addr: number, starts: readonly number[]): void {
    for (let r = starts.length - 1; r >= 0; r--) {
      const s = starts[r] as number;
      if (r < this.rows && addr >= s && addr < s + this.cols) {
        this.row = r;
        this.col = addr - s;
        return;
      }
    }
    this.errors.push(`goto to unmapped address ${addr.toString(16)}`);
  }

  /** Take n bytes if available, else wait for more (commands may be split across writes). */
  #take(n: number): number[] | null {
    if (this.#pending.length < n) return null;
    return this.#pending.splice(0, n);
  }

  #stream(): void {
    for (;;) {
      const b = this.#pending[0];
      if (b === undefined) return;
      const consumed =
        this.driver === "matrix-orbital"
          ? this.#mo()
          : this.driver === "sparkfun-serlcd"
            ? this.#sf()
            : this.#hd();
      if (!consumed) return;
    }
  }

  #mo(): boolean {
    const b = this.#pending[0] as number;
    if (b !== 0xfe) {
      this.#pending.shift();
      if ([0x08, 0x0a, 0x0d].includes(b)) this.errors.push(`control byte ${b} in text`);
      this.#put(b);
      return true;
    }
    const cmd = this.#pending[1];
    if (cmd === undefined) return false;
    const args: Record<number, number> = {
      88: 0,
      82: 0,
      81: 0,
      84: 0,
      75: 0,
      74: 0,
      83: 0,
      72: 0,
      70: 0,
      71: 2,
      78: 9,
      66: 1,
      153: 1,
      152: 1,
      80: 1,
      145: 1,
      208: 3,
      209: 2,
      57: 1,
      193: 10,
      64: 32,
    };
    const n = args[cmd];
    if (n === undefined) {
      this.errors.push(`unknown MO command ${cmd.toString(16)}`);
      this.#pending.splice(0, 2);
      return true;
    }
    const all = this.#take(2 + n);
    if (!all) return false;
    const a = all.slice(2);
    if (cmd === 0x58) this.#clear();
    else if (cmd === 0x48) this.col = this.row = 0;
    else if (cmd === 0x47) {
      this.col = (a[0] as number) - 1;
      this.row = (a[1] as number) - 1;
    } else if (cmd === 0x4e) this.cgram[(a[0] as number) & 7] = a.slice(1);
    // Adafruit writes these to EEPROM (§ 9); autoscroll 51/52 on every call.
    if ([0x98, 0x91, 0xd0, 0xd1, 0x39, 0xc1, 0x40, 0x99, 0x50, 0x51, 0x52].includes(cmd))
      this.persisted.push(`FE ${cmd.toString(16)}`);
    return true;
  }

  #sf(): boolean {
    const b = this.#pending[0] as number;
    if (b === 0x7c) {
      const c = this.#pending[1];
      if (c === undefined) return false;
      if (c === 0x7c) {
        this.#pending.splice(0, 2);
        this.#put(0x7c);
        return true;
      }
      const n = c >= 0x1b && c <= 0x22 ? 8 : c === 0x2b ? 3 : c === 0x18 ? 1 : 0;
      const all = this.#take(2 + n);
      if (!all) return false;
      if (c === 0x2d) this.#clear();
      else if (c >= 0x1b && c <= 0x22) this.cgram[c - 0x1b] = all.slice(2);
      else if (c >= 0x23 && c <= 0x2a) this.#put(c - 0x23);
      if (!(c === 0x2d || (c >= 0x23 && c <= 0x2a))) this.persisted.push(`7C ${c.toString(16)}`);
      return true;
    }
    if (b === 0xfe) {
      const all = this.#take(2);
      if (!all) return false;
      const i = all[1] as number;
      if (i === 0x01) this.#clear();
      else if (i & 0x80) this.#gotoAddr(i & 0x7f, [0x00, 0x40, 0x14, 0x54]);
      return true;
    }
    this.#pending.shift();
    if (b === 0x08) this.errors.push("backspace in text");
    this.#put(b);
    return true;
  }

  #hd(): boolean {
    const b = this.#pending[0] as number;
    if (b !== 0xfe) {
      this.#pending.shift();
      this.#put(b);
      return true;
    }
    const all = this.#take(2);
    if (!all) return false;
    const i = all[1] as number;
    if (i === 0x01) this.#clear();
    else if (i === 0x02 || i === 0x03) this.col = this.row = 0;
    else if (i & 0x80) {
      this.#cgAddr = null;
      this.#gotoAddr(i & 0x7f, [0x00, 0x40, this.cols, 0x40 + this.cols]);
    } else if (i & 0x40) this.#cgAddr = i & 0x3f;
    return true;
  }

  #cfa(): void {
    for (;;) {
      if (this.#pending.length < 4) return;
      const len = this.#pending[1] as number;
      if (this.#pending.length < len + 4) return;
      const p = this.#pending.splice(0, len + 4);
      const type = p[0] as number;
      const data = p.slice(2, 2 + len);
      const crc = (p[len + 2] as number) | ((p[len + 3] as number) << 8);
      if (crc !== x25(p.slice(0, len + 2))) {
        this.errors.push(`bad CRC on packet ${type}`);
        continue;
      }
      if (type === 6) this.#clear();
      else if (type === 9) this.cgram[(data[0] as number) & 7] = data.slice(1);
      else if (type === 31) {
        this.col = data[0] as number;
        this.row = data[1] as number;
        for (const b of data.slice(2)) this.#put(b);
      } else if (type === 4) this.persisted.push("store boot state");
      else if (![11, 12, 13, 14, 21, 34, 0, 1].includes(type))
        this.errors.push(`unknown CFA command ${type}`);
      const head = [0x40 | type, 0];
      const c = x25(head);
      this.replies.push(Buffer.from([...head, c & 0xff, c >> 8]));
    }
  }

  /** ANSI: CUP moves, printable code points land in the cell; the box interior is the panel. */
  #terminal(s: string): void {
    this.#pending.length = 0;
    this.#term += s;
    const re = /\u001b\[(\d+);(\d+)H|([^\u001b])/gu;
    let tr = 1;
    let tc = 1;
    let m: RegExpExecArray | null;
    let consumed = 0;
    for (m = re.exec(this.#term); m !== null; m = re.exec(this.#term)) {
      consumed = re.lastIndex;
      if (m[3] === undefined) {
        tr = Number(m[1]);
        tc = Number(m[2]);
        continue;
      }
      const r = tr - this.origin.row - 1;
      const c = tc - this.origin.col - 1;
      if (r >= 0 && r < this.rows && c >= 0 && c < this.cols)
        (this.ddram[r] as number[])[c] = m[3].codePointAt(0) ?? 0x3f;
      tc++;
    }
    this.#term = this.#term.slice(consumed);
  }
}
