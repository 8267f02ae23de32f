import { describe, expect, it } from "vitest";
import { readInfoDtmf } from "../../src/sip/info-dtmf.js";

describe("SIP INFO DTMF bodies", () => {
  it.each([
    [
      "application/dtmf-relay",
      "Signal=5\r\nDuration=160\r\n",
      { kind: "digit", digit: "5", durationMs: 160 },
    ],
    ["application/dtmf-relay", "Signal=#\r\nDuration=250", { kind: "digit", digit: "#", durationMs: 250 }],
    [
      "Application/DTMF-Relay; charset=utf-8",
      "signal = a\n",
      { kind: "digit", digit: "A", durationMs: null },
    ],
    [
      "application/dtmf-relay",
      "Signal=11\r\nDuration=100\r\n",
      { kind: "digit", digit: "#", durationMs: 100 },
    ],
    ["application/dtmf-relay", "Signal=!\r\nDuration=100\r\n", { kind: "flash" }],
    ["application/dtmf", "7", { kind: "digit", digit: "7", durationMs: null }],
    ["application/dtmf", "*\r\n", { kind: "digit", digit: "*", durationMs: null }],
    [undefined, "", { kind: "empty" }],
  ])("%s %j reads as a digit", (type, body, expected) => {
    expect(readInfoDtmf(type, body)).toEqual(expected);
  });

  it.each([
    ["application/dtmf-relay", "Duration=160\r\n"],
    ["application/dtmf-relay", "Signal=X\r\nDuration=160\r\n"],
    ["application/dtmf-relay", "Signal=5\r\nDuration=long\r\n"],
    ["application/dtmf-relay", "Signal=5\r\nSignal=6\r\n"],
    ["application/dtmf-relay", "garbage"],
    ["application/dtmf-relay", ""],
    ["application/dtmf", "12"],
    ["application/dtmf", ""],
  ])("%s %j is malformed (400)", (type, body) => {
    expect(readInfoDtmf(type, body).kind).toBe("malformed");
  });

  it("another body is unsupported (415)", () => {
    expect(readInfoDtmf("application/media_control+xml", "<media_control/>")).toEqual({
      kind: "unsupported",
      contentType: "application/media_control+xml",
    });
  });
});
