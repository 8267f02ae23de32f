import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { checkOffer, type OfferRequest, warning } from "../../src/sip/offer-check.js";

// the media side's own judgement of an offer (nothing is bound until create())
const media = createMediaFactory({
  audio: { source: { type: "none" }, sink: { type: "none" } },
  rtp: { address: "127.0.0.1", portMin: 0, portMax: 1, codecs: ["PCMU", "PCMA"] },
  log: silentLogger,
});
const options = {
  supported: ["outbound", "replaces"],
  checkSdp: (s: string) => media.checkOffer?.(s),
  agent: "desk7",
};

function request(body: string, headers: Record<string, string[]> = {}): OfferRequest {
  return { body, headers: (name) => headers[name.toLowerCase()] ?? [] };
}

const sdp = (m: string, ...rest: string[]) =>
  ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0", m, ...rest, ""].join("\r\n");
const good = sdp("m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000");
const sdpType = { "content-type": ["application/sdp"] };

describe("checkOffer: what the desk can never take is refused before it rings", () => {
  const table: Array<[string, OfferRequest, number | null, string | null]> = [
    ["a good offer", request(good, sdpType), null, null],
    ["an offerless INVITE", request(""), null, null],
    [
      "Content-Type with parameters, any case",
      request(good, { "content-type": ["Application/SDP; charset=utf-8"] }),
      null,
      null,
    ],
    ["supported Require tags, any case", request(good, { ...sdpType, require: ["Replaces"] }), null, null],
    ["SDP without Content-Type", request(good), 400, 'Warning: 399 desk7 "Missing Content-Type"'],
    [
      "a text/plain body",
      request("hi", { "content-type": ["text/plain"] }),
      415,
      'Warning: 399 desk7 "Unsupported body: text/plain"',
    ],
    [
      "a gzip'd SDP",
      request(good, { ...sdpType, "content-encoding": ["gzip"] }),
      415,
      'Warning: 399 desk7 "Unsupported body: Content-Encoding gzip"',
    ],
    [
      "SDP as a rendered body",
      request(good, { ...sdpType, "content-disposition": ["render"] }),
      415,
      'Warning: 399 desk7 "Unsupported body: Content-Disposition render"',
    ],
    [
      "SDP as a session body",
      request(good, { ...sdpType, "content-disposition": ["Session;handling=required"] }),
      null,
      null,
    ],
    ["not SDP at all", request("hello", sdpType), 488, null],
    [
      "video only",
      request(sdp("m=video 4000 RTP/AVP 96"), sdpType),
      488,
      'Warning: 304 desk7 "no active audio stream"',
    ],
    ["no common codec", request(sdp("m=audio 4000 RTP/AVP 18"), sdpType), 488, null],
    ["SRTP-DTLS only", request(sdp("m=audio 4000 UDP/TLS/RTP/SAVPF 0"), sdpType), 488, null],
    [
      "an unknown Require",
      request(good, { ...sdpType, require: ["100rel, foo", "Foo"] }),
      420,
      'Warning: 399 desk7 "Unsupported extension: 100rel, foo"',
    ],
  ];
  for (const [name, req, status, warn] of table) {
    it(`${name} → ${status ?? "offered"}`, () => {
      const r = checkOffer(req, options);
      expect(r?.status ?? null).toBe(status);
      if (warn) expect(r?.extraHeaders).toContain(warn);
      if (r) expect(r.extraHeaders.some((h) => /^Warning: 3\d\d desk7 "[^"]+"$/.test(h))).toBe(true);
    });
  }

  it("names what is wrong with the offer in the warn-code (RFC 3261 §20.43)", () => {
    const code = (body: string) =>
      /^Warning: (\d+)/.exec(checkOffer(request(body, sdpType), options)?.extraHeaders[0] ?? "")?.[1];
    expect(code("hello")).toBe("399");
    expect(code(sdp("m=audio 4000 RTP/AVP 18"))).toBe("305");
    expect(code(sdp("m=audio 4000 UDP/TLS/RTP/SAVPF 0"))).toBe("302");
    expect(code(sdp("m=audio 4000 RTP/SAVP 0"))).toBe("302"); // SDES over clear signalling
    expect(code(sdp("m=video 4000 RTP/AVP 96"))).toBe("304");
  });

  it("says 420's Unsupported and 415's Accept", () => {
    expect(checkOffer(request(good, { ...sdpType, require: ["foo"] }), options)?.extraHeaders).toContain(
      "Unsupported: foo",
    );
    expect(checkOffer(request("x", { "content-type": ["text/plain"] }), options)?.extraHeaders).toContain(
      "Accept: application/sdp",
    );
  });

  it("keeps a Warning's quoted text well-formed", () => {
    expect(warning(399, 'a "quoted"\r\nline\\', "h")).toBe('Warning: 399 h "a  quoted   line "');
  });
});
