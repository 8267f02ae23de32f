import { describe, expect, test } from "vitest";
import { createCharset } from "../../src/lcd/charset.js";
import { diffRuns } from "../../src/lcd/framebuffer.js";
import type { LcdCharset, LcdDriver, LcdLanguage } from "../../src/lcd/options.js";
import { Painter } from "../../src/lcd/painter.js";
import { CfaReader } from "../../src/lcd/protocols/cfa-reader.js";
import { cfaCrc, cfaPacket } from "../../src/lcd/protocols/crystalfontz.js";
import { createProtocol } from "../../src/lcd/protocols/index.js";
import { screen } from "../../src/lcd/screens.js";
import { SAMPLE_NOW, SITUATIONS, sampleState } from "../../src/lcd/situations.js";
import { type Rom, VirtualDisplay, x25 } from "./virtual-display.js";

const hex = (b: Buffer) => b.toString("hex").replace(/(..)/g, "$1 ").trim().toUpperCase();

function painter(
  driver: LcdDriver,
  cols: number,
  rows: number,
  charset: LcdCharset,
  language: LcdLanguage = "it",
  extra = {},
) {
  const cs = createCharset(charset, language);
  const o = { port: "x", driver, baud: 9600, cols, rows, charset, language, ...extra };
  return new Painter(createProtocol(o, cs), cs, { cols, rows }, extra);
}

describe("golden byte streams", () => {
  test("CRC-16/X-25 check value and the reference packets (§ 4)", () => {
    expect(cfaCrc(Buffer.from("123456789"))).toBe(0x906e);
    expect(x25([...Buffer.from("123456789")])).toBe(0x906e);
    expect(hex(cfaPacket(6))).toBe("06 00 97 5B");
    expect(hex(cfaPacket(0))).toBe("00 00 47 0F");
    expect(hex(cfaPacket(11, [0, 1]))).toBe("0B 02 00 01 FA 98");
    expect(hex(cfaPacket(31, [0, 0, 0x48, 0x69]))).toBe("1F 04 00 00 48 69 C7 D3");
    expect(hex(cfaPacket(9, [0, 0x08, 0x04, 0x0e, 0x01, 0x0f, 0x11, 0x0f, 0x00]))).toBe(
      "09 09 00 08 04 0E 01 0F 11 0F 00 B5 3D",
    );
    expect(hex(cfaPacket(12, [0]))).toBe("0C 01 00 B7 7A");
  });

  test("matrix-orbital: init without backlight options, then one run", () => {
    const p = painter("matrix-orbital", 16, 2, "a02", "en");
    expect(p.init().map((c) => hex(c.bytes))).toEqual(["FE 58 FE 52 FE 54 FE 4B"]);
    const first = p.paint(["Hi", ""]);
    expect(hex(first[0]?.bytes ?? Buffer.alloc(0))).toBe(
      "FE 47 01 01 48 69 20 20 20 20 20 20 20 20 20 20 20 20 20 20",
    );
    expect(p.paint(["Ho", ""]).map((c) => hex(c.bytes))).toEqual(["FE 47 02 01 6F"]);
  });

  test("matrix-orbital: backlight and contrast only when configured", () => {
    const p = painter("matrix-orbital", 16, 2, "a02", "en", {
      backlight: { level: 200, rgb: [255, 0, 0] },
      contrast: 0x7a,
    });
    expect(hex(p.init()[0]?.bytes ?? Buffer.alloc(0))).toBe(
      "FE 58 FE 52 FE 54 FE 4B FE 42 00 FE 99 C8 FE D0 FF 00 00 FE 50 7A",
    );
  });

  test("sparkfun-serlcd: 0-based goto with the 20-column map, bar doubled", () => {
    const p = painter("sparkfun-serlcd", 16, 2, "a02", "en");
    expect(hex(p.init()[0]?.bytes ?? Buffer.alloc(0))).toBe("7C 2F FE 0C 7C 2D");
    p.paint(["", ""]);
    expect(p.paint(["", "a|b"]).map((c) => hex(c.bytes))).toEqual(["FE C0 61 7C 7C 62"]);
  });

  test("hd44780-serial: clear and home wait 1.6 ms; 20x4 row starts 80 C0 94 D4; escape byte never in text", () => {
    const p = painter("hd44780-serial", 20, 4, "a02", "en");
    const init = p.init();
    expect(init.map((c) => hex(c.bytes))).toEqual(["FE 38 FE 08 FE 01", "FE 06 FE 02", "FE 0C"]);
    expect(init[0]?.waitMs).toBeGreaterThanOrEqual(2);
    p.paint(["", "", "", ""]);
    expect(p.paint(["", "", "x", "þ"]).map((c) => hex(c.bytes))).toEqual(["FE 94 78", "FE D4 3F"]);
  });

  test("crystalfontz: packets with CRC, each waiting for its reply", () => {
    const p = painter("crystalfontz", 16, 2, "a00", "en");
    const init = p.init();
    expect(init.map((c) => hex(c.bytes))).toEqual(["0C 01 00 B7 7A", "06 00 97 5B"]);
    expect(init.map((c) => c.reply)).toEqual([0x4c, 0x46]);
    p.paint(["", ""]);
    expect(p.paint(["Hi", ""]).map((c) => hex(c.bytes))).toEqual(["1F 04 00 00 48 69 C7 D3"]);
  });

  test("terminal: a box, ANSI cursor addressing, UTF-8 text", () => {
    const p = painter("terminal", 4, 1, "a02", "it", { terminalOrigin: { row: 3, col: 5 } });
    expect(p.init()[0]?.bytes.toString("utf8")).toBe("\u001b[3;5H┌────┐\u001b[4;5H│    │\u001b[5;5H└────┘");
    expect(p.paint(["è"]).map((c) => c.bytes.toString("utf8"))).toEqual(["\u001b[4;6Hè   "]);
    expect(p.paint(["èa"]).map((c) => c.bytes.toString("utf8"))).toEqual(["\u001b[4;7Ha"]);
  });
});

