import { describe, expect, test } from "vitest";
import { LCD_LANGUAGES, type LcdLanguage } from "../../src/lcd/options.js";
import { hasVisibleTimer, screen } from "../../src/lcd/screens.js";
import { SAMPLE_NOW, SITUATIONS, sampleState } from "../../src/lcd/situations.js";
import { baseState, sampleCall, sampleQueues } from "../samples.js";

const SIZES = [
  { cols: 16, rows: 2 },
  { cols: 20, rows: 2 },
  { cols: 20, rows: 4 },
] as const;
const ctx = (language: LcdLanguage, cols: number, rows: number, now = SAMPLE_NOW) => ({
  language,
  cols,
  rows,
  now,
  agentName: "Sportello 17",
});

describe("every situation, every size, every language", () => {
  for (const language of LCD_LANGUAGES)
    for (const { cols, rows } of SIZES)
      test(`${language} ${cols}x${rows}`, () => {
        for (const s of SITUATIONS) {
          const lines = screen(sampleState(s), ctx(language, cols, rows));
          expect(lines, s).toHaveLength(rows);
          for (const l of lines) expect(Array.from(l), `${s}: "${l}"`).toHaveLength(cols);
          const all = lines.join("\n");
          // The facts of each situation are there, whole.
          if (["available", "paused", "wrap-up"].includes(s)) expect(all, s).toMatch(/(^|\s)3(\s|$)/m);
          if (["available", "paused", "wrap-up"].includes(s)) expect(all, s).toContain("1:25");
          if (s === "paused") expect(all).toContain("12:05");
          if (s === "wrap-up") expect(all).toContain("25s");
          if (s.startsWith("on-")) expect(all, s).toContain("3:25");
          if (s.startsWith("on-") || s === "ringing") expect(all, s).toContain("+393331234567");
          if (s.startsWith("on-") || s === "ringing") expect(all, s).toMatch(/\bFR\b/);
          if (s === "ringing-arabic") expect(all).toMatch(/\bAR\b/);
          if (s === "ringing-arabic") expect(all).not.toMatch(/\p{Script=Arabic}/u);
          if (s === "queues-unknown") expect(all).toContain("--");
          if (s === "not-registered") expect(all).toContain("403");
        }
      });
});

describe("what the operator reads", () => {
  const show = (s: Parameters<typeof sampleState>[0], language: LcdLanguage, cols: number, rows: number) =>
    screen(sampleState(s), ctx(language, cols, rows));

  test("Italian 20x4, available with queue figures", () => {
    expect(show("available", "it", 20, 4)).toEqual([
      "Disponibile         ",
      "In coda: 3  max 1:25",
      "AR 1  FR 1  IT 1    ",
      "Operatori liberi: 2 ",
    ]);
  });
  test("Italian 16x2, ringing: service, language tag, number", () => {
    expect(show("ringing", "it", 16, 2)).toEqual(["Anagrafe      FR", "+393331234567   "]);
  });
  test("English 16x2, muted call", () => {
    expect(show("on-call-muted", "en", 16, 2)).toEqual(["MUTED       3:25", "+393331234567 FR"]);
  });
  test("Italian 16x2, paused: reason and time", () => {
    expect(show("paused", "it", 16, 2)).toEqual(["Formazione 12:05", "Coda 3 max 1:25 "]);
  });
  test("French 20x4, on hold", () => {
    expect(show("on-hold", "fr", 20, 4)[0]).toBe("En attente      3:25");
  });
  test("Spanish 20x4, wrap-up counts down with accents kept in the text", () => {
    expect(show("wrap-up", "es", 20, 4)[0]).toBe("Posllamada       25s");
    expect(show("available", "es", 20, 4)[1]).toBe("En cola: 3  máx 1:25");
  });
  test("health problems outrank queue figures on 2 rows", () => {
    expect(show("no-headset", "en", 16, 2)).toEqual(["Available       ", "No headset      "]);
    expect(show("switchboard-down", "it", 20, 2)[1]).toBe("Centrale assente    ");
    const unreg = screen(
      baseState(SAMPLE_NOW, { health: { ...baseState().health, sip: "unregistered" } }),
      ctx("fr", 16, 2),
    );
    expect(unreg[1]).toBe("Non enregistré  ");
  });
});

