import * as sdpTransform from "sdp-transform";
import { describe, expect, it } from "vitest";
import { MediaError } from "../../src/media/media.js";
import { acceptAnswer, answerOffer, buildOffer, type LocalDescription } from "../../src/media/sdp.js";

const local = (
  codecs: LocalDescription["codecs"] = ["G722", "PCMU", "PCMA"],
  version = 1,
): LocalDescription => ({
  address: "127.0.0.1",
  port: 20000,
  sessionId: "1234",
  version,
  codecs,
});

function offer(payloads: string, rtpmaps: string[], extra: string[] = []): string {
  return [
    "v=0",
    "o=- 42 1 IN IP4 192.0.2.10",
    "s=-",
    "c=IN IP4 192.0.2.10",
    "t=0 0",
    `m=audio 40000 RTP/AVP ${payloads}`,
    ...rtpmaps.map((r) => `a=rtpmap:${r}`),
    ...extra,
    "",
  ].join("\r\n");
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof MediaError ? e.code : `not a MediaError: ${String(e)}`;
  }
  return "no error";
}

describe("SDP offer", () => {
  it("offers RTP/AVP with our codecs in order, telephone-event, ptime 20, rtcp on port+1", () => {
    const s = sdpTransform.parse(buildOffer(local(), "sendrecv"));
    const m = s.media[0];
    expect(m?.protocol).toBe("RTP/AVP");
    expect(m?.payloads).toBe("9 0 8 101");
    expect(m?.rtp.map((r) => `${r.codec}/${r.rate}`)).toEqual([
      "G722/8000",
      "PCMU/8000",
      "PCMA/8000",
      "telephone-event/8000",
    ]);
    expect(m?.fmtp).toEqual([{ payload: 101, config: "0-16" }]);
    expect(m?.ptime).toBe(20);
    expect(m?.rtcp?.port).toBe(20001);
    expect(m?.direction).toBe("sendrecv");
    expect(s.connection).toEqual({ version: 4, ip: "127.0.0.1" });
    expect(s.origin.sessionVersion).toBe(1);
  });

  it("leaves G.722 out when not configured", () => {
    expect(String(sdpTransform.parse(buildOffer(local(["PCMA"]), "sendonly")).media[0]?.payloads)).toBe(
      "8 101",
    );
  });
});

