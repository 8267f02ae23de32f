/**
 * ICE and DTLS-SRTP attributes both ways (sdp-ice.ts through sdp.ts), and the RFC 7983
 * demultiplexing of the ICE transport's one socket. Pure: no sockets.
 */
import { describe, expect, it } from "vitest";
import { classify, isRtcp } from "../../src/media/ice-transport.js";
import { MediaError } from "../../src/media/media.js";
import { Negotiation } from "../../src/media/negotiation.js";
import { answerOffer, type LocalDescription, type LocalIceProvider } from "../../src/media/sdp.js";
import {
  answerSetup,
  dtlsRole,
  isIceRestart,
  type LocalIceDtls,
  needsNewDtls,
  type RemoteIceDtls,
} from "../../src/media/sdp-ice.js";

const FP = "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99";

/** A browser-style offer: SAVPF, BUNDLE of one audio m= line, mid, rtcp-mux, ICE, fingerprint. */
const BROWSER_OFFER = [
  "v=0",
  "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "a=group:BUNDLE audio0",
  "a=msid-semantic: WMS",
  "m=audio 50000 UDP/TLS/RTP/SAVPF 111 0 8 101",
  "c=IN IP4 203.0.113.7",
  "a=rtcp:9 IN IP4 0.0.0.0",
  "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0",
  "a=candidate:2 1 udp 1686052607 203.0.113.7 50000 typ srflx raddr 127.0.0.1 rport 50000 generation 0",
  "a=candidate:3 2 udp 2122260222 127.0.0.1 50001 typ host generation 0",
  "a=candidate:4 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0",
  "a=ice-ufrag:Fq3y",
  "a=ice-pwd:8c2AfqcjZzNgvv1vXx1nV3pa",
  "a=ice-options:trickle",
  `a=fingerprint:sha-256 ${FP}`,
  "a=setup:actpass",
  "a=mid:audio0",
  "a=sendrecv",
  "a=rtcp-mux",
  "a=rtpmap:111 opus/48000/2",
  "a=rtpmap:0 PCMU/8000",
  "a=rtpmap:8 PCMA/8000",
  "a=rtpmap:101 telephone-event/8000",
  "",
].join("\r\n");

const LOCAL_FP = { algorithm: "sha-256", value: "01:02:03:04" };

function provider(): LocalIceProvider & { answered: RemoteIceDtls[] } {
  const answered: RemoteIceDtls[] = [];
  const base = (setup: LocalIceDtls["setup"]): LocalIceDtls => ({
    ufrag: "UfRg",
    pwd: "0123456789abcdefghijkl",
    candidates: [
      {
        foundation: "f1",
        component: 1,
        transport: "udp",
        priority: 2130706431,
        address: "127.0.0.1",
        port: 23400,
        type: "host",
      },
      {
        foundation: "f2",
        component: 1,
        transport: "udp",
        priority: 1694498815,
        address: "198.51.100.9",
        port: 40000,
        type: "srflx",
        relatedAddress: "127.0.0.1",
        relatedPort: 23400,
      },
    ],
    fingerprint: LOCAL_FP,
    setup,
    rtcpMux: true,
    mid: "0",
    bundle: false,
  });
  return {
    answered,
    offer: () => base("actpass"),
    answer: (remote) => {
      answered.push(remote);
      return {
        ...base(answerSetup(remote.setup)),
        rtcpMux: remote.rtcpMux,
        mid: remote.mid,
        bundle: remote.bundle,
      };
    },
  };
}

const local = (ice?: LocalIceProvider): LocalDescription => ({
  address: "127.0.0.1",
  port: 23400,
  sessionId: "1",
  version: 1,
  codecs: ["PCMU", "PCMA"],
  ice,
});

/** The negotiation layer as a call uses it (policy preferred, clear signalling). */
const negotiation = (ice?: LocalIceProvider) =>
  new Negotiation({ address: "127.0.0.1", port: 23400, codecs: ["PCMU", "PCMA"], ice });

