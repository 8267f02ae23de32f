import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { buildResponse, repeatedHeaders, screen } from "../../src/sip/guard.js";

const dir = fileURLToPath(new URL("../fixtures/sip-torture/", import.meta.url));
const torture = (name: string) => readFileSync(`${dir}${name}.dat`, "latin1");

describe("screen: the first look at a message", () => {
  it("answers 416 to unkscm and novelsc, the two RFC 4475 messages that kill bare sip.js", () => {
    for (const name of ["unkscm", "novelsc"]) {
      const v = screen(torture(name));
      expect(v.kind).toBe("reply");
      if (v.kind !== "reply") continue;
      expect(v.status).toBe(416);
      expect(v.response).toMatch(/^SIP\/2\.0 416 Unsupported URI Scheme\r\n/);
      expect(v.response).toMatch(/\r\nCall-ID: (unkscm|novelsc)\./);
      expect(v.response).toMatch(/\r\nTo: .*;tag=/);
    }
  });

  it("answers 505 to a SIP/7.0 request (badvers)", () => {
    const v = screen(torture("badvers"));
    expect(v.kind === "reply" && v.status).toBe(505);
  });

  it("passes responses, valid requests and tel: URIs", () => {
    expect(screen("SIP/2.0 200 OK\r\n\r\n").kind).toBe("pass");
    expect(screen(torture("wsinv")).kind).toBe("pass");
    expect(screen("OPTIONS tel:+3912345 SIP/2.0\r\n\r\n").kind).toBe("pass");
  });

  it("never answers an ACK and drops what has nothing to answer with", () => {
    expect(screen("ACK foo:bar SIP/2.0\r\nVia: x\r\n\r\n").kind).toBe("drop");
    expect(screen("OPTIONS foo:bar SIP/2.0\r\n\r\n").kind).toBe("drop");
    expect(screen("\u0000\u0001garbage").kind).toBe("drop");
  });

  it("answers 400 with a Warning to repeated single-value headers (multi01, mcl01), compact forms too", () => {
    const multi = screen(torture("multi01"));
    expect(multi.kind === "reply" && multi.status).toBe(400);
    const mcl = screen(torture("mcl01"));
    expect(mcl.kind).toBe("reply");
    if (mcl.kind !== "reply") return;
    expect(mcl.response).toMatch(/^SIP\/2\.0 400 Bad Request\r\n/);
    expect(mcl.response).toMatch(/\r\nWarning: 399 \S+ "Duplicate Content-Length header"\r\n/);
    expect(mcl.response).toMatch(/\r\nCall-ID: mcl01\./);
    const base = "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/WS x;branch=z9hG4bK1\r\nf: <sip:x@y>;tag=1\r\n";
    expect(repeatedHeaders(`${base}From: <sip:z@y>;tag=2\r\nTo: <sip:a@b>\r\n\r\nFrom: body`)).toEqual([
      "From",
    ]);
    expect(
      repeatedHeaders(`${base}l: 0\r\nContent-Length: 0\r\nc: a/b\r\nContent-Type: a/b\r\n\r\n`),
    ).toEqual(["Content-Length", "Content-Type"]);
    // headers that may repeat, and a folded line, are not duplicates
    expect(
      repeatedHeaders(
        `${base}Via: SIP/2.0/WS y\r\nContact: <sip:1@h>\r\nContact: <sip:2@h>\r\n to: x\r\n\r\n`,
      ),
    ).toEqual([]);
    // an ACK is never answered, even when malformed
    expect(screen(`ACK sip:a@b SIP/2.0\r\nVia: x\r\nf: a;tag=1\r\nFrom: b;tag=2\r\n\r\n`).kind).toBe("drop");
  });

  it("screens every RFC 4475 message without throwing", () => {
    const files = readdirSync(dir).filter((f) => f.endsWith(".dat"));
    expect(files.length).toBe(49);
    for (const f of files) expect(() => screen(readFileSync(`${dir}${f}`, "latin1"))).not.toThrow();
  });
});

describe("buildResponse (RFC 3261 §8.2.6)", () => {
  it("copies every Via in order, unfolds lines and keeps an existing To tag", () => {
    const req =
      "BYE sip:a@b SIP/2.0\r\nv: SIP/2.0/TCP one;branch=z9hG4bK1\r\nVia: SIP/2.0/TCP two;branch=z9hG4bK2\r\nf: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\n ;tag=9\r\ni: abc\r\nCSeq: 2 BYE\r\n\r\n";
    const r = buildResponse(req, 400);
    expect(r).toBe(
      "SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/TCP one;branch=z9hG4bK1\r\nVia: SIP/2.0/TCP two;branch=z9hG4bK2\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b> ;tag=9\r\nCall-ID: abc\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
    );
  });
});