describe("SDP answer matrix", () => {
  it("PCMU-only offer (static PT, no rtpmap) → PCMU", () => {
    const { sdp, negotiated } = answerOffer(local(), offer("0", []), false);
    expect(negotiated.codec.name).toBe("PCMU");
    expect(negotiated.telephoneEvent).toBeNull();
    expect(String(sdpTransform.parse(sdp).media[0]?.payloads)).toBe("0");
  });

  it("PCMA+PCMU offer with telephone-event → our preference (PCMU), offerer's te PT", () => {
    const { sdp, negotiated } = answerOffer(
      local(["PCMU", "PCMA"]),
      offer("8 0 96", ["8 PCMA/8000", "0 PCMU/8000", "96 telephone-event/8000"]),
      false,
    );
    expect(negotiated.codec.name).toBe("PCMU");
    expect(negotiated.telephoneEvent).toEqual({ payloadType: 96, clockRate: 8000 });
    expect(negotiated.remoteAddress).toBe("192.0.2.10");
    expect(negotiated.remotePort).toBe(40000);
    expect(negotiated.remoteRtcpPort).toBe(40001);
    expect(sdpTransform.parse(sdp).media[0]?.payloads).toBe("0 96");
  });

  it("G.722 offered and configured on both sides → G.722", () => {
    const { negotiated } = answerOffer(
      local(),
      offer("9 0 101", ["9 G722/8000", "101 telephone-event/8000"]),
      false,
    );
    expect(negotiated.codec.name).toBe("G722");
    expect(negotiated.codec.sampleRate).toBe(16000);
  });

  it("G.722 offered but not configured here → falls back to G.711", () => {
    expect(
      answerOffer(local(["PCMU", "PCMA"]), offer("9 8", ["9 G722/8000"]), false).negotiated.codec.name,
    ).toBe("PCMA");
  });

  it("G.722 configured here but not offered → G.711", () => {
    expect(answerOffer(local(), offer("0", []), false).negotiated.codec.name).toBe("PCMU");
  });

  it("accepts telephone-event/16000 with G.722", () => {
    const n = answerOffer(
      local(),
      offer("9 102", ["9 G722/8000", "102 telephone-event/16000"]),
      false,
    ).negotiated;
    expect(n.telephoneEvent).toEqual({ payloadType: 102, clockRate: 16000 });
  });

  it("no common codec → incompatible", () => {
    expect(codeOf(() => answerOffer(local(), offer("18 3", ["18 G729/8000", "3 GSM/8000"]), false))).toBe(
      "incompatible",
    );
  });

  it("unknown transport profile → incompatible (RTP/SAVP and DTLS profiles are the security policy's)", () => {
    expect(codeOf(() => answerOffer(local(), offer("0", []).replace("RTP/AVP", "RTP/XYZ"), false))).toBe(
      "incompatible",
    );
  });

  it("IPv6 connection → incompatible", () => {
    const v6 = offer("0", []).replace("c=IN IP4 192.0.2.10", "c=IN IP6 2001:db8::1");
    expect(codeOf(() => answerOffer(local(), v6, false))).toBe("incompatible");
  });

  it("video-only offer → incompatible; audio plus video → video refused with port 0", () => {
    expect(codeOf(() => answerOffer(local(), offer("0", []).replace("m=audio", "m=video"), false))).toBe(
      "incompatible",
    );
    const withVideo = `${offer("0", [])}m=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n`;
    const s = sdpTransform.parse(answerOffer(local(), withVideo, false).sdp);
    expect(s.media.map((m) => `${m.type}:${m.port}`)).toEqual(["audio:20000", "video:0"]);
  });

  it.each([
    ["garbage", "hello world"],
    ["empty", ""],
    ["not a string", 42],
    ["no v= line", "o=- 1 1 IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 0\r\n"],
    ["no m= line", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"],
    ["no c= line", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"],
    ["bad port", offer("0", []).replace("m=audio 40000", "m=audio 99999")],
    ["bad payload list", offer("x y", [])],
    ["binary junk", "v=0\r\n\u0000\u0001\u0002"],
  ])("%s → malformed", (_name, text) => {
    expect(codeOf(() => answerOffer(local(), text as string, false))).toBe("malformed");
  });

  it("never throws anything but MediaError on random input", () => {
    const base = offer("9 0 8 101", ["9 G722/8000", "101 telephone-event/8000"], ["a=sendonly"]);
    let seed = 7;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const cut = seed % base.length;
      const mutated = base.slice(0, cut) + String.fromCharCode(seed % 128) + base.slice(cut + 1 + (seed % 3));
      try {
        answerOffer(local(), mutated, false);
      } catch (e) {
        expect(e).toBeInstanceOf(MediaError);
      }
    }
  });
});

describe("hold directions (RFC 3264 §8.4)", () => {
  const dir = (extra: string[], hold = false): string | undefined =>
    sdpTransform.parse(answerOffer(local(), offer("0", [], extra), hold).sdp).media[0]?.direction;

  it.each([
    [["a=sendrecv"], false, "sendrecv"],
    [[], false, "sendrecv"],
    [["a=sendonly"], false, "recvonly"],
    [["a=inactive"], false, "inactive"],
    [["a=recvonly"], false, "sendonly"],
    [["a=sendrecv"], true, "sendonly"],
    [["a=sendonly"], true, "inactive"],
  ])("offer %j (we hold: %s) → answer %s", (extra, hold, expected) => {
    expect(dir(extra, hold)).toBe(expected);
  });

  it("reports the far end's hold, also the old c=0.0.0.0 style", () => {
    expect(answerOffer(local(), offer("0", [], ["a=sendonly"]), false).negotiated.remoteDirection).toBe(
      "sendonly",
    );
    const old = offer("0", []).replace("c=IN IP4 192.0.2.10", "c=IN IP4 0.0.0.0");
    expect(answerOffer(local(), old, false).negotiated.remoteDirection).toBe("sendonly");
  });
});

describe("answers to our offers", () => {
  it("takes the first codec of the answer that we offered, and its telephone-event", () => {
    const n = acceptAnswer(
      ["G722", "PCMU", "PCMA"],
      "sendrecv",
      offer("8 101", ["8 PCMA/8000", "101 telephone-event/8000"]),
    );
    expect(n.codec.name).toBe("PCMA");
    expect(n.telephoneEvent?.payloadType).toBe(101);
    expect(n.localDirection).toBe("sendrecv");
  });

  it("our hold offer (sendonly) answered recvonly → we only send", () => {
    expect(acceptAnswer(["PCMU"], "sendonly", offer("0", [], ["a=recvonly"])).localDirection).toBe(
      "sendonly",
    );
  });

  it("an answer with a codec we never offered → incompatible", () => {
    expect(codeOf(() => acceptAnswer(["PCMU"], "sendrecv", offer("8", [])))).toBe("incompatible");
  });
});

describe("Opus (RFC 7587)", () => {
  const all: LocalDescription["codecs"] = ["OPUS", "G722", "PCMA", "PCMU"];

  it("offers opus/48000/2 on PT 111 first, our fmtp, telephone-event at 48000 and at 8000", () => {
    const m = sdpTransform.parse(buildOffer(local(all), "sendrecv")).media[0];
    expect(m?.payloads).toBe("111 9 8 0 110 101");
    expect(
      m?.rtp.map((r) => `${r.payload} ${r.codec}/${r.rate}${r.encoding ? `/${r.encoding}` : ""}`),
    ).toEqual([
      "111 opus/48000/2",
      "9 G722/8000",
      "8 PCMA/8000",
      "0 PCMU/8000",
      "110 telephone-event/48000",
      "101 telephone-event/8000",
    ]);
    expect(m?.fmtp).toEqual([
      { payload: 111, config: "stereo=0;sprop-stereo=0;useinbandfec=1" },
      { payload: 110, config: "0-16" },
      { payload: 101, config: "0-16" },
    ]);
    expect(m?.ptime).toBe(20);
  });

  it("an Opus-only offer carries telephone-event/48000, and /8000 for far ends that have only that", () => {
    const m = sdpTransform.parse(buildOffer(local(["OPUS"]), "sendrecv")).media[0];
    expect(m?.payloads).toBe("111 110 101");
  });

  it("answers a browser-style offer with Opus on the far end's PT, its fmtp kept for our encoder", () => {
    const { sdp, negotiated } = answerOffer(
      local(all),
      offer(
        "109 9 0 8 101 126",
        ["109 opus/48000/2", "9 G722/8000", "101 telephone-event/48000", "126 telephone-event/8000"],
        ["a=fmtp:109 minptime=10;useinbandfec=1;maxaveragebitrate=20000", "a=fmtp:101 0-15"],
      ),
      false,
    );
    expect(negotiated.codec.name).toBe("OPUS");
    expect(negotiated.payloadType).toBe(109);
    expect(negotiated.codecFmtp).toBe("minptime=10;useinbandfec=1;maxaveragebitrate=20000");
    expect(negotiated.telephoneEvent).toEqual({ payloadType: 101, clockRate: 48000 });
    const m = sdpTransform.parse(sdp).media[0];
    expect(m?.payloads).toBe("109 101");
    expect(m?.rtp.map((r) => `${r.codec}/${r.rate}/${r.encoding ?? 1}`)).toEqual([
      "opus/48000/2",
      "telephone-event/48000/1",
    ]);
    expect(m?.fmtp?.[0]).toEqual({ payload: 109, config: "stereo=0;sprop-stereo=0;useinbandfec=1" });
  });

  it("a far end without Opus gets G.722, or G.711 without G.722", () => {
    const g722 = offer("9 0 101", ["9 G722/8000", "101 telephone-event/8000"]);
    expect(answerOffer(local(all), g722, false).negotiated.codec.name).toBe("G722");
    const g711 = offer("8 0 101", ["101 telephone-event/8000"]);
    const n = answerOffer(local(all), g711, false).negotiated;
    expect(n.codec.name).toBe("PCMA");
    expect(n.telephoneEvent).toEqual({ payloadType: 101, clockRate: 8000 });
  });

  it("an Opus desk not configured for it answers G.722 even when Opus comes first", () => {
    const o = offer("96 9", ["96 opus/48000/2", "9 G722/8000"]);
    expect(answerOffer(local(["G722", "PCMU"]), o, false).negotiated.codec.name).toBe("G722");
  });

  it("Opus with telephone-event/48000 when offered, else /8000 (baresip 1.0 offers only that)", () => {
    const both = offer("96 101 100", [
      "96 opus/48000/2",
      "101 telephone-event/8000",
      "100 telephone-event/48000",
    ]);
    expect(answerOffer(local(all), both, false).negotiated.telephoneEvent).toEqual({
      payloadType: 100,
      clockRate: 48000,
    });
    const te8k = offer("96 9 101", ["96 opus/48000/2", "9 G722/8000", "101 telephone-event/8000"]);
    const n = answerOffer(local(all), te8k, false).negotiated;
    expect(n.codec.name).toBe("OPUS");
    expect(n.telephoneEvent).toEqual({ payloadType: 101, clockRate: 8000 });
  });

  it("opus must be opus/48000/2, and our 20 ms packets must suit its minptime and maxptime", () => {
    const answerWith = (rtpmap: string, extra: string[] = []) =>
      answerOffer(local(["OPUS", "PCMU"]), offer("96 0", [`96 ${rtpmap}`], extra), false).negotiated.codec
        .name;
    expect(answerWith("opus/48000/2")).toBe("OPUS");
    expect(answerWith("OPUS/48000/2")).toBe("OPUS"); // names are case-insensitive
    expect(answerWith("opus/48000")).toBe("PCMU");
    expect(answerWith("opus/16000/2")).toBe("PCMU");
    expect(answerWith("opus/48000/2", ["a=fmtp:96 minptime=40"])).toBe("PCMU");
    expect(answerWith("opus/48000/2", ["a=maxptime:10"])).toBe("PCMU");
    expect(answerWith("opus/48000/2", ["a=fmtp:96 minptime=10", "a=maxptime:120"])).toBe("OPUS");
  });

  it("takes Opus from an answer to our offer, on the answer's PT, with telephone-event/48000", () => {
    const n = acceptAnswer(
      all,
      "sendrecv",
      offer("96 97", ["96 opus/48000/2", "97 telephone-event/48000"], ["a=fmtp:96 maxplaybackrate=16000"]),
    );
    expect(n.codec.name).toBe("OPUS");
    expect(n.payloadType).toBe(96);
    expect(n.codecFmtp).toBe("maxplaybackrate=16000");
    expect(n.telephoneEvent).toEqual({ payloadType: 97, clockRate: 48000 });
  });
});