function incompatible(f: () => unknown, message: RegExp): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MediaError);
    expect((e as MediaError).code).toBe("incompatible");
    expect((e as MediaError).message).toMatch(message);
    return;
  }
  throw new Error("did not throw");
}

describe("answering a DTLS-SRTP + ICE offer", () => {
  it("reads the browser-style offer: component 1 UDP candidates, fingerprint, setup, mux, mid, bundle", () => {
    const p = provider();
    const { negotiated } = answerOffer(local(p), BROWSER_OFFER, false);
    const remote = negotiated.iceDtls?.remote;
    expect(remote).toMatchObject({
      ufrag: "Fq3y",
      pwd: "8c2AfqcjZzNgvv1vXx1nV3pa",
      iceLite: false,
      fingerprint: { algorithm: "sha-256", value: FP },
      setup: "actpass",
      rtcpMux: true,
      mid: "audio0",
      bundle: true,
    });
    // the RTCP component and the TCP candidate are not ours to use
    expect(remote?.candidates.map((c) => `${c.address}:${c.port} ${c.type}`)).toEqual([
      "127.0.0.1:50000 host",
      "203.0.113.7:50000 srflx",
    ]);
    expect(remote?.candidates[1]).toMatchObject({ relatedAddress: "127.0.0.1", relatedPort: 50000 });
    expect(negotiated.iceDtls?.localSetup).toBe("passive");
    expect(negotiated.codec.name).toBe("PCMU");
  });

  it("answers UDP/TLS/RTP/SAVPF with our ICE, fingerprint, setup:passive, rtcp-mux, mirrored mid and BUNDLE", () => {
    const { sdp } = negotiation(provider()).answer(BROWSER_OFFER, false);
    expect(sdp).toMatch(/^m=audio 23400 UDP\/TLS\/RTP\/SAVPF 0 101\r$/m);
    expect(sdp).toContain("a=ice-ufrag:UfRg\r\n");
    expect(sdp).toContain("a=ice-pwd:0123456789abcdefghijkl\r\n");
    expect(sdp).toContain("a=fingerprint:sha-256 01:02:03:04\r\n");
    expect(sdp).toContain("a=setup:passive\r\n");
    expect(sdp).toContain("a=rtcp-mux\r\n");
    expect(sdp).toContain("a=mid:audio0\r\n");
    expect(sdp).toContain("a=group:BUNDLE audio0\r\n");
    expect(sdp).toContain("a=candidate:f1 1 udp 2130706431 127.0.0.1 23400 typ host\r\n");
    expect(sdp).toContain(
      "a=candidate:f2 1 udp 1694498815 198.51.100.9 40000 typ srflx raddr 127.0.0.1 rport 23400\r\n",
    );
    expect(sdp).toContain("a=end-of-candidates\r\n");
    expect(sdp).not.toMatch(/a=rtcp:/); // RTCP is on the RTP port (RFC 5761)
    expect(sdp).not.toMatch(/a=ice-options:trickle/);
  });

  it("announces our RTP source (a=ssrc with its CNAME) when the provider gives it: werift routes RTP by signalled SSRC", () => {
    const p = provider();
    const withSource: LocalIceProvider = {
      offer: () => ({ ...p.offer(), source: { ssrc: 3970828580, cname: "cuffia@box" } }),
      answer: (remote) => ({ ...p.answer(remote), source: { ssrc: 3970828580, cname: "cuffia@box" } }),
    };
    expect(negotiation(withSource).answer(BROWSER_OFFER, false).sdp).toContain(
      "a=ssrc:3970828580 cname:cuffia@box\r\n",
    );
    expect(negotiation(provider()).answer(BROWSER_OFFER, false).sdp).not.toMatch(/a=ssrc:/);
  });

  it("an ICE offer with c=0.0.0.0 and port 9 (no default candidate: werift, JSEP) is not the old hold", () => {
    const webrtc = BROWSER_OFFER.replace("m=audio 50000 ", "m=audio 9 ").replace(
      "c=IN IP4 203.0.113.7",
      "c=IN IP4 0.0.0.0",
    );
    const { sdp, negotiated } = answerOffer(local(provider()), webrtc, false);
    expect(negotiated.remoteDirection).toBe("sendrecv");
    expect(negotiated.remoteAddress).toBe("127.0.0.1"); // its first candidate's
    expect(sdp).toContain("a=sendrecv\r\n");
    // the same c= line on a plain offer still is the RFC 2543 hold (sdp.test.ts)
  });

  it("does not mux RTCP or mirror a group the offer did not have", () => {
    const plainish = BROWSER_OFFER.replace("a=rtcp-mux\r\n", "")
      .replace("a=group:BUNDLE audio0\r\n", "")
      .replace("a=mid:audio0\r\n", "");
    const { sdp } = negotiation(provider()).answer(plainish, false);
    expect(sdp).not.toContain("a=rtcp-mux");
    expect(sdp).not.toContain("a=group:");
    expect(sdp).not.toContain("a=mid:");
    expect(sdp).toMatch(/a=rtcp:23401/);
  });

  it.each([
    ["no fingerprint", (s: string) => s.replace(/a=fingerprint:.*\r\n/, ""), /without a=fingerprint/],
    ["no ICE credentials", (s: string) => s.replace(/a=ice-pwd:.*\r\n/, ""), /ICE is required/],
    [
      "a short ICE password",
      (s: string) => s.replace(/a=ice-pwd:.*\r\n/, "a=ice-pwd:short\r\n"),
      /too short/,
    ],
    ["an unknown hash", (s: string) => s.replace("sha-256", "md5"), /not supported/],
    ["setup holdconn", (s: string) => s.replace("a=setup:actpass", "a=setup:holdconn"), /holdconn/],
  ])("refuses an offer with %s (488)", (_name, edit, message) => {
    incompatible(() => negotiation(provider()).answer(edit(BROWSER_OFFER), false), message);
  });

  it("refuses a DTLS offer when the call has no ICE agent", () => {
    incompatible(() => answerOffer(local(undefined), BROWSER_OFFER, false), /no ICE agent/);
    incompatible(() => negotiation(undefined).answer(BROWSER_OFFER, false), /not available on this call/);
  });

  it("takes the fingerprint from the session level too (RFC 8122 §5)", () => {
    const moved = BROWSER_OFFER.replace(`a=fingerprint:sha-256 ${FP}\r\n`, "").replace(
      "t=0 0\r\n",
      `t=0 0\r\na=fingerprint:SHA-256 ${FP.toLowerCase()}\r\n`,
    );
    const { negotiated } = answerOffer(local(provider()), moved, false);
    expect(negotiated.iceDtls?.remote.fingerprint).toEqual({ algorithm: "sha-256", value: FP });
  });
});

