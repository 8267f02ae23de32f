/** RFC 4028 rules as a table: what the UAS answers, what a refresh's 2xx means, when the BYE goes. */
import { describe, expect, it } from "vitest";
import {
  answerTimerRequest,
  expiryMs,
  parseSessionExpires,
  readRefreshAnswer,
} from "../../src/sip/session-timer.js";

describe("RFC 4028 session timers (UAS rules, §9)", () => {
  it.each([
    // [Session-Expires, Min-SE, Supported, expected]
    [undefined, undefined, [], { kind: "none" }],
    ["garbage", undefined, ["timer"], { kind: "none" }],
    ["60", undefined, ["timer"], { kind: "too_small", minSe: 90, headers: ["Min-SE: 90"] }],
    ["100", "120", ["timer"], { kind: "too_small", minSe: 120, headers: ["Min-SE: 120"] }],
    [
      "1800;refresher=uac",
      "90",
      ["100rel, timer"],
      {
        kind: "accept",
        seconds: 1800,
        refresher: "them",
        headers: ["Session-Expires: 1800;refresher=uac", "Require: timer"],
      },
    ],
    [
      "90",
      undefined,
      ["timer"],
      {
        kind: "accept",
        seconds: 90,
        refresher: "us",
        headers: ["Session-Expires: 90;refresher=uas", "Require: timer"],
      },
    ],
    // a proxy asked, the UAC cannot refresh: only we can (and no Require)
    [
      "1800;refresher=uac",
      undefined,
      [],
      { kind: "accept", seconds: 1800, refresher: "us", headers: ["Session-Expires: 1800;refresher=uas"] },
    ],
    // too small, but the UAC cannot handle a 422: we refresh, at our floor
    [
      "0",
      undefined,
      [],
      { kind: "accept", seconds: 90, refresher: "us", headers: ["Session-Expires: 90;refresher=uas"] },
    ],
    // a week is reduced to a day (§9 allows it; Node's timers stop at 2^31 ms)
    [
      "604800;refresher=uac",
      undefined,
      ["timer"],
      {
        kind: "accept",
        seconds: 86400,
        refresher: "them",
        headers: ["Session-Expires: 86400;refresher=uac", "Require: timer"],
      },
    ],
    // a Min-SE over a day: no timer at all rather than one past Node's limit (it would fire at once)
    ["3000000;refresher=uac", "3000000", ["timer"], { kind: "none" }],
    [
      "600 ; REFRESHER=UAS",
      undefined,
      ["timer"],
      {
        kind: "accept",
        seconds: 600,
        refresher: "us",
        headers: ["Session-Expires: 600;refresher=uas", "Require: timer"],
      },
    ],
  ] as const)("Session-Expires %s, Min-SE %s, Supported %j", (se, minSe, supported, expected) => {
    expect(answerTimerRequest({ sessionExpires: se, minSe, supported })).toEqual(expected);
  });

  it("parses the refresher, and nothing from a malformed value", () => {
    expect(parseSessionExpires("4000;refresher=uac;x=1")).toEqual({ seconds: 4000, refresher: "uac" });
    expect(parseSessionExpires("4000")).toEqual({ seconds: 4000, refresher: null });
    expect(parseSessionExpires("-1")).toBeNull();
    expect(parseSessionExpires(undefined)).toBeNull();
  });

  it("reads the 2xx to our refresh (§7.2): refresher=uac is us, uas is the far end, none means we keep it", () => {
    expect(readRefreshAnswer("1800;refresher=uac", 90)).toEqual({ seconds: 1800, refresher: "us" });
    expect(readRefreshAnswer("1800;refresher=uas", 90)).toEqual({ seconds: 1800, refresher: "them" });
    expect(readRefreshAnswer(undefined, 90)).toEqual({ seconds: 90, refresher: "us" });
  });

  it("gives up at interval − min(32 s, interval/3) (§10)", () => {
    expect(expiryMs(90)).toBe(60_000);
    expect(expiryMs(1800)).toBe(1_768_000);
  });
});
