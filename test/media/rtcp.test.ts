import { describe, expect, it } from "vitest";
import { ReceiverStats } from "../../src/media/receiver-stats.js";
import {
  encodeBye,
  encodeReceiverReport,
  encodeSdesCname,
  encodeSenderReport,
  ntpFromUnixMs,
  ntpMiddle,
  parseRtcp,
  roundTripMs,
} from "../../src/media/rtcp.js";
import { RtcpReporter } from "../../src/media/rtcp-reporter.js";

describe("ReceiverStats (RFC 3550 A.1, A.3, A.8)", () => {
  it("counts loss across the sequence wrap and the loss fraction per interval", () => {
    const s = new ReceiverStats(8000);
    let seq = 65530;
    for (let i = 0; i < 20; i++) {
      if (i !== 5 && i !== 6) s.update(seq & 0xffff, i * 160, i * 20);
      seq++;
    }
    expect(s.expected).toBe(20);
    expect(s.lost).toBe(2);
    const r = s.report();
    expect(r.cumulativeLost).toBe(2);
    expect(r.fractionLost).toBe(Math.floor((2 * 256) / 20));
    expect(r.extendedHighestSeq).toBe(65536 + ((65530 + 19) & 0xffff));
    expect(s.report().fractionLost).toBe(0); // nothing new in the next interval
  });

  it("has zero jitter for perfectly paced packets and measures jittered ones", () => {
    const even = new ReceiverStats(8000);
    const jittery = new ReceiverStats(8000);
    for (let i = 0; i < 100; i++) {
      even.update(i, i * 160, i * 20);
      jittery.update(i, i * 160, i * 20 + (i % 2 ? 8 : 0));
    }
    expect(even.jitterMs).toBeCloseTo(0, 6);
    expect(jittery.jitterMs).toBeGreaterThan(5);
  });
});

describe("RTCP packets (RFC 3550 §6.4)", () => {
  const block = {
    ssrc: 7,
    fractionLost: 12,
    cumulativeLost: -3,
    extendedHighestSeq: 70000,
    jitter: 33,
    lsr: 5,
    dlsr: 6,
  };

  it("round-trips a compound SR + SDES + BYE", () => {
    const sr = encodeSenderReport(
      1,
      { ntpSec: 10, ntpFrac: 20, rtpTimestamp: 30, packetCount: 40, octetCount: 50 },
      [block],
    );
    const parsed = parseRtcp(Buffer.concat([sr, encodeSdesCname(1, "me@host"), encodeBye(1)]));
    expect(parsed).toEqual([
      {
        type: "sr",
        ssrc: 1,
        sender: { ntpSec: 10, ntpFrac: 20, rtpTimestamp: 30, packetCount: 40, octetCount: 50 },
        reports: [block],
      },
      { type: "other", packetType: 202 },
      { type: "bye", ssrcs: [1] },
    ]);
  });

  it("round-trips an RR", () => {
    expect(parseRtcp(encodeReceiverReport(9, [block]))).toEqual([{ type: "rr", ssrc: 9, reports: [block] }]);
  });

  it.each([
    ["short", [0x80, 200]],
    ["not SR/RR first", [0x81, 203, 0, 1, 0, 0, 0, 1]],
    ["length beyond the end", [0x80, 201, 0, 9, 0, 0, 0, 1]],
    ["RTP", [0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]],
  ])("rejects %s", (_n, bytes) => {
    expect(parseRtcp(Uint8Array.from(bytes))).toBeNull();
  });

  it("computes the round trip from LSR/DLSR (§6.4.1)", () => {
    const sent = ntpFromUnixMs(1_700_000_000_000);
    const lsr = ntpMiddle(sent.sec, sent.frac);
    const back = ntpFromUnixMs(1_700_000_000_250);
    const dlsr = Math.round(0.2 * 65536); // the far end held it 200 ms
    expect(roundTripMs(ntpMiddle(back.sec, back.frac), lsr, dlsr)).toBeCloseTo(50, 0);
    expect(roundTripMs(12345, 0, 0)).toBeNull();
  });

  it("two reporters measure the round trip between them", () => {
    const a = new RtcpReporter(1, "a");
    const b = new RtcpReporter(2, "b");
    b.resetSource(1, 8000);
    b.receiver?.update(1, 0, 0);
    const srA = a.report(1000, { packets: 1, octets: 160, rtpTimestamp: 0, sentSinceLastReport: true });
    expect(b.receive(srA, 1010)).toBe("ok");
    const rrB = b.report(1030, { packets: 0, octets: 0, rtpTimestamp: 0, sentSinceLastReport: false });
    expect(a.receive(rrB, 1040)).toBe("ok");
    expect(a.roundTrip).toBeCloseTo(20, 0); // 40 ms total minus 20 ms held at b
    expect(
      a.receive(
        b.report(1050, { packets: 0, octets: 0, rtpTimestamp: 0, sentSinceLastReport: false }, true),
        1060,
      ),
    ).toBe("bye");
  });
});