describe("offering DTLS-SRTP + ICE", () => {
  it("offers UDP/TLS/RTP/SAVPF, actpass, rtcp-mux, our candidates", () => {
    const sdp = negotiation(provider()).createOffer(false);
    expect(sdp).toMatch(/^m=audio 23400 UDP\/TLS\/RTP\/SAVPF 0 8 101\r$/m);
    expect(sdp).toContain("a=setup:actpass\r\n");
    expect(sdp).toContain("a=rtcp-mux\r\n");
    expect(sdp).toContain("a=fingerprint:sha-256 01:02:03:04\r\n");
    expect(sdp).toContain("a=candidate:f1 1 udp 2130706431 127.0.0.1 23400 typ host\r\n");
  });

  it("an answer keeps the profile: plain RTP/AVP to our DTLS offer, and DTLS to a plain one, are refused", () => {
    // the far end's answer: another desk's (setup passive, its own ICE)
    const answer = negotiation(provider()).answer(negotiation(provider()).createOffer(false), false).sdp;
    const plain = answer
      .replace("UDP/TLS/RTP/SAVPF", "RTP/AVP")
      .split("\r\n")
      .filter((l) => !/^a=(fingerprint|ice-|candidate|setup|end-of)/.test(l))
      .join("\r\n");
    const ours = negotiation(provider());
    ours.createOffer(false);
    incompatible(() => ours.acceptAnswer(plain), /not UDP\/TLS\/RTP\/SAVPF/);
    const clear = negotiation(undefined);
    clear.createOffer(false);
    incompatible(() => clear.acceptAnswer(answer), /did not offer it/);
    const n = ours.acceptAnswer(answer);
    expect(n.iceDtls?.remote.setup).toBe("passive");
    expect(n.iceDtls?.localSetup).toBe("actpass");
    expect(n.security).toEqual({ kind: "dtls" });
  });
});

