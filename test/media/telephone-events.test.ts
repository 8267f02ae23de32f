/**
 * The DTMF part of a call's media (telephone-events.ts): digits queued, sent one RFC 4733 packet
 * per tick of the stream's clock, and received digits handed to the listeners.
 */
import { describe, expect, it } from "vitest";
import { memoryLogger, silentLogger } from "../../src/log/logger.js";
import { encodeTelephoneEvent, parseTelephoneEvent } from "../../src/media/dtmf.js";
import { MediaError } from "../../src/media/media.js";
import { type RtpPacketOut, TelephoneEvents } from "../../src/media/telephone-events.js";

const te = { payloadType: 101, clockRate: 8000 };

interface Sent {
  readonly pt: number;
  readonly marker: boolean;
  readonly ts: number;
  readonly event: number;
  readonly end: boolean;
  readonly duration: number;
}

function recorder(): RtpPacketOut & { sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    sendPacket(pt, marker, ts, payload) {
      const e = parseTelephoneEvent(payload);
      if (!e) throw new Error("not a telephone-event payload");
      sent.push({ pt, marker, ts, event: e.event, end: e.end, duration: e.duration });
    },
  };
}

/** Runs the clock from `first` for `ticks` ticks; returns which ticks the events took. */
function run(ev: TelephoneEvents, out: RtpPacketOut, first: number, ticks: number): boolean[] {
  const took: boolean[] = [];
  for (let n = first; n < first + ticks; n++) took.push(ev.sending && ev.tick(n, 1000 + n * 160, te, out));
  return took;
}

describe("telephone events: sending", () => {
  it("sends each digit on consecutive ticks, one timestamp per event, and resolves when all are sent", async () => {
    const ev = new TelephoneEvents({ log: silentLogger, frameMs: 20, durationMs: 60 });
    const out = recorder();
    let done = false;
    const p = ev.send("5#", te).then(() => {
      done = true;
    });
    expect(ev.sending).toBe(true);
    const took = run(ev, out, 10, 14);
    await p;
    expect(done).toBe(true);
    expect(ev.sending).toBe(false);
    // 60 ms tone: 3 updates then 3 end packets, per event; the audio gets the ticks after.
    expect(took).toEqual([...Array(12).fill(true), false, false]);
    expect(out.sent.map((s) => s.event)).toEqual([5, 5, 5, 5, 5, 5, 11, 11, 11, 11, 11, 11]);
    expect(out.sent.map((s) => s.marker)).toEqual([
      true,
      ...Array(5).fill(false),
      true,
      ...Array(5).fill(false),
    ]);
    // RFC 4733 §2.5.1.2: every packet of an event carries the timestamp of the tick it started on.
    expect(new Set(out.sent.slice(0, 6).map((s) => s.ts))).toEqual(new Set([1000 + 10 * 160]));
    expect(new Set(out.sent.slice(6).map((s) => s.ts))).toEqual(new Set([1000 + 16 * 160]));
    expect(out.sent.slice(0, 6).map((s) => [s.end, s.duration])).toEqual([
      [false, 160],
      [false, 320],
      [false, 480],
      [true, 480],
      [true, 480],
      [true, 480],
    ]);
    expect(new Set(out.sent.map((s) => s.pt))).toEqual(new Set([101]));
  });

  it("refuses a string with a non-digit, queueing none of it", async () => {
    const ev = new TelephoneEvents({ log: silentLogger, frameMs: 20 });
    const e = await ev.send("12x", te).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(MediaError);
    expect((e as MediaError).code).toBe("malformed");
    expect(ev.sending).toBe(false);
  });

  it("abort gives up the queue: the promise resolves and nothing more is sent", async () => {
    const ev = new TelephoneEvents({ log: silentLogger, frameMs: 20 });
    const out = recorder();
    const p = ev.send("123", te);
    run(ev, out, 0, 2);
    ev.abort();
    await p;
    expect(ev.sending).toBe(false);
    expect(run(ev, out, 2, 3)).toEqual([false, false, false]);
    expect(out.sent).toHaveLength(2);
  });

  it("without a negotiated telephone-event the tick stays audio's", () => {
    const ev = new TelephoneEvents({ log: silentLogger, frameMs: 20 });
    const out = recorder();
    void ev.send("1", te);
    expect(ev.tick(0, 0, null, out)).toBe(false);
    expect(out.sent).toEqual([]);
    ev.abort();
  });
});

describe("telephone events: receiving", () => {
  it("hands each digit to every listener once, even when one listener throws", () => {
    const { log, lines } = memoryLogger();
    const ev = new TelephoneEvents({ log, frameMs: 20 });
    const got: string[] = [];
    ev.onDigit(() => {
      throw new Error("listener bug");
    });
    ev.onDigit((d) => got.push(d));
    for (const [ts, event, end] of [
      [100, 1, false],
      [100, 1, true],
      [100, 1, true], // retransmitted end packet
      [900, 11, false],
      [900, 11, true],
    ] as const) {
      ev.receive(ts, encodeTelephoneEvent({ event, end, volume: 10, duration: 800 }));
    }
    expect(got).toEqual(["1", "#"]);
    expect(lines.filter((l) => l.msg === "DTMF listener threw")).toHaveLength(2);
  });
});
