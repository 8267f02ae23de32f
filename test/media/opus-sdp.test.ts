import { describe, expect, it } from "vitest";
import { accepts20ms, maxBandwidthFor, opusSendParams, parseFmtp } from "../../src/media/opus-sdp.js";

describe("the far end's Opus format parameters (RFC 7587 §6.1)", () => {
  it("none: our defaults (32 kbit/s, fullband, no FEC, VBR)", () => {
    expect(opusSendParams(undefined)).toEqual({
      maxPlaybackRate: 48000,
      bitrate: 32000,
      inbandFec: false,
      cbr: false,
      stereoPreferred: false,
    });
  });

  it("honours maxplaybackrate, maxaveragebitrate, useinbandfec, cbr and stereo", () => {
    expect(
      opusSendParams(
        "maxplaybackrate=16000; maxaveragebitrate=12000;useinbandfec=1;cbr=1;stereo=1;sprop-stereo=1",
      ),
    ).toEqual({ maxPlaybackRate: 16000, bitrate: 12000, inbandFec: true, cbr: true, stereoPreferred: true });
    // A maximum above our own bitrate does not raise it.
    expect(opusSendParams("maxaveragebitrate=128000").bitrate).toBe(32000);
  });

  it("ignores values out of range or unreadable", () => {
    expect(opusSendParams("maxplaybackrate=100;maxaveragebitrate=abc").maxPlaybackRate).toBe(48000);
    expect(opusSendParams("maxaveragebitrate=10").bitrate).toBe(32000);
    expect(opusSendParams("garbage;=;useinbandfec").inbandFec).toBe(false);
    expect([...parseFmtp("A=1; b = 2 ;c")]).toEqual([
      ["a", "1"],
      ["b", "2"],
    ]);
  });

  it("maps a playback rate onto libopus's bandwidths", () => {
    expect([8000, 12000, 16000, 24000, 48000].map(maxBandwidthFor)).toEqual([1101, 1102, 1103, 1104, 1105]);
  });

  it("our 20 ms packets: refused for minptime above 20 or maxptime below it", () => {
    expect(accepts20ms(undefined, undefined)).toBe(true);
    expect(accepts20ms("minptime=10", 60)).toBe(true);
    expect(accepts20ms("minptime=40", undefined)).toBe(false);
    expect(accepts20ms(undefined, 10)).toBe(false);
  });
});
