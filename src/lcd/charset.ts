/**
 * Unicode → display bytes for one character ROM (reference/serial-lcd.md § 8), pure.
 *
 * Each cell is one code point. A character the ROM has maps to its code; else, if one of the
 * up-to-8 CGRAM glyphs chosen at init holds it, to the slot (00–07); else the letter without its
 * accent (NFD), a look-alike, or "?". The glyph set is fixed at init for the language and never
 * rotated: SparkFun stores definitions in EEPROM (§ 3), and redefining a slot repaints every cell
 * showing it (§ 8).
 */
import { GLYPH_BITMAPS, LANGUAGE_LETTERS } from "./glyphs.js";
import { allText, strings } from "./i18n.js";
import type { LcdCharset } from "./options.js";

export interface Glyph {
  readonly char: string;
  /** 8 rows, top to bottom, 5 low bits = pixels. */
  readonly rows: readonly number[];
}

export interface Charset {
  readonly name: LcdCharset;
  /** Slot n holds glyphs[n]; uploaded once at init. */
  readonly glyphs: readonly Glyph[];
  /** One cell (a code point) → one byte. */
  encode(ch: string): number;
  encodeRow(s: string): number[];
  /** What a person reads for a byte (terminal driver, preview); "?" for codes we never send. */
  decode(byte: number): string;
}

function asciiRange(from: number, to: number, except: string): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (let c = from; c <= to; c++)
    if (!except.includes(String.fromCharCode(c))) out.push([String.fromCharCode(c), c]);
  return out;
}

/** HD44780U A00 (Japanese): ASCII except 5C = ¥, 7E = →, 7F = ←; a few Latin letters high up. */
const A00: ReadonlyMap<string, number> = new Map([
  ...asciiRange(0x20, 0x7d, "\\"),
  ["¥", 0x5c],
  ["→", 0x7e],
  ["←", 0x7f],
  ["°", 0xdf],
  ["α", 0xe0],
  ["ä", 0xe1],
  ["β", 0xe2],
  ["ß", 0xe2],
  ["ε", 0xe3],
  ["µ", 0xe4],
  ["σ", 0xe5],
  ["ρ", 0xe6],
  ["√", 0xe8],
  ["¢", 0xec],
  ["ñ", 0xee],
  ["ö", 0xef],
  ["θ", 0xf2],
  ["∞", 0xf3],
  ["Ω", 0xf4],
  ["ü", 0xf5],
  ["Σ", 0xf6],
  ["π", 0xf7],
  ["÷", 0xfd],
  ["█", 0xff],
  // lcdproc hd44780-charmap.h: capitals with diaeresis borrow the lower-case glyph on A00.
  ["Ä", 0xe1],
  ["Ö", 0xef],
  ["Ü", 0xf5],
]);

/** HD44780U A02 (European): ASCII, and Latin-1 from A0 to FF except ¨ ´ ¸ (hd44780_euro). */
const A02: ReadonlyMap<string, number> = new Map([
  ...asciiRange(0x20, 0x7e, ""),
  ...Array.from({ length: 0x60 }, (_, i): [string, number] => [
    String.fromCharCode(0xa0 + i),
    0xa0 + i,
  ]).filter(([c]) => !"\u00a0\u00a8\u00b4\u00b8".includes(c)),
]);

/**
 * KS0073-like ROM of CFA-631/635 (lcdproc CFontz-charmap.h): ASCII letters and digits in place,
 * punctuation `$ @ [ \ ] ^ _ \` { | } ~` moved, accented letters scattered.
 */
