/**
 * The fast header parser against sip.js's own: whatever the fast path accepts must be exactly
 * what the PEG parser builds (same classes, same fields), over real lab traffic (Kamailio,
 * baresip, SIPp, sip.js), the RFC 4475 torture messages, hand-picked corner cases and a few
 * thousand seeded mutations of real headers. Where it declines, sip.js's parser decides.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { Core, Grammar } from "sip.js";
import { describe, expect, it } from "vitest";
import { fastParse, installFastGrammar, pegParse } from "../../src/sip/fast-grammar.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures");
const LAB: string[] = JSON.parse(readFileSync(join(FIXTURES, "sip-lab-messages.json"), "utf8"));
const TORTURE = readdirSync(join(FIXTURES, "sip-torture"))
  .filter((f) => f.endsWith(".dat"))
  .map((f) => readFileSync(join(FIXTURES, "sip-torture", f), "latin1"));

/** Header name (long or compact) → the rule sip.js's message parser uses for it. */
const RULES: Record<string, string> = {
  via: "Via",
  v: "Via",
  from: "From",
  f: "From",
  to: "To",
  t: "To",
  "call-id": "Call_ID",
  i: "Call_ID",
  contact: "Contact",
  m: "Contact",
  "record-route": "Record_Route",
  "content-length": "Content_Length",
  l: "Content_Length",
  "content-type": "Content_Type",
  c: "Content_Type",
  cseq: "CSeq",
  "max-forwards": "Max_Forwards",
};

/** [rule, value] for the first line and every parsed header of a message, as parser.js cuts them. */
function inputs(message: string): Array<[string, string]> {
  const head = message.split("\r\n\r\n")[0] ?? "";
  const lines = head.replace(/\r\n[ \t]+/g, " ").split("\r\n");
  const out: Array<[string, string]> = [["Request_Response", lines[0] ?? ""]];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const rule = RULES[line.slice(0, colon).trim().toLowerCase()];
    if (rule) out.push([rule, line.slice(colon + 1).trim()]);
  }
  return out;
}

function agrees(rule: string, input: string): { accepted: boolean; same: boolean } {
  const fast = fastParse(input, rule);
  if (fast === undefined) return { accepted: false, same: true };
  return { accepted: true, same: isDeepStrictEqual(fast, pegParse(input, rule)) };
}

function expectAgreement(rule: string, input: string): boolean {
  const r = agrees(rule, input);
  if (!r.same) {
    // show both for the failure message
    expect({ rule, input, fast: fastParse(input, rule) }).toEqual({
      rule,
      input,
      fast: pegParse(input, rule),
    });
  }
  return r.accepted;
}

