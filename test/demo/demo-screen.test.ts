/**
 * The demo's pure parts: the panel's layout (fits the terminal, leaves the LCD alone), line
 * cutting with ANSI kept whole, event lines, and the command line.
 */
import { describe, expect, it } from "vitest";
import { initialState } from "../../src/core/desk.js";
import type { Policy } from "../../src/core/types.js";
import { languageFromEnv, parseDemoArgs } from "../demo-app/main.js";
import { ansi, clock, cut, LCD_ROWS, panelLines, Screen } from "../demo-app/screen.js";
import { describeEvent } from "../demo-app/switchboard.js";

const policy: Policy = {
  wrapUpSeconds: 15,
  pauseReasons: ["break"],
  autoPauseAfterMissed: 2,
  ringTimeoutSeconds: 30,
  notRespondingSeconds: 5,
  autoAnswer: false,
  transferTargets: { polo1: "sip:2003@127.0.0.1" },
  idleHookOff: { action: "ignore" },
  sides: { sip: true, headset: true, lcd: true, mqtt: true },
};

const model = (events: string[]) => ({
  title: "Cuffia demo",
  side: [],
  desk: initialState(policy, 0),
  presence: null,
  queues: { sociale: { waiting: 2, longest_wait: 85, available_agents: 1, by_language: { fr: 2 } } },
  switchboard: "next call in 3 s",
  events,
  audio: ["Audio      you say: x.wav", "           you hear: y.wav"],
  logs: "cuffia.log",
  ctl: "node dist/cli.js ctl status --socket s",
  now: 0,
});

describe("demo panel", () => {
  it("fits below the LCD with a spare row, on a small and a tall terminal", () => {
    for (const rows of [24, 40, 60]) {
      const lines = panelLines(model(Array.from({ length: 20 }, (_, i) => `event ${i}`)), rows);
      expect(LCD_ROWS + 1 + lines.length).toBeLessThanOrEqual(rows - 1);
      expect(lines.join("\n")).toContain("event 19");
      expect(lines.join("\n")).toMatch(/sociale\s+2 waiting, longest 1:25, free agents 1 \(fr 2\)/);
    }
  });

  it("cuts lines by visible characters and keeps escape sequences whole", () => {
    expect(cut("abcdef", 3)).toBe("abc");
    expect(cut(ansi.bold("abcdef"), 2)).toBe("\u001b[1mab\u001b[0m");
    expect(clock(3725)).toBe("1:02:05");
    expect(clock(65)).toBe("1:05");
  });

  it("rewrites only the lines that changed", () => {
    let written = "";
    const screen = new Screen({ write: (s: string) => (written += s) });
    screen.put(8, 1, ["one", "two"], 80);
    written = "";
    screen.put(8, 1, ["one", "TWO"], 80);
    expect(written).toBe(`${ansi.goto(9, 1)}TWO${ansi.eraseLine}`);
  });

  it("describes the desk's events", () => {
    expect(
      describeEvent({
        type: "call.ended",
        ts: "2026-01-01T10:00:05Z",
        end_reason: "local_hangup",
        talk_time: 12,
      }),
    ).toMatch(/^10:00:05 call\.ended\s+local_hangup · talk 12 s/);
    expect(
      describeEvent({
        type: "status.changed",
        previous_status: "available",
        status: "paused",
        reason: "break",
        origin: "headset",
      }),
    ).toContain("available → paused (break) by headset");
  });
});

describe("demo command line", () => {
  it("takes the language from the locale, else English", () => {
    expect(languageFromEnv({ LANG: "it_IT.UTF-8" })).toBe("it");
    expect(languageFromEnv({ LANG: "de_DE.UTF-8" })).toBe("en");
    expect(languageFromEnv({ LC_ALL: "fr_FR.UTF-8", LANG: "it_IT" })).toBe("fr");
  });

  it("parses its flags and refuses bad ones", () => {
    const a = parseDemoArgs(["--call-after", "2", "--language", "es", "--audio", "files"], {});
    expect(a).toMatchObject({ callAfter: 2, callEvery: 15, language: "es", audio: "files", install: true });
    expect(parseDemoArgs([], { CUFFIA_DEMO_CALL_EVERY: "40" })).toMatchObject({ callEvery: 40 });
    expect(() => parseDemoArgs(["--language", "de"], {})).toThrow(/--language/);
    expect(() => parseDemoArgs(["--call-after", "soon"], {})).toThrow(/seconds/);
    expect(parseDemoArgs(["--help"], {})).toBe("help");
  });
});
