import { describe, expect, it } from "vitest";
import { invite, sdpOffer } from "./fake-registrar.js";
import { mutate, owesAnswer, prng } from "./sip-mutator.js";

const base = invite("sip:1018@127.0.0.1", "c-1", sdpOffer(4000), [], { branch: "z9hG4bKfixed", tag: "t1" });

describe("sip-mutator", () => {
  it("is reproducible from the seed and the index alone", () => {
    expect(prng(7)()).toBe(prng(7)());
    for (const i of [0, 1, 17, 999]) {
      expect(mutate(base, 42, i)).toEqual(mutate(base, 42, i));
    }
    expect(mutate(base, 42, 1).bytes.equals(mutate(base, 42, 2).bytes)).toBe(false);
    expect(mutate(base, 42, 1).bytes.equals(mutate(base, 43, 1).bytes)).toBe(false);
  });

  it("uses every operator, and every mutant differs from the base", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const m = mutate(base, 1, i);
      expect(m.bytes.equals(Buffer.from(base)), m.ops.join(" ")).toBe(false);
      for (const op of m.ops) seen.add(op.split("(")[0] as string);
    }
    expect([...seen].sort()).toEqual(
      [
        "bad-content-length",
        "bad-sdp",
        "bad-start-line",
        "byte-flip",
        "crlf-injection",
        "dup-header",
        "fold",
        "huge-header",
        "non-utf8",
        "remove-header",
        "truncate",
      ].sort(),
    );
  });

  it("writes the true Content-Length unless an operator lies about it or cuts the bytes", () => {
    let checked = 0;
    for (let i = 0; i < 1000; i++) {
      const m = mutate(base, 3, i);
      if (m.ops.some((o) => /^(bad-content-length|byte-flip|truncate|crlf-injection)/.test(o))) continue;
      const text = m.bytes.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      const declared = /\r\nContent-Length: (\d+)\r\n\r\n/.exec(text.slice(0, end + 4))?.[1];
      expect(Number(declared), m.ops.join(" ")).toBe(m.bytes.length - end - 4);
      checked++;
    }
    expect(checked).toBeGreaterThan(100);
  });

  it("knows which requests are owed an answer (RFC 3261 §8.2.6)", () => {
    expect(owesAnswer(base)).toBe(true);
    expect(owesAnswer(base.replace("From: ", "From:\r\n  "))).toBe(true);
    expect(owesAnswer(base.replace("INVITE sip:", "ACK sip:"))).toBe(false);
    expect(owesAnswer(base.replace("SIP/2.0\r\n", "SIP/3.0\r\n"))).toBe(false);
    expect(owesAnswer(base.replace(/Call-ID: [^\r]*\r\n/, ""))).toBe(false);
    expect(owesAnswer(base.replace(/(From: [^\r]*\r\n)/, "$1$1"))).toBe(false);
    expect(owesAnswer(base.replace(/Via: [^\r]*\r\n/, ""))).toBe(false);
    expect(owesAnswer(base.replace("Call-ID:", "i:"))).toBe(true);
  });
});