describe("frame-buffer diff", () => {
  test("runs merge across a gap shorter than a goto", () => {
    const a = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]];
    expect(diffRuns(a, [[0, 2, 0, 4, 5, 6, 7, 8, 9, 0]], 2)).toEqual([
      { row: 0, col: 0, bytes: [0, 2, 0] },
      { row: 0, col: 9, bytes: [0] },
    ]);
    expect(diffRuns(a, a, 2)).toEqual([]);
    expect(diffRuns(null, [[1], [2]], 2)).toHaveLength(2);
  });

  test("no hardware clear after init; refresh repaints without clearing", () => {
    const p = painter("matrix-orbital", 20, 4, "a02");
    const vd = new VirtualDisplay("matrix-orbital", 20, 4, "a02");
    for (const c of p.init()) vd.feed(c.bytes);
    for (const s of SITUATIONS)
      for (const c of p.paint(screen(sampleState(s), ctx("it", 20, 4)))) vd.feed(c.bytes);
    p.invalidate();
    const full = p.paint(screen(sampleState("available"), ctx("it", 20, 4)));
    expect(full).toHaveLength(4);
    for (const c of full) vd.feed(c.bytes);
    expect(vd.clears).toBe(1);
    expect(vd.persisted).toEqual(["FE 52"]); // autoscroll off, once at init
  });
});

const ctx = (language: LcdLanguage, cols: number, rows: number) => ({
  language,
  cols,
  rows,
  now: SAMPLE_NOW,
  agentName: "Sportello 17",
});

const DRIVERS: Array<{ driver: LcdDriver; rom: Rom }> = [
  { driver: "matrix-orbital", rom: "a02" },
  { driver: "matrix-orbital", rom: "a00" },
  { driver: "sparkfun-serlcd", rom: "a00" },
  { driver: "crystalfontz", rom: "crystalfontz" },
  { driver: "crystalfontz", rom: "a00" },
  { driver: "hd44780-serial", rom: "a02" },
  { driver: "terminal", rom: "a02" },
];

/** What a person should read: the screen, accents as the ROM (plus our glyphs) can show them. */
function expected(lines: string[], rom: Rom, language: LcdLanguage): string[] {
  const cs = createCharset(rom, language);
  return lines.map((l) =>
    Array.from(l)
      .map((ch) => cs.decode(cs.encode(ch)))
      .join(""),
  );
}

describe("every screen replayed on the virtual display of each protocol", () => {
  for (const { driver, rom } of DRIVERS)
    for (const [cols, rows] of [
      [16, 2],
      [20, 4],
    ] as const)
      test(`${driver} ${rom} ${cols}x${rows}`, () => {
        for (const language of ["it", "fr", "es"] as const) {
          const p = painter(driver, cols, rows, rom, language);
          const vd = new VirtualDisplay(driver, cols, rows, rom);
          for (const c of p.init()) vd.feed(c.bytes);
          for (const s of SITUATIONS) {
            const lines = screen(sampleState(s), ctx(language, cols, rows));
            for (const c of p.paint(lines)) vd.feed(c.bytes);
            expect(vd.read(), `${language} ${s}`).toEqual(expected(lines, rom, language));
          }
          expect(vd.errors).toEqual([]);
          expect(vd.clears).toBe(driver === "terminal" ? 0 : 1);
        }
      });
});

