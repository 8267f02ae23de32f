import { describe, expect, it } from "vitest";
import { commandResult, MAX_COMMAND_BYTES, parseCommand } from "../../src/presence/commands.js";

const now = Date.parse("2025-03-01T10:00:00Z");
const live = { retained: false };
const enc = (o: unknown): Buffer => Buffer.from(typeof o === "string" ? o : JSON.stringify(o));

describe("parseCommand", () => {
  it.each([
    [{ v: 1, id: "a", action: "login" }, { cmd: "login" }],
    [{ v: 1, id: "a", action: "logout" }, { cmd: "logout" }],
    [
      { v: 1, id: "a", action: "pause", reason: "break" },
      { cmd: "pause", reason: "break" },
    ],
    [{ v: 1, id: "a", action: "pause" }, { cmd: "pause" }],
    [{ v: 1, id: "a", action: "unpause" }, { cmd: "unpause" }],
    [{ v: 1, id: "a", action: "ready" }, { cmd: "ready" }],
    [{ v: 1, id: "a", action: "hangup" }, { cmd: "hangup" }],
    [
      { v: 1, id: "a", action: "transfer", target: "2001" },
      { cmd: "transfer", target: "2001" },
    ],
    [
      { v: 1, id: "a", action: "pause", reason: "lunch", ts: "2025-03-01T09:59:30Z" },
      { cmd: "pause", reason: "lunch" },
    ],
  ])("maps %j", (msg, command) => {
    expect(parseCommand(enc(msg), live, now)).toEqual({ ok: true, id: "a", command });
  });

  it.each([
    ["not JSON", "{", null, /^bad_request: payload is not JSON/],
    ["unknown action", { v: 1, id: "x", action: "selfdestruct" }, "x", /^unknown_command: selfdestruct/],
    ["wrong version", { v: 2, id: "x", action: "login" }, "x", /^bad_request: v/],
    ["missing id", { v: 1, action: "login" }, null, /^bad_request: id/],
    ["transfer without target", { v: 1, id: "x", action: "transfer" }, "x", /^bad_request: target/],
    ["misspelt field", { v: 1, id: "x", action: "pause", reasn: "break" }, "x", /^bad_request: .*reasn/],
    ["empty reason", { v: 1, id: "x", action: "pause", reason: " " }, "x", /^bad_request: reason/],
    ["reason of wrong type", { v: 1, id: "x", action: "pause", reason: 3 }, "x", /^bad_request: reason/],
    ["a bare array", [1, 2], null, /^bad_request/],
    ["bad ts", { v: 1, id: "x", action: "login", ts: "yesterday" }, "x", /^bad_request: ts/],
    ["stale ts", { v: 1, id: "x", action: "login", ts: "2025-03-01T09:58:59Z" }, "x", /^expired: /],
  ])("refuses %s", (_name, msg, id, error) => {
    const r = parseCommand(enc(msg), live, now);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.id).toBe(id);
      expect(r.error).toMatch(error);
    }
  });

  it("refuses an oversized payload before parsing it", () => {
    const big = enc({ v: 1, id: "x", action: "pause", reason: "a".repeat(MAX_COMMAND_BYTES) });
    expect(parseCommand(big, live, now)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/exceeds 4096/),
    });
  });

  it("refuses a retained command (it would replay on every subscribe)", () => {
    const r = parseCommand(enc({ v: 1, id: "r", action: "login" }), { retained: true }, now);
    expect(r).toMatchObject({ ok: false, id: "r", error: expect.stringMatching(/retained/) });
  });

  it("refuses a command whose MQTT 5 expiry has run out", () => {
    const r = parseCommand(
      enc({ v: 1, id: "e", action: "login" }),
      { retained: false, expirySeconds: 0 },
      now,
    );
    expect(r).toMatchObject({ ok: false, id: "e", error: expect.stringMatching(/^expired/) });
    expect(
      parseCommand(enc({ v: 1, id: "e", action: "login" }), { retained: false, expirySeconds: 5 }, now).ok,
    ).toBe(true);
  });

  it("answers in the contract's shape", () => {
    expect(commandResult("a", { ok: true })).toEqual({ v: 1, id: "a", ok: true });
    expect(commandResult(null, { ok: false, error: "bad_request: x" })).toEqual({
      v: 1,
      id: null,
      ok: false,
      error: "bad_request: x",
    });
  });
});

describe("parseCommand: a ts in the future (issue 11)", () => {
  const at = (ts: string) => enc({ v: 1, id: "f", action: "pause", ts });
  it("refuses a ts beyond the clock skew (year 2999 would pass the age check for ever)", () => {
    const r = parseCommand(at("2999-01-01T00:00:00Z"), live, now);
    expect(r).toMatchObject({
      ok: false,
      id: "f",
      error: expect.stringMatching(/^bad_request: ts .* ahead/),
    });
  });
  it("accepts a ts within the skew, and honours a configured skew", () => {
    expect(parseCommand(at("2025-03-01T10:00:20Z"), live, now).ok).toBe(true);
    expect(parseCommand(at("2025-03-01T10:00:20Z"), live, now, 10_000).ok).toBe(false);
    expect(parseCommand(at("2025-03-01T10:00:31Z"), live, now).ok).toBe(false);
  });
});
