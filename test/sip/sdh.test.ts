import { describe, expect, it } from "vitest";
import type { MediaStats } from "../../src/core/types.js";
import { silentLogger } from "../../src/log/logger.js";
import { type MediaDirection, MediaError, type MediaSession } from "../../src/media/media.js";
import { MediaSdh, statusForMediaError } from "../../src/sip/sdh.js";

const STATS: MediaStats = {
  packetsSent: 1,
  packetsReceived: 2,
  packetsLost: 0,
  jitterMs: 0,
  roundTripMs: null,
  packetsRejected: 0,
};

/** A MediaSession that records what the SDH asks of it. */
function fakeMedia(): MediaSession & { calls: string[]; direction: MediaDirection } {
  const m = {
    calls: [] as string[],
    direction: "sendrecv" as MediaDirection,
    createOffer: ({ hold }: { hold: boolean }) => {
      m.calls.push(`offer hold=${hold}`);
      return `offer-${hold ? "sendonly" : "sendrecv"}`;
    },
    answer: (sdp: string, { hold }: { hold: boolean }) => {
      m.calls.push(`answer ${sdp} hold=${hold}`);
      if (sdp === "bad") throw new MediaError("incompatible", "no common codec");
      m.direction = sdp.includes("sendonly") ? "sendonly" : "sendrecv";
      return `answer-to-${sdp}`;
    },
    acceptAnswer: (sdp: string) => {
      m.calls.push(`accept ${sdp}`);
    },
    get remoteDirection() {
      return m.direction;
    },
    setMuted: () => {},
    sendDtmf: async (d: string) => {
      m.calls.push(`dtmf ${d}`);
    },
    onDtmf: () => {},
    onMediaTimeout: () => {},
    stats: () => STATS,
    close: async () => {
      m.calls.push("close");
      return STATS;
    },
  };
  return m;
}

describe("MediaSdh: sip.js offer/answer over a MediaSession (RFC 3264)", () => {
  it("incoming INVITE: setDescription(offer) then getDescription() returns the answer", async () => {
    const media = fakeMedia();
    const sdh = new MediaSdh(media, silentLogger);
    await sdh.setDescription("o1");
    expect(await sdh.getDescription()).toEqual({ body: "answer-to-o1", contentType: "application/sdp" });
    expect(media.calls).toEqual(["answer o1 hold=false"]);
  });

  it("reuses an answer prepared before accept() instead of negotiating twice", async () => {
    const media = fakeMedia();
    const sdh = new MediaSdh(media, silentLogger);
    sdh.prepare("o1");
    await sdh.setDescription("o1");
    expect((await sdh.getDescription()).body).toBe("answer-to-o1");
    expect(media.calls).toEqual(["answer o1 hold=false"]);
  });

  it("re-INVITE for hold: offer sendonly, then accept the answer", async () => {
    const media = fakeMedia();
    const sdh = new MediaSdh(media, silentLogger);
    await sdh.setDescription("o1");
    await sdh.getDescription();
    expect((await sdh.getDescription({ hold: true })).body).toBe("offer-sendonly");
    await sdh.setDescription("a2");
    expect(media.calls.slice(1)).toEqual(["offer hold=true", "accept a2"]);
  });

  it("reports the far end's direction after each of its descriptions (remote hold)", async () => {
    const seen: MediaDirection[] = [];
    const sdh = new MediaSdh(fakeMedia(), silentLogger, (d) => seen.push(d));
    await sdh.setDescription("o1");
    await sdh.getDescription();
    await sdh.setDescription("o2 sendonly");
    expect(seen).toEqual(["sendrecv", "sendonly"]);
  });

  it("rejects an incompatible offer; that maps to 488", async () => {
    const sdh = new MediaSdh(fakeMedia(), silentLogger);
    const error = await sdh.setDescription("bad").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MediaError);
    expect(statusForMediaError(error)).toBe(488);
    expect(statusForMediaError(new Error("x"))).toBe(500);
  });

  it("sends DTMF through the MediaSession and closes it once", async () => {
    const media = fakeMedia();
    const sdh = new MediaSdh(media, silentLogger);
    expect(sdh.sendDtmf("12#")).toBe(true);
    sdh.close();
    expect(await sdh.closeMedia()).toEqual(STATS);
    expect(media.calls).toEqual(["dtmf 12#", "close"]);
    expect(sdh.hasDescription("application/sdp; charset=x")).toBe(true);
    expect(sdh.hasDescription("text/plain")).toBe(false);
  });

  it("lets go of the closed MediaSession (sip.js keeps the SDH ~32 s more): later offers fail as closed", async () => {
    const media = fakeMedia();
    const sdh = new MediaSdh(media, silentLogger);
    await sdh.closeMedia();
    expect(() => sdh.media).toThrow(MediaError);
    await expect(sdh.setDescription("o2")).rejects.toMatchObject({ code: "closed" });
    await expect(sdh.getDescription()).rejects.toMatchObject({ code: "closed" });
    expect(sdh.sendDtmf("1")).toBe(true); // logged, not thrown
    expect(await sdh.closeMedia()).toEqual(STATS);
    expect(media.calls).toEqual(["close"]);
  });
});
