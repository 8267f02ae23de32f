import { describe, expect, it } from "vitest";
import { callFacts, resolveTarget, sipfragStatus } from "../../src/sip/call-facts.js";
import { defaultCallInfoHeaders } from "../../src/sip/options.js";
import { parseServer, SipServerError } from "../../src/sip/server-url.js";

describe("parseServer", () => {
  it.each([
    ["ws://127.0.0.1:8080", "ws", 8080, "WS"],
    ["wss://pbx.example.org:8089/ws", "wss", 8089, "WSS"],
    ["tcp://pbx.example.org", "tcp", 5060, "TCP"],
    ["tls://pbx.example.org", "tls", 5061, "TLS"],
    ["tcp://[::1]:5070", "tcp", 5070, "TCP"],
  ])("%s", (url, kind, port, via) => {
    const s = parseServer(url);
    expect([s.kind, s.port, s.viaTransport]).toEqual([kind, port, via]);
  });

  it("refuses udp:// and says why", () => {
    expect(() => parseServer("udp://pbx:5060")).toThrow(/retransmission timers/);
    expect(() => parseServer("http://pbx")).toThrow(SipServerError);
    expect(() => parseServer("pbx:5060")).toThrow(SipServerError);
  });
});

describe("callFacts", () => {
  const headers: Record<string, string[]> = {
    "x-queue": ["anagrafe"],
    "x-caller-language": ["it"],
    "call-info": ["<http://x>;answer-after=0"],
  };
  const header = (n: string) => headers[n.toLowerCase()] ?? [];
  it("prefers P-Asserted-Identity and reads the IVR headers", () => {
    const f = callFacts({
      from: { displayName: "Anon", user: "anonymous" },
      asserted: { displayName: "Mario Rossi", user: "%2B39061234" },
      header,
      callInfoHeaders: defaultCallInfoHeaders,
    });
    expect(f).toEqual({
      number: "+39061234",
      displayName: "Mario Rossi",
      queue: "anagrafe",
      language: "it",
      service: null,
      autoAnswer: true,
    });
  });
  it("falls back to From; answer-after=05 is not auto-answer", () => {
    const f = callFacts({
      from: { displayName: '"Bob"', user: "2001" },
      asserted: null,
      header: (n) => (n.toLowerCase() === "call-info" ? ["<x>;answer-after=05"] : []),
      callInfoHeaders: defaultCallInfoHeaders,
    });
    expect([f.number, f.displayName, f.autoAnswer, f.queue]).toEqual(["2001", "Bob", false, null]);
  });
});

describe("resolveTarget and sipfragStatus", () => {
  it("makes a bare number a SIP URI in our domain", () => {
    expect(resolveTarget("2001", "pbx.example.org")).toBe("sip:2001@pbx.example.org");
    expect(resolveTarget("sip:polo@x", "pbx")).toBe("sip:polo@x");
    expect(resolveTarget("tel:+391234", "pbx")).toBe("tel:+391234");
  });
  it("reads the NOTIFY sipfrag status line (RFC 3515)", () => {
    expect(sipfragStatus("SIP/2.0 200 OK\r\n")).toEqual({ code: 200, reason: "OK" });
    expect(sipfragStatus("SIP/2.0 100 Trying")).toEqual({ code: 100, reason: "Trying" });
    expect(sipfragStatus("garbage")).toBeNull();
  });
});
