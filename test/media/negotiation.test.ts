/**
 * The negotiation layer (negotiation.ts): the offer/answer state of one call above sdp.ts's pure
 * functions: o= versions, the pending offer, the far end's direction, and when the hold limit
 * applies.
 */
import { describe, expect, it } from "vitest";
import { MediaError } from "../../src/media/media.js";
import { isHeld, Negotiation } from "../../src/media/negotiation.js";
import { acceptAnswer } from "../../src/media/sdp.js";

const ours = () => new Negotiation({ address: "192.0.2.1", port: 20000, codecs: ["PCMU", "PCMA"] });

function remote(direction: string, address = "192.0.2.10", version = 1): string {
  return [
    "v=0",
    `o=- 42 ${version} IN IP4 ${address}`,
    "s=-",
    `c=IN IP4 ${address}`,
    "t=0 0",
    "m=audio 40000 RTP/AVP 0 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:101 telephone-event/8000",
    `a=${direction}`,
    "",
  ].join("\r\n");
}

const originVersion = (sdp: string) => Number(/^o=\S+ \S+ (\d+) /m.exec(sdp)?.[1]);
const direction = (sdp: string) => /^a=(sendrecv|sendonly|recvonly|inactive)/m.exec(sdp)?.[1];

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof MediaError ? e.code : `not a MediaError: ${String(e)}`;
  }
  return "no error";
}

describe("negotiation state", () => {
  it("answers an offer: what it concludes, our address and port in the answer", () => {
    const n = ours();
    const { sdp, negotiated } = n.answer(remote("sendrecv"), false);
    expect(negotiated).toMatchObject({
      payloadType: 0,
      remoteAddress: "192.0.2.10",
      remotePort: 40000,
      remoteRtcpPort: 40001,
      localDirection: "sendrecv",
      remoteDirection: "sendrecv",
      telephoneEvent: { payloadType: 101, clockRate: 8000 },
    });
    expect(negotiated.codec.name).toBe("PCMU");
    expect(sdp).toMatch(/^c=IN IP4 192\.0\.2\.1\r?$/m);
    expect(sdp).toMatch(/^m=audio 20000 RTP\/AVP 0 101/m);
    expect(n.remoteDirection).toBe("sendrecv");
  });

  it("uses up an o= version only for a description it produced (RFC 3264 §8)", () => {
    const n = ours();
    expect(originVersion(n.createOffer(false))).toBe(1);
    expect(codeOf(() => n.answer("v=0\r\nnot sdp", false))).toBe("malformed");
    expect(codeOf(() => n.answer(remote("sendrecv").replace(/ 0 101/, " 18"), false))).toBe("incompatible");
    expect(originVersion(n.answer(remote("sendrecv"), false).sdp)).toBe(2);
    expect(originVersion(n.createOffer(true))).toBe(3);
  });

  it("takes an answer only to an offer of ours that is still pending", () => {
    const n = ours();
    expect(codeOf(() => n.acceptAnswer(remote("sendrecv")))).toBe("incompatible");
    n.createOffer(false);
    expect(codeOf(() => n.acceptAnswer("v=0\r\nx"))).toBe("malformed");
    // A failed answer leaves the offer pending; a good one concludes it.
    expect(n.acceptAnswer(remote("recvonly")).localDirection).toBe("sendonly");
    expect(codeOf(() => n.acceptAnswer(remote("sendrecv")))).toBe("incompatible");
  });

  it("remembers the far end's direction: our hold offer is inactive while it holds us (RFC 3264 §8.4)", () => {
    const n = ours();
    n.answer(remote("sendonly"), false);
    expect(n.remoteDirection).toBe("sendonly");
    expect(direction(n.createOffer(true))).toBe("inactive");
    n.acceptAnswer(remote("recvonly", "192.0.2.10", 2));
    expect(n.remoteDirection).toBe("recvonly");
    expect(direction(n.createOffer(true))).toBe("sendonly");
    expect(direction(n.createOffer(false))).toBe("sendrecv");
  });
});

describe("isHeld: when the watchdog's hold limit applies", () => {
  const offered = (dir: "sendrecv" | "sendonly" | "recvonly" | "inactive", their: string, address?: string) =>
    acceptAnswer(["PCMU"], dir, remote(their, address));
  it.each([
    // our offer, their answer, address, held
    ["sendrecv", "sendrecv", "192.0.2.10", false],
    ["sendonly", "recvonly", "192.0.2.10", true], // we hold: nothing to receive
    ["sendrecv", "sendonly", "192.0.2.10", true], // they hold us
    ["sendrecv", "inactive", "192.0.2.10", true],
    ["sendrecv", "recvonly", "192.0.2.10", true], // they send nothing by their description
    ["sendrecv", "sendrecv", "0.0.0.0", true], // RFC 2543 hold
  ] as const)("we offer %s, they answer %s from %s: held %s", (ourDir, theirDir, address, held) => {
    expect(isHeld(offered(ourDir, theirDir, address))).toBe(held);
  });
});