const CFA: ReadonlyMap<string, number> = new Map([
  ...asciiRange(0x20, 0x7e, "$@[\\]^_`{|}~"),
  ["$", 0xa2],
  ["@", 0xa0],
  ["[", 0xfa],
  ["\\", 0xfb],
  ["]", 0xfc],
  ["^", 0x1d],
  ["_", 0xc4],
  ["{", 0xfd],
  ["|", 0xfe],
  ["}", 0xff],
  ["~", 0xce],
  ["¡", 0x40],
  ["¿", 0x60],
  ["£", 0xa1],
  ["¥", 0xa3],
  ["§", 0x5f],
  ["°", 0x80],
  ["±", 0x8c],
  ["µ", 0x8f],
  ["«", 0x14],
  ["»", 0x15],
  ["·", 0xde],
  ["Á", 0xe2],
  ["Ä", 0x5b],
  ["Å", 0xae],
  ["Æ", 0xbc],
  ["Ç", 0xa9],
  ["È", 0xc5],
  ["É", 0xbf],
  ["Ê", 0xc6],
  ["Í", 0xe3],
  ["Ñ", 0x5d],
  ["Ó", 0xe4],
  ["Ô", 0xec],
  ["Ö", 0x5c],
  ["Ø", 0xab],
  ["Ú", 0xe5],
  ["Ü", 0x5e],
  ["ß", 0xbe],
  ["à", 0x7f],
  ["á", 0xe7],
  ["ä", 0x7b],
  ["å", 0xaf],
  ["æ", 0xbd],
  ["ç", 0xc8],
  ["è", 0xa4],
  ["é", 0xa5],
  ["ê", 0xc7],
  ["ì", 0xa7],
  ["í", 0xe8],
  ["ñ", 0x7d],
  ["ò", 0xa8],
  ["ó", 0xe9],
  ["ô", 0xed],
  ["ö", 0x7c],
  ["ù", 0xa6],
  ["ú", 0xea],
  ["ü", 0x7e],
]);

export const ROMS: Readonly<Record<LcdCharset, ReadonlyMap<string, number>>> = {
  a00: A00,
  a02: A02,
  crystalfontz: CFA,
};

/** Look-alikes for what has no accent to strip (typography from translations or the PBX). */
const LOOKALIKE: Readonly<Record<string, string>> = {
  "¿": "?",
  "¡": "!",
  "«": '"',
  "»": '"',
  "“": '"',
  "”": '"',
  "‘": "'",
  "’": "'",
  "´": "'",
  "`": "'",
  "–": "-",
  "—": "-",
  "…": ".",
  "\u00a0": " ",
  "\\": "/",
  "~": "-",
  ß: "s",
  "€": "E",
  "×": "x",
  "÷": ":",
};

/** The glyphs a language needs on a ROM: letters missing from it, most used first, at most `slots`. */
export function chooseGlyphs(rom: ReadonlyMap<string, number>, language: string, slots = 8): Glyph[] {
  const counts = new Map<string, number>();
  for (const ch of Array.from(allText(strings(language)))) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  const letters = Array.from(LANGUAGE_LETTERS[language] ?? "");
  const candidates = [
    ...new Set([...counts.keys()].sort((a, b) => (counts.get(b) ?? 0) - (counts.get(a) ?? 0))),
  ]
    .filter((c) => GLYPH_BITMAPS[c] !== undefined)
    .concat(letters);
  const out: Glyph[] = [];
  for (const c of new Set(candidates)) {
    const rows = GLYPH_BITMAPS[c];
    if (out.length >= Math.max(0, Math.min(8, slots)) || rom.has(c) || !rows) continue;
    out.push({ char: c, rows });
  }
  return out;
}

export function createCharset(name: LcdCharset, language: string, slots = 8): Charset {
  const rom = ROMS[name] ?? A02;
  const glyphs = chooseGlyphs(rom, language, slots);
  const slotOf = new Map(glyphs.map((g, i) => [g.char, i] as const));
  const reverse = new Map<number, string>();
  // First mapping wins, so a code reads as its own character (A00 E1 reads "ä", not "Ä").
  for (const [c, b] of rom) if (!reverse.has(b)) reverse.set(b, c);
  glyphs.forEach((g, i) => {
    reverse.set(i, g.char);
  });
  const question = rom.get("?") ?? 0x3f;

  const encode = (ch: string): number => {
    const direct = rom.get(ch) ?? slotOf.get(ch);
    if (direct !== undefined) return direct;
    const look = LOOKALIKE[ch];
    if (look !== undefined) {
      const b = rom.get(look);
      if (b !== undefined) return b;
    }
    const base = ch.normalize("NFD").replace(/\p{M}/gu, "");
    if (base !== ch && Array.from(base).length === 1) {
      const b = rom.get(base) ?? slotOf.get(base);
      if (b !== undefined) return b;
    }
    return question;
  };
  return {
    name,
    glyphs,
    encode,
    encodeRow: (s) => Array.from(s).map(encode),
    decode: (b) => reverse.get(b) ?? "?",
  };
}
