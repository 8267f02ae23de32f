import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import type { Call, DeskState, Line } from "../../src/core/types.js";
import { createCharset } from "../../src/lcd/charset.js";
import { lcdModelSchema, loadLcdModels } from "../../src/lcd/models.js";
import { LCD_LANGUAGES, type LcdLanguage } from "../../src/lcd/options.js";
import { lcdPreview } from "../../src/lcd/preview.js";
import { screen } from "../../src/lcd/screens.js";
import { SAMPLE_NOW, SITUATIONS } from "../../src/lcd/situations.js";
import { baseState } from "../samples.js";

const DIR = fileURLToPath(new URL("../../device/lcds/", import.meta.url));

describe("device/lcds models", () => {
  test("every model loads and is consistent with its protocol", () => {
    const models = loadLcdModels(DIR);
    expect(models.length).toBeGreaterThanOrEqual(10);
    for (const m of models) {
      if (m.driver === "sparkfun-serlcd") expect(m.glyphs, m.id).toBe("eeprom");
      if (m.driver === "crystalfontz") expect(["a00", "crystalfontz"], m.id).toContain(m.charset);
    }
    expect(models.map((m) => m.driver)).toEqual(
      expect.arrayContaining([
        "matrix-orbital",
        "sparkfun-serlcd",
        "crystalfontz",
        "hd44780-serial",
        "terminal",
      ]),
    );
  });
  test("the schema refuses unknown keys and impossible geometry", () => {
    const ok = {
      id: "x",
      name: "x",
      driver: "terminal",
      cols: 20,
      rows: 4,
      baud: 1,
      charset: "a02",
      glyphs: "ram",
    };
    expect(lcdModelSchema.safeParse(ok).success).toBe(true);
    expect(lcdModelSchema.safeParse({ ...ok, rows: 5 }).success).toBe(false);
    expect(lcdModelSchema.safeParse({ ...ok, colour: "red" }).success).toBe(false);
  });
});

describe("lcd preview", () => {
  test("every situation as a box", () => {
    const r = lcdPreview({ size: "16x2", language: "it", charset: "a00" });
    expect(r.code).toBe(0);
    for (const s of SITUATIONS) expect(r.stdout).toContain(`${s}\n+----------------+`);
    expect(r.stdout).toContain("|Anagrafe      FR|");
  });
  test("one situation, French on A00 (è from a CGRAM glyph)", () => {
    const r = lcdPreview({ size: "20x4", language: "fr", charset: "a00", situation: "wrap-up" });
    expect(r.stdout).toBe(
      "wrap-up\n+--------------------+\n|Après-appel      25s|\n|En file : 3  max 1:25|\n".replace(
        "|En file : 3  max 1:25|\n",
        "|En file 3 max 1:25  |\n|AR 1  FR 1  IT 1    |\n|Agents libres : 2   |\n+--------------------+\n",
      ),
    );
  });
  test("bad arguments are an exit code and a message, not a throw", () => {
    expect(lcdPreview({ size: "20by4", language: "it" }).code).toBe(2);
    expect(lcdPreview({ size: "20x4", language: "de" }).code).toBe(2);
    expect(lcdPreview({ size: "20x4", language: "it", charset: "a03" }).code).toBe(2);
    expect(lcdPreview({ size: "20x4", language: "it", situation: "dancing" }).stdout).toContain(
      "unknown situation",
    );
  });
});

describe("malformed inputs never crash", () => {
  const weird: Array<Partial<DeskState>> = [
    // Lines the type does not allow (a call without its call, a wrap-up without its end).
    { line: { kind: "on_call", since: 0, call: null } as unknown as Line },
    { line: { kind: "wrap_up", since: 0, until: null } as unknown as Line },
    { line: { kind: "ringing", since: 0, call: null } as unknown as Line },
    { status: "paused", reason: null, statusSince: Number.NaN },
    {
      queues: {
        waiting: Number.NaN,
        longestWait: -5,
        availableAgents: null,
        byLanguage: { "": 2, "\u0000": 1 },
        receivedAt: Number.POSITIVE_INFINITY,
      },
    },
    {
      queues: {
        waiting: 2,
        longestWait: Number.NaN,
        availableAgents: -1,
        byLanguage: {},
        receivedAt: SAMPLE_NOW,
      },
    },
    {
      status: "bogus" as unknown as DeskState["status"],
      line: { kind: "nonsense", since: 0 } as unknown as Line,
    },
    {
      health: {
        sip: "failed",
        sipReason: null,
        headset: false,
        lcd: null,
        mqtt: false,
        faults: { "sip\n": "x".repeat(500) },
      } as unknown as DeskState["health"],
    },
  ];
  test("odd states, odd geometry, odd strings", () => {
    const calls = [
      {
        number: "\u0007\u001b[2J+39 333",
        service: "🎧 Servizi\u0301 \u202e sociali",
        language: "ar-EG",
        queue: "",
      },
      { number: "", service: null, language: "", queue: null },
    ];
    for (const w of weird)
      for (const c of calls)
        for (const language of [...LCD_LANGUAGES, "xx"])
          for (const [cols, rows] of [
            [16, 2],
            [20, 4],
            [0, 0],
            [1, 1],
            [100, 9],
            [Number.NaN, 2],
          ]) {
            const st = baseState(SAMPLE_NOW, w);
            const lines = screen(st, {
              language: language as LcdLanguage,
              cols: cols as number,
              rows: rows as number,
              now: SAMPLE_NOW,
              agentName: "\u0000",
            });
            for (const l of lines) expect(l).not.toMatch(/[\u0000-\u001f\u202e]/);
            const s2 = baseState(SAMPLE_NOW, {
              ...w,
              line: {
                kind: "ringing",
                since: 0,
                call: {
                  id: "c",
                  direction: "inbound",
                  displayName: null,
                  offeredAt: 0,
                  answeredAt: null,
                  muted: false,
                  transferTarget: null,
                  ...c,
                } as Call,
              },
            });
            for (const l of screen(s2, {
              language: language as LcdLanguage,
              cols: cols as number,
              rows: rows as number,
              now: SAMPLE_NOW,
              agentName: null,
            })) {
              expect(l).not.toMatch(/[\u0000-\u001f\u202e\p{Script=Arabic}]/u);
            }
          }
  });
  test("every code point encodes to one safe byte on every ROM", () => {
    for (const rom of ["a00", "a02", "crystalfontz"] as const) {
      const cs = createCharset(rom, "fr");
      for (let cp = 0; cp < 0x3000; cp += 7) {
        const b = cs.encode(String.fromCodePoint(cp));
        expect(b >= 0 && b <= 255).toBe(true);
        if (rom !== "crystalfontz") expect(b < 0x08 || b >= 0x20).toBe(true);
      }
    }
  });
});