describe("a=setup and DTLS roles (RFC 5763 §5, RFC 4145 §4)", () => {
  it.each([
    ["actpass", "passive"],
    ["active", "passive"],
    ["passive", "active"],
  ] as const)("answers %s with %s", (offered, answered) => {
    expect(answerSetup(offered)).toBe(answered);
  });

  it.each([
    ["active", "actpass", "client"],
    ["passive", "actpass", "server"],
    ["actpass", "active", "server"],
    ["actpass", "passive", "client"],
  ] as const)("ours %s, theirs %s: we are the DTLS %s", (ours, theirs, role) => {
    expect(dtlsRole(ours, theirs)).toBe(role);
  });
});

describe("re-INVITE: ICE restart and DTLS renewal", () => {
  const base = answerOffer(local(provider()), BROWSER_OFFER, false).negotiated.iceDtls
    ?.remote as RemoteIceDtls;
  it("a new ufrag or password is a restart; the same ones are not", () => {
    expect(isIceRestart(base, { ...base })).toBe(false);
    expect(isIceRestart(base, { ...base, ufrag: "Zz9z" })).toBe(true);
    expect(isIceRestart(base, { ...base, pwd: "another-password-22chars" })).toBe(true);
  });
  it("a new fingerprint, or a role turned around, needs a new DTLS association", () => {
    expect(needsNewDtls(base, { ...base })).toBe(false);
    expect(needsNewDtls(base, { ...base, fingerprint: { algorithm: "sha-256", value: "00:11" } })).toBe(true);
    const active = { ...base, setup: "active" as const };
    expect(needsNewDtls(active, { ...active, setup: "passive" })).toBe(true);
    expect(needsNewDtls(active, { ...active, setup: "actpass" })).toBe(false);
  });
});

describe("RFC 7983 demultiplexing on the ICE transport's socket", () => {
  it.each([
    [[0x00, 0x01], "stun"],
    [[0x01, 0x01], "stun"],
    [[0x03, 0x00], "stun"],
    [[20, 0xfe], "dtls"],
    [[22, 0xfe], "dtls"],
    [[63, 0x00], "dtls"],
    [[0x80, 0x00], "rtp"],
    [[0x80, 0x65], "rtp"], // telephone-event, PT 101
    [[0x80, 0xc8], "rtcp"], // SR, PT 200 (RFC 5761 §4)
    [[0x81, 0xc9], "rtcp"], // RR
    [[0x80, 0xe0], "rtp"], // marker set, PT 96: 0xe0 = 224, past the RTCP range
    [[0x40, 0x00], "other"], // TURN ChannelData is taken by werift before us
    [[], "other"],
  ])("%j is %s", (bytes, kind) => {
    expect(classify(Buffer.from(bytes))).toBe(kind);
  });
  it("RTCP by payload type 192-223", () => {
    expect(isRtcp(Buffer.from([0x80, 191]))).toBe(false);
    expect(isRtcp(Buffer.from([0x80, 192]))).toBe(true);
    expect(isRtcp(Buffer.from([0x80, 223]))).toBe(true);
    expect(isRtcp(Buffer.from([0x80, 224]))).toBe(false);
  });
});