// A small deterministic PRNG, so a failing mutation is reproducible.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("fast SIP grammar", () => {
  it("parses every hot header of real lab traffic, exactly as sip.js does", () => {
    let accepted = 0;
    let total = 0;
    for (const message of LAB) {
      for (const [rule, input] of inputs(message)) {
        total++;
        if (expectAgreement(rule, input)) accepted++;
      }
    }
    // the point of the fast path: plain traffic never reaches the PEG parser, save the odd
    // header of the hand-written corner-case messages at the end of the fixture
    expect(total).toBeGreaterThan(250);
    expect(accepted / total).toBeGreaterThan(0.97);
    const invite = LAB.find((m) => m.startsWith("INVITE sip:") && m.includes("transport=ws")) ?? "";
    for (const [rule, input] of inputs(invite))
      expect(fastParse(input, rule), `${rule}: ${input}`).toBeDefined();
  });

  it("agrees with sip.js on every header of the RFC 4475 torture messages", () => {
    expect(TORTURE.length).toBeGreaterThan(40);
    for (const message of TORTURE) for (const [rule, input] of inputs(message)) expectAgreement(rule, input);
  });

  it("agrees on corner cases, declining what it does not parse alike", () => {
    const cases: Array<[string, string]> = [
      ["Request_Response", "INVITE sip:1017@127.0.0.1 SIP/2.0"],
      ["Request_Response", "INFO sip:1017@127.0.0.1:5060;transport=TCP SIP/2.0"],
      ["Request_Response", "INVITEX sip:1017@127.0.0.1 SIP/2.0"],
      ["Request_Response", "invite sip:1017@127.0.0.1 SIP/2.0"],
      ["Request_Response", "INVITE SIP:1017@127.0.0.1 SIP/2.0"],
      ["Request_Response", "INVITE sips:1017@Example.COM SIP/2.0"],
      ["Request_Response", "INVITE tel:+390612345 SIP/2.0"],
      ["Request_Response", "INVITE sip:1017@127.0.0.1 SIP/3.0"],
      ["Request_Response", "INVITE sip:a%20b@127.0.0.1 SIP/2.0"],
      ["Request_Response", "INVITE sip:1017@127.0.0.1;lr;maddr=1.2.3.4 SIP/2.0"],
      ["Request_Response", "INVITE sip:1017@127.0.0.1;transport=udpx SIP/2.0"],
      ["Request_Response", "INVITE sip:1017@127.0.0.1;lrx SIP/2.0"],
      ["Request_Response", "INVITE sip:1017@127.0.0.1;LR SIP/2.0"],
      ["Request_Response", "INVITE sip:1017@127.0.0.1;ttl=5 SIP/2.0"],
      ["Request_Response", "INVITE sip:1017@1.2.3.4.com SIP/2.0"],
      ["Request_Response", "INVITE sip:1017@1.2.3.256 SIP/2.0"],
      ["Request_Response", "INVITE sip:1017@a.1b SIP/2.0"],
      ["Request_Response", "INVITE sip:1017@a-.b SIP/2.0"],
      ["Request_Response", "INVITE sip:1017@a_b.c SIP/2.0"],
      ["Request_Response", "INVITE sip:1017@host:99999 SIP/2.0"],
      ["Request_Response", "INVITE sip:1017@host:0 SIP/2.0"],
      ["Request_Response", "INVITE sip:+39-06(123)@host;user=phone SIP/2.0"],
      ["Request_Response", "INVITE sip:+39@host;user=Phone SIP/2.0"],
      ["Request_Response", "INVITE sip:+39@host;user=phonex SIP/2.0"],
      ["Request_Response", "INVITE sip:+39@host;user=ipx SIP/2.0"],
      ["Request_Response", "INVITE sip:+39@host;user=dialstring SIP/2.0"],
      ["Request_Response", "INVITE sip:+39@host;user SIP/2.0"],
      ["Request_Response", "SIP/2.0 200 OK"],
      ["Request_Response", "SIP/2.0 200 "],
      ["Request_Response", "SIP/2.0 183 Session Progress"],
      ["Request_Response", "SIP/2.0 100 trying -- your call is important to us"],
      ["Request_Response", "SIP/2.0 699 Weird # reason"],
      ["Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1;rport=5060;received=127.0.0.1"],
      ["Via", "SIP/2.0/udp host.example;branch=z9hG4bK1"],
      ["Via", "SIP/2.0/UDPX host.example;branch=z9hG4bK1"],
      ["Via", "SIP/2.0/WSS  abc.invalid;branch=z9hG4bK1;rport"],
      ["Via", "SIP/2.0/WSS  abc.invalid;rport;branch=z9hG4bK1"],
      ["Via", "SIP/2.0/WSS  abc.invalid;branch=z9hG4bK1;rport="],
      ["Via", "SIP/2.0/WSS  abc.invalid;branch=z9hG4bK1;rport=x"],
      ["Via", "SIP/2.0/TLS abc.invalid;branch=z9hG4bK1;alias"],
      ["Via", "SIP / 2.0 / UDP abc.invalid;branch=z9hG4bK1"],
      ["Via", "SIP/2.0/TCP abc.invalid;BRANCH=z9hG4bK1;Received=10.1.2.3"],
      ["Via", "SIP/2.0/TCP abc.invalid;branch=z9hG4bK1;branch=z9hG4bK2"],
      ["Via", "SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1"],
      ["From", "<sip:3001@127.0.0.1>;tag=1"],
      ["From", '"Mario Rossi" <sip:3001@127.0.0.1>;tag=1'],
      ["From", '"Zoë Łukasz محمد" <sip:3001@127.0.0.1>;tag=1'],
      ["From", '"" <sip:3001@127.0.0.1>;tag=1'],
      ["From", '"a \\"b\\"" <sip:3001@127.0.0.1>;tag=1'],
      ["From", "Mario  Rossi <sip:3001@127.0.0.1>;tag=1"],
      ["From", "Mario<sip:3001@127.0.0.1>;tag=1"],
      ["From", "sip:3001@127.0.0.1;tag=1"],
      ["From", "<sip:3001@127.0.0.1>;TAG=Abc;x=y"],
      ["From", "<sip:3001@127.0.0.1>;x=y;tag=abc"],
      ["From", "<sip:3001@127.0.0.1>;tag"],
      ["From", "<sip:3001@127.0.0.1>;tag=a;tag=b"],
      ["From", "<sip:3001@127.0.0.1> ;tag=1"],
      ["From", "<sip:3001@127.0.0.1;transport=tcp?subject=x>;tag=1"],
      ["To", "<sip:1017@127.0.0.1>"],
      ["To", "<sips:1017@pbx.example:5061;transport=TLS>;tag=xyz"],
      ["Contact", "<sip:3001@127.0.0.1:32644;transport=UDP>"],
      ["Contact", "<sip:a@b.example>;expires=60, <sip:c@d.example>;expires=0"],
      ["Contact", "<sip:a@b.example>;expires=60x"],
      ["Contact", "<sip:a@b.example>;expires=soon"],
      ["Contact", "<sip:a@b.example>;q=0.7"],
      ["Contact", "<sip:a@b.example>,<sip:c@d.example>"],
      ["Contact", "<sip:a@b.example>  ,  <sip:c@d.example>"],
      ["Contact", "*"],
      ["Contact", '"x,y" <sip:a@b.example>'],
      ["Contact", '<sip:a@b.example>;+sip.instance="<urn:uuid:1>"'],
      ["Record_Route", "<sip:127.0.0.1:25080;transport=ws;r2=on;lr;ftag=18086SIPpTag001;nat=yes>"],
      ["Record_Route", "<sip:p1.example;lr>, <sip:p2.example;lr>"],
      ["Call_ID", "1-18086@127.0.0.1"],
      ["Call_ID", "abc"],
      ["Call_ID", "a@b@c"],
      ["Call_ID", "a b"],
      ["CSeq", "2 INVITE"],
      ["CSeq", "2  INVITE"],
      ["CSeq", "4294967296 INVITE"],
      ["CSeq", "1 INVITEX"],
      ["CSeq", "1 MESSAGE"],
      ["Max_Forwards", "70"],
      ["Max_Forwards", "070"],
      ["Max_Forwards", "-1"],
      ["Content_Length", "0"],
      ["Content_Length", "202"],
      ["Content_Length", " 202"],
      ["Content_Type", "application/sdp"],
      ["Content_Type", "Application/SDP"],
      ["Content_Type", "application/sdp;charset=utf-8"],
      ["Content_Type", "textual/plain"],
      ["Content_Type", "message/sipfrag"],
      ["Content_Type", "application/x-foo"],
    ];
    let accepted = 0;
    for (const [rule, input] of cases) if (expectAgreement(rule, input)) accepted++;
    expect(accepted).toBeGreaterThan(40);
  });

  it("agrees on thousands of seeded mutations of real headers", () => {
    const base = new Map<string, [string, string]>();
    for (const m of LAB) for (const [rule, input] of inputs(m)) base.set(`${rule} ${input}`, [rule, input]);
    const seeds = [...base.values()];
    const alphabet = [..." ;=,\"<>:@%\té/.-?09xX_~[]'+*!"];
    const rnd = prng(4475);
    let accepted = 0;
    let tried = 0;
    for (let i = 0; i < 6000; i++) {
      const [rule, input] = seeds[Math.floor(rnd() * seeds.length)] ?? ["Via", ""];
      let s = input;
      const edits = 1 + Math.floor(rnd() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rnd() * (s.length + 1));
        const op = rnd();
        const ch = alphabet[Math.floor(rnd() * alphabet.length)] ?? " ";
        if (op < 0.4) s = s.slice(0, at) + ch + s.slice(at);
        else if (op < 0.7) s = s.slice(0, at) + s.slice(at + 1);
        else if (op < 0.85) s = s.slice(0, at) + ch + s.slice(at + 1);
        else s = s.slice(0, at) + s.slice(at, at + 4).toUpperCase() + s.slice(at + 4);
      }
      tried++;
      if (expectAgreement(rule, s)) accepted++;
    }
    expect(tried).toBe(6000);
    expect(accepted).toBeGreaterThan(1000); // the mutations exercise the fast path, not only the fallback
  });

  it("once installed, sip.js parses whole messages exactly as before", () => {
    const peg = (text: string) => {
      const saved = Grammar.parse;
      (Grammar as { parse: typeof saved }).parse = pegParse as typeof saved;
      try {
        return Core.Parser.parseMessage(text, silent);
      } finally {
        (Grammar as { parse: typeof saved }).parse = saved;
      }
    };
    installFastGrammar();
    installFastGrammar(); // idempotent
    for (const text of [...LAB, ...TORTURE]) {
      const fast = Core.Parser.parseMessage(text, silent);
      expect(isDeepStrictEqual(fast, peg(text)), text.split("\r\n")[0]).toBe(true);
    }
  });
});

const silent = {
  error: () => {},
  warn: () => {},
  log: () => {},
  debug: () => {},
} as unknown as Parameters<typeof Core.Parser.parseMessage>[1];