describe("accents: A00 vs A02", () => {
  const word = ["Città è già lì però più", "Formación Reunión ¿Sí?"];
  test("A02 has them in ROM: no glyphs needed", () => {
    const p = painter("matrix-orbital", 24, 2, "a02", "it");
    const vd = new VirtualDisplay("matrix-orbital", 24, 2, "a02");
    for (const c of [...p.init(), ...p.paint(word)]) vd.feed(c.bytes);
    expect(vd.read()).toEqual(["Città è già lì però più ", "Formación Reunión ¿Sí?  "]);
  });
  test("A00, Italian: à è é ì ò ù from CGRAM; Spanish: á é í ó ú ¿ ¡ from CGRAM, ñ from ROM", () => {
    const it = painter("sparkfun-serlcd", 24, 2, "a00", "it");
    const vd = new VirtualDisplay("sparkfun-serlcd", 24, 2, "a00");
    for (const c of [...it.init(), ...it.paint(word)]) vd.feed(c.bytes);
    expect(vd.read()[0]).toBe("Città è già lì però più ");
    expect(vd.read()[1]).toBe("Formacion Reunion ?Si?  "); // no Spanish glyphs on an Italian desk: NFD fallback
    const es = painter("matrix-orbital", 24, 2, "a00", "es");
    const vd2 = new VirtualDisplay("matrix-orbital", 24, 2, "a00");
    for (const c of [...es.init(), ...es.paint(["Formación Reunión ¿Sí?", "Año ¡Hola! Pingüino"])])
      vd2.feed(c.bytes);
    expect(vd2.read()).toEqual(["Formación Reunión ¿Sí?  ", "Año ¡Hola! Pingüino     "]);
  });
  test("A00 French: eight glyphs at most, the rest lose their accent", () => {
    const cs = createCharset("a00", "fr");
    expect(cs.glyphs).toHaveLength(8);
    expect(cs.glyphs.map((g) => g.char)).toEqual(expect.arrayContaining(["é", "è", "à", "ç"]));
    const shown = cs
      .encodeRow("éèàçêôùûîâëï")
      .map((b) => cs.decode(b))
      .join("");
    expect(
      Array.from(shown)
        .filter((c, i) => c !== Array.from("éèàçêôùûîâëï")[i])
        .every((c) => /[a-z]/.test(c)),
    ).toBe(true);
  });
  test("glyph definitions are sent at init only, and SparkFun's (EEPROM) never again", () => {
    const p = painter("sparkfun-serlcd", 16, 2, "a00", "it");
    const vd = new VirtualDisplay("sparkfun-serlcd", 16, 2, "a00");
    for (const c of p.init()) vd.feed(c.bytes);
    const atInit = vd.persisted.length;
    expect(vd.persisted.filter((x) => /^7C (1b|1c|1d|1e|1f|20|21|22)$/.test(x))).toHaveLength(6);
    for (const s of SITUATIONS)
      for (const c of p.paint(screen(sampleState(s), ctx("it", 16, 2)))) vd.feed(c.bytes);
    for (const c of p.paint(["più già è", "così ciò"])) vd.feed(c.bytes);
    expect(vd.read()).toEqual(["più già è       ", "così ciò        "]);
    expect(vd.persisted).toHaveLength(atInit);
  });
  test("the à glyph is the reference bitmap (§ 8)", () => {
    const g = createCharset("a00", "it").glyphs.find((x) => x.char === "à");
    expect(g?.rows).toEqual([0x08, 0x04, 0x0e, 0x01, 0x0f, 0x11, 0x0f, 0x00]);
  });
  test("Crystalfontz 631/635 ROM: accents in place, punctuation moved", () => {
    const cs = createCharset("crystalfontz", "it");
    expect(cs.glyphs).toEqual([]);
    expect(cs.encodeRow("à$@_")).toEqual([0x7f, 0xa2, 0xa0, 0xc4]);
  });
});

describe("forbidden bytes never reach the text stream", () => {
  test("þ (A02 FE) on matrix-orbital becomes a space; 7C on SparkFun is doubled", () => {
    const mo = painter("matrix-orbital", 16, 1, "a02");
    mo.paint([""]);
    expect(mo.paint(["þ"]).map((c) => hex(c.bytes))).toEqual(["FE 47 01 01 20"]);
    const sf = painter("sparkfun-serlcd", 16, 1, "a02");
    sf.paint([""]);
    expect(sf.paint(["|"]).map((c) => hex(c.bytes))).toEqual(["FE 80 7C 7C"]);
  });
  test("control characters from the PBX never become control bytes", () => {
    const p = painter("matrix-orbital", 16, 1, "a02");
    const vd = new VirtualDisplay("matrix-orbital", 16, 1, "a02");
    for (const c of [...p.init(), ...p.paint(["a\rb\nc\bd\u00fe\u0007"])]) vd.feed(c.bytes);
    expect(vd.errors).toEqual([]);
    expect(vd.read()[0]?.startsWith("a")).toBe(true);
  });
});

describe("crystalfontz replies", () => {
  test("the reader splits joined packets, resyncs after junk", () => {
    const r = new CfaReader();
    const ack = cfaPacket(0x46);
    const key = cfaPacket(0x80, [1]);
    expect(r.push(Buffer.concat([Buffer.from([0x99, 0x01]), ack.subarray(0, 2)]))).toEqual([]);
    const got = r.push(Buffer.concat([ack.subarray(2), key]));
    expect(got.map((p) => p.type)).toEqual([0x46, 0x80]);
  });
});