describe("time", () => {
  test("longest wait ages from receivedAt; the call timer and wrap-up follow the clock", () => {
    const s = sampleState("available");
    expect(screen(s, ctx("en", 20, 4, SAMPLE_NOW + 35_000))[1]).toContain("2:00");
    const call = sampleState("on-call");
    expect(screen(call, ctx("en", 16, 2, SAMPLE_NOW + 3_600_000))[0]).toBe("On call  1:03:25");
    const w = sampleState("wrap-up");
    expect(screen(w, ctx("en", 16, 2, SAMPLE_NOW + 23_300))[0]).toBe("Wrap-up       1s");
    expect(screen(w, ctx("en", 16, 2, SAMPLE_NOW + 60_000))[0]).toBe("Wrap-up       0s");
  });
  test("which screens carry a timer", () => {
    expect(hasVisibleTimer(sampleState("on-call"))).toBe(true);
    expect(hasVisibleTimer(sampleState("wrap-up"))).toBe(true);
    expect(hasVisibleTimer(sampleState("paused"))).toBe(true);
    expect(hasVisibleTimer(sampleState("available"))).toBe(true); // the longest wait ages
    expect(hasVisibleTimer(sampleState("available-empty"))).toBe(false);
    expect(hasVisibleTimer(sampleState("ringing"))).toBe(false);
  });
});

describe("truncation never cuts a number", () => {
  test("a long service shrinks, the tag stays", () => {
    const st = baseState(SAMPLE_NOW, {
      line: {
        kind: "ringing",
        since: SAMPLE_NOW,
        call: sampleCall(SAMPLE_NOW, { service: "Servizi demografici e stato civile", language: "ar" }),
      },
    });
    const l = screen(st, ctx("it", 16, 2));
    expect(l[0]).toMatch(/^Servizi demo.* AR$/);
  });
  test("a big queue count and long wait stay whole on 16 columns", () => {
    const st = baseState(SAMPLE_NOW, { queues: { ...sampleQueues(), waiting: 1234, longestWait: 3 * 3600 } });
    for (const language of LCD_LANGUAGES) {
      const l = screen(st, ctx(language, 16, 2))[1] ?? "";
      expect(l, language).toContain("1234");
      expect(l, language).toContain("3:00:13");
    }
  });
  test("8 columns: labels go, numbers stay", () => {
    const l = screen(sampleState("on-call"), ctx("en", 8, 2));
    expect(l[0]).toBe("    3:25");
    expect(screen(sampleState("available"), ctx("en", 8, 2))[1]).toBe("3 1:25  ");
  });
  test("per-language counts drop whole entries", () => {
    const st = baseState(SAMPLE_NOW, {
      queues: { ...sampleQueues(), byLanguage: { it: 12, fr: 10, ar: 9, es: 7, en: 3 } },
    });
    const l = screen(st, ctx("it", 20, 4))[2] ?? "";
    // "IT 12 FR 10 AR 9 ES 7" is 21 cells: ES goes whole, the largest counts stay.
    expect(l.trimEnd()).toBe("IT 12 FR 10 AR 9");
  });
  test("a number longer than the row shows its tail, marked", () => {
    const st = baseState(SAMPLE_NOW, {
      line: {
        kind: "ringing",
        since: SAMPLE_NOW,
        call: sampleCall(SAMPLE_NOW, { number: "00393331234567891234" }),
      },
    });
    expect(screen(st, ctx("en", 16, 2))[1]).toBe("…331234567891234");
  });
});
