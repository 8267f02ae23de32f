/**
 * Microphone and speaker wrappers: with fake processes (restart, bounded queues) and with the
 * real arecord/aplay through ALSA `type file` plugins (no sound card on CI machines).
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AudioFault } from "../../src/audio/audio.js";
import { LATENCY_PROFILES } from "../../src/audio/latency.js";
import { type CaptureSpawner, Microphone } from "../../src/audio/microphone.js";
import {
  AlsaStderr,
  CardModel,
  type PlaybackReports,
  type PlaybackSpawner,
  Speaker,
} from "../../src/audio/speaker.js";
import { silentLogger } from "../../src/log/logger.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Microphone with a fake capture", () => {
  it("restarts a dead capture with backoff and reports the fault", async () => {
    const faults: AudioFault[] = [];
    let spawned = 0;
    let kill: ((m: string) => void) | null = null;
    const spawn: CaptureSpawner = (_o, onData, onEnd) => {
      spawned++;
      kill = onEnd;
      onData(new Uint8Array(320).fill(1));
      return { stop: () => undefined };
    };
    const mic = new Microphone({
      device: "x",
      rate: 8000,
      log: silentLogger,
      onFault: (f) => faults.push(f),
      spawn,
    });
    expect(spawned).toBe(1);
    (kill as ((m: string) => void) | null)?.("arecord exited (code 1)");
    expect(faults).toHaveLength(1);
    expect(faults[0]?.device).toBe("microphone");
    expect(faults[0]?.retryInMs).toBeGreaterThan(0);
    await sleep((faults[0]?.retryInMs ?? 0) + 50);
    expect(spawned).toBe(2);
    const f = new Int16Array(160);
    mic.read(f);
    expect(f[0]).toBe(257);
    await mic.close();
    (kill as ((m: string) => void) | null)?.("late exit after close");
    expect(faults).toHaveLength(1);
  });

  it("keeps the buffer capped under a producer hundreds of times faster than real time", async () => {
    let timer: NodeJS.Timeout | null = null;
    const spawn: CaptureSpawner = (_o, onData) => {
      const chunk = new Uint8Array(65536);
      timer = setInterval(() => {
        for (let i = 0; i < 50; i++) onData(chunk); // 3.2 MB per ms tick
      }, 1);
      return { stop: () => timer && clearInterval(timer) };
    };
    const normal = LATENCY_PROFILES.normal; // the figures below are its 20 ms periods
    const mic = new Microphone({ device: "x", rate: 8000, latency: normal, log: silentLogger, spawn });
    const heapBefore = process.memoryUsage().heapUsed;
    await sleep(300);
    expect(mic.bytesReceived).toBeGreaterThan(50_000_000);
    expect(mic.buffered).toBeLessThanOrEqual(mic.capacity);
    expect(mic.capacity).toBe(480); // a 20 ms frame plus two 20 ms periods at 8 kHz
    expect(mic.dropped).toBeGreaterThan(20_000_000);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    await mic.close();
  });
});

describe("Microphone as a live source", () => {
  /** A capture whose periods the test delivers by hand (160 samples = 20 ms at 8 kHz). */
  function handCapture() {
    let deliver: ((chunk: Uint8Array) => void) | null = null;
    const spawn: CaptureSpawner = (_o, onData) => {
      deliver = onData;
      return { stop: () => undefined };
    };
    const period = (samples: number, value = 1) =>
      deliver?.(new Uint8Array(new Int16Array(samples).fill(value).buffer));
    return { spawn, period };
  }

  it("tells the clock each time audio arrived, with what it holds", async () => {
    const c = handCapture();
    const mic = new Microphone({ device: "x", rate: 8000, log: silentLogger, spawn: c.spawn });
    const seen: Array<[number, number]> = [];
    mic.onCapture((held, added) => seen.push([held, added]));
    c.period(80);
    c.period(80);
    mic.read(new Int16Array(160));
    c.period(80);
    expect(seen).toEqual([
      [80, 80],
      [160, 80],
      [80, 80],
    ]);
    await mic.close();
  });

  // Regression: a first burst from arecord stood in the ring for the whole call, 20-40 ms of
  // delay on every word the operator said.
  it("drops audio that stands in the ring after every read for a second", async () => {
    let now = 0;
    const c = handCapture();
    const mic = new Microphone({
      device: "x",
      rate: 8000,
      latency: LATENCY_PROFILES.normal, // the figures below are its 20 ms periods
      log: silentLogger,
      spawn: c.spawn,
      now: () => now,
    });
    c.period(480, 2); // a start burst: three frames at once
    const frame = new Int16Array(160);
    for (let i = 0; i < 60; i++) {
      now += 20;
      c.period(160, 3);
      mic.read(frame);
    }
    // After the first second the two frames of standing delay are gone: each read takes the
    // period that has just arrived, and nothing is left behind it.
    expect(mic.standingDropped).toBe(320);
    expect(mic.buffered).toBe(0);
    expect(frame[0]).toBe(3);
    expect(mic.waitPercentile(0.5)).toBe(40); // most reads came while the delay stood
    await mic.close();
  });

  it("drops the audio of a frame that left as silence (its capture came too late), instead of sending every later frame a tick late", async () => {
    const c = handCapture();
    const mic = new Microphone({ device: "x", rate: 8000, log: silentLogger, spawn: c.spawn });
    const frame = new Int16Array(160);
    c.period(160, 1);
    mic.read(frame);
    expect(frame[0]).toBe(1);
    // Frame 2's capture comes after its tick: the tick sends silence...
    mic.read(frame);
    expect(frame[0]).toBe(0);
    // ...then frame 2 arrives, and frame 3 in time for its tick: frame 3 is what it reads.
    c.period(160, 2);
    c.period(160, 3);
    mic.read(frame);
    expect(frame[0]).toBe(3);
    expect(mic.buffered).toBe(0);
    expect(mic.lateDropped).toBe(160);
    // A partial frame: only the missing part is dropped, when the next frame is there behind it.
    c.period(80, 4);
    mic.read(frame);
    expect([frame[0], frame[80]]).toEqual([4, 0]);
    c.period(160, 5);
    c.period(160, 6);
    mic.read(frame);
    expect([frame[0], frame[79], frame[80]]).toEqual([5, 5, 6]);
    expect(mic.lateDropped).toBe(240);
    await mic.close();
  });

  // Regression (found by the hotplug test): reads on another phase than the captures (each
  // capture just after a read) lost every frame when the late audio was dropped as it came.
  it("drops nothing when the reads are on another phase than the captures", async () => {
    const c = handCapture();
    const mic = new Microphone({ device: "x", rate: 8000, log: silentLogger, spawn: c.spawn });
    const frame = new Int16Array(160);
    mic.read(frame); // before the first capture
    for (let i = 1; i <= 50; i++) {
      c.period(160, i);
      mic.read(frame);
      expect(frame[0]).toBe(i);
    }
    expect(mic.lateDropped).toBe(0);
    await mic.close();
  });

  it("leaves a ring that empties at some read alone (jitter, not a standing delay)", async () => {
    const c = handCapture();
    const mic = new Microphone({ device: "x", rate: 8000, log: silentLogger, spawn: c.spawn });
    const frame = new Int16Array(160);
    for (let i = 0; i < 120; i++) {
      // Two periods at once every other read, none in between: the ring is empty after every
      // other read, so nothing stands.
      if (i % 2 === 0) c.period(320);
      mic.read(frame);
    }
    expect(mic.standingDropped).toBe(0);
    expect(mic.dropped).toBe(0);
    await mic.close();
  });
});

/**
 * A fake aplay with a modelled card: a pipe, ALSA's buffer (4 periods of 160, starting at 2),
 * and a device that takes one period every tick. aplay moves whole periods from the pipe to
 * ALSA while there is room and reports each (the VU meter line), like the real one.
 */
class FakeCard {
  pipe = 0;
  alsa = 0;
  running = false;
  underruns = 0;
  private xrun = false;
  stalled = false;
  /** Samples the card plays per 20 ms tick (160 at 8 kHz; less: a card slower than the host). */
  perTick = 160;
  /** The host's clock, ms. */
  time = 0;
  readonly now = () => this.time;
  /** Samples in ALSA's buffer at which the device starts (ALSA's start threshold: 320). */
  startAt = 320;
  /** Like the real aplay: the parameters are printed once it runs, after the first frames. */
  paramsLate = false;
  reports: PlaybackReports | undefined;
  readonly spawn: PlaybackSpawner = (_o, _drain, _end, reports) => {
    this.reports = reports;
    const params = () =>
      reports?.onParams?.({ rate: 8000, periodSize: 160, bufferSize: 640, startThreshold: 320 });
    if (!this.paramsLate) params();
    let first = true;
    return {
      write: (b) => {
        if (first && this.paramsLate) params();
        first = false;
        this.pipe += b.length / 2;
        this.pump();
        return true;
      },
      stop: () => undefined,
    };
  };
  pump(): void {
    if (this.xrun && !this.stalled && this.pipe >= 160) {
      // like aplay: the underrun shows when it next writes (EPIPE), then it prepares again
      this.xrun = false;
      this.reports?.onUnderrun?.();
    }
    while (!this.stalled && this.pipe >= 160 && this.alsa + 160 <= 640) {
      this.pipe -= 160;
      this.alsa += 160;
      this.reports?.onPlayed?.(160);
    }
    if (this.alsa >= this.startAt) this.running = true;
  }
  /** The device plays for `ms` (default one period, 20 ms). */
  tick(ms = 20): void {
    this.time += ms;
    if (!this.running) return;
    this.alsa -= (this.perTick * ms) / 20;
    if (this.alsa <= 0) {
      this.alsa = 0;
      this.running = false;
      this.underruns++;
      this.xrun = true;
    }
    this.pump();
  }
  get depth(): number {
    return this.pipe + this.alsa;
  }
}

describe("CardModel (the speaker's estimate of ALSA's buffer)", () => {
  it("never holds more than ALSA's buffer, however many periods are reported handed", () => {
    const m = new CardModel();
    m.reset(0);
    // A sound server that took 8 periods within 40 ms (it rendered in a burst): ALSA's buffer
    // holds 4, so no more than that can be waiting to play.
    for (let i = 0; i < 8; i++) m.handed(i * 5, 8000, 160, 320, 640);
    expect(m.running).toBe(true);
    expect(m.fill).toBe(640); // full at the last report (t = 35 ms), not 8 periods minus 35 ms
    m.advance(75, 8000);
    expect(m.fill).toBe(320);
    m.advance(115, 8000);
    expect(m.fill).toBe(0); // 80 ms after the buffer was last full: dry
    expect(m.running).toBe(false);
  });
});

describe("Speaker with a fake playback", () => {
  const frame = (v = 1000) => new Int16Array(160).fill(v);

  it("starts after two periods and stays at that depth, with no drop and no underrun", () => {
    const card = new FakeCard();
    const sp = new Speaker({ device: "x", rate: 8000, log: silentLogger, spawn: card.spawn, now: card.now });
    const depths: number[] = [];
    for (let i = 0; i < 500; i++) {
      card.tick();
      sp.write(frame());
      depths.push(card.depth);
    }
    expect(sp.dropped).toBe(0);
    expect(sp.underruns).toBe(0);
    expect(Math.max(...depths.slice(10))).toBeLessThanOrEqual(320);
    expect(Math.min(...depths.slice(10))).toBeGreaterThanOrEqual(160);
    void sp.close();
  });

  it("pads the first frame, before aplay printed its parameters, to the start threshold", () => {
    // The lab's PulseAudio starts playing on the first data instead of at ALSA's start
    // threshold: a lone first frame then left the card dry 40 ms after it, and a third frame a
    // few ms late found it empty (an underrun in the first 100 ms of most calls under load).
    const card = new FakeCard();
    card.startAt = 1;
    card.paramsLate = true;
    const sp = new Speaker({
      device: "x",
      rate: 8000,
      latency: LATENCY_PROFILES.normal, // the figures below are its 20 ms periods
      log: silentLogger,
      spawn: card.spawn,
      now: card.now,
    });
    sp.write(frame());
    expect(card.depth).toBe(320); // a period of silence, then the frame: the start threshold
    expect(sp.padded).toBe(160);
    card.tick(20);
    sp.write(frame());
    card.tick(25); // the third frame 5 ms late
    sp.write(frame());
    for (let i = 0; i < 200; i++) {
      card.tick();
      sp.write(frame());
    }
    expect(sp.underruns).toBe(0);
    expect(card.underruns).toBe(0);
    // No deeper than before: the start threshold and a frame.
    expect(card.depth).toBeLessThanOrEqual(320);
    void sp.close();
  });

  it("after a burst from the clock, drops back to the target depth instead of keeping it", () => {
    const card = new FakeCard();
    const sp = new Speaker({ device: "x", rate: 8000, log: silentLogger, spawn: card.spawn, now: card.now });
    for (let i = 0; i < 50; i++) {
      card.tick();
      sp.write(frame());
    }
    const before = card.depth;
    for (let i = 0; i < 8; i++) sp.write(frame()); // 160 ms at once
    expect(card.depth).toBeLessThanOrEqual(before + 160); // at most a frame of it is kept
    const depths: number[] = [];
    for (let i = 0; i < 50; i++) {
      card.tick();
      sp.write(frame());
      depths.push(card.depth);
    }
    expect(Math.max(...depths.slice(-40))).toBeLessThanOrEqual(320);
    expect(sp.dropped).toBeGreaterThanOrEqual(7 * 160);
    expect(card.underruns).toBe(0);
    void sp.close();
  });

  it("with a card slower than the host's clock, the depth stays bounded instead of creeping", () => {
    const card = new FakeCard();
    card.perTick = 158; // 1.25 % slow: a minute's drift of a bad card every 5 s
    const sp = new Speaker({ device: "x", rate: 8000, log: silentLogger, spawn: card.spawn, now: card.now });
    const depths: number[] = [];
    for (let i = 0; i < 3000; i++) {
      card.tick();
      sp.write(frame());
      depths.push(card.depth);
    }
    // Unchecked, 3000 ticks would add 6000 samples (750 ms); the pipe would hold them.
    expect(Math.max(...depths)).toBeLessThanOrEqual(640 + 320);
    expect(card.pipe).toBeLessThanOrEqual(320);
    expect(sp.dropped).toBeGreaterThan(5000);
    void sp.close();
  });

  it("after aplay stalls (the card underruns, the pipe fills), returns to the target and counts the underrun", () => {
    const card = new FakeCard();
    const sp = new Speaker({ device: "x", rate: 8000, log: silentLogger, spawn: card.spawn, now: card.now });
    for (let i = 0; i < 50; i++) {
      card.tick();
      sp.write(frame());
    }
    card.stalled = true; // aplay gets no CPU for 300 ms
    for (let i = 0; i < 15; i++) {
      card.tick();
      sp.write(frame());
    }
    card.stalled = false;
    card.pump();
    const depths: number[] = [];
    for (let i = 0; i < 60; i++) {
      card.tick();
      sp.write(frame());
      depths.push(card.depth);
    }
    expect(sp.underruns).toBe(1);
    expect(sp.extraPeriods).toBe(1);
    // The target, plus the period the underrun added: not the 300 ms the pipe had filled with.
    expect(Math.max(...depths.slice(-50))).toBeLessThanOrEqual(320 + 160);
    expect(Math.min(...depths.slice(-50))).toBeGreaterThanOrEqual(320);
    void sp.close();
  });

  /** aplay gets no CPU for `ticks` periods while the card plays on, then runs again. */
  const stall = (card: FakeCard, sp: Speaker, ticks: number, after = 20): void => {
    card.stalled = true;
    for (let i = 0; i < ticks; i++) {
      card.tick();
      sp.write(frame());
    }
    card.stalled = false;
    card.pump();
    for (let i = 0; i < after; i++) {
      card.tick();
      sp.write(frame());
    }
  };
  const steadyDepth = (card: FakeCard, sp: Speaker, ticks: number): number[] => {
    const depths: number[] = [];
    for (let i = 0; i < ticks; i++) {
      card.tick();
      sp.write(frame());
      depths.push(card.depth);
    }
    return depths;
  };

  it("each underrun adds a period of depth, up to the ceiling; clean minutes take them back", () => {
    const card = new FakeCard();
    const sp = new Speaker({ device: "x", rate: 8000, log: silentLogger, spawn: card.spawn, now: card.now });
    steadyDepth(card, sp, 50);
    stall(card, sp, 15);
    expect(sp.underruns).toBe(1);
    expect(sp.extraPeriods).toBe(1);
    let depths = steadyDepth(card, sp, 100);
    expect(Math.max(...depths.slice(10))).toBe(320 + 160); // one period more than the target
    expect(Math.min(...depths.slice(10))).toBeGreaterThanOrEqual(320);
    for (let i = 0; i < 7; i++) stall(card, sp, 15);
    expect(sp.underruns).toBe(8);
    expect(sp.extraPeriods).toBe(2); // normal: 4 periods of buffer, 2 to start: 2 at most
    depths = steadyDepth(card, sp, 100);
    expect(Math.max(...depths.slice(10))).toBe(640);
    // Three clean minutes (9000 frames of 20 ms) take one period back, the next three the other.
    depths = steadyDepth(card, sp, 9000);
    expect(sp.extraPeriods).toBe(1);
    expect(Math.max(...depths.slice(-100))).toBe(480);
    depths = steadyDepth(card, sp, 9000);
    expect(sp.extraPeriods).toBe(0);
    expect(Math.max(...depths.slice(-100))).toBe(320);
    expect(sp.underruns).toBe(8);
    expect(card.underruns).toBe(8);
    void sp.close();
  });

  it("a stalled aplay (no meter tick, the card still playing) is not taken for a full buffer: nothing is dropped", () => {
    const card = new FakeCard();
    const sp = new Speaker({ device: "x", rate: 8000, log: silentLogger, spawn: card.spawn, now: card.now });
    steadyDepth(card, sp, 50);
    for (let i = 0; i < 4; i++) stall(card, sp, 15);
    expect(sp.extraPeriods).toBe(2);
    steadyDepth(card, sp, 50);
    const dropped = sp.dropped;
    // 60 ms without aplay: the pipe holds 2 periods + a frame while ALSA still has one to play.
    // Taken for a full buffer, that backlog was dropped, and the card ran dry when aplay resumed.
    stall(card, sp, 3, 50);
    expect(sp.dropped).toBe(dropped);
    expect(card.underruns).toBe(4);
    expect(sp.underruns).toBe(4);
    void sp.close();
  });

  it("frames that come late by most of a period add depth before the card runs dry; on time, they add none", () => {
    const card = new FakeCard();
    const sp = new Speaker({ device: "x", rate: 8000, log: silentLogger, spawn: card.spawn, now: card.now });
    steadyDepth(card, sp, 3000); // a punctual minute: no near miss, no step
    expect(sp.nearMisses).toBe(0);
    expect(sp.extraPeriods).toBe(0);
    /** One frame `ms` late, the next as early, then a second of calm. */
    const late = (ms: number): void => {
      card.tick(20 + ms);
      sp.write(frame());
      card.tick(20 - ms);
      sp.write(frame());
      steadyDepth(card, sp, 50);
    };
    late(15); // the card had 5 ms left
    expect(sp.nearMisses).toBe(1);
    expect(sp.extraPeriods).toBe(0); // one late frame is not a pattern
    late(15);
    expect(sp.extraPeriods).toBe(1);
    for (let i = 0; i < 5; i++) late(15); // one period deeper: 15 ms late is no longer close
    expect(sp.nearMisses).toBe(2);
    late(35); // it is at 35 ms (the card would have run dry at the first depth)
    late(35);
    expect(sp.nearMisses).toBe(4);
    expect(sp.extraPeriods).toBe(2);
    for (let i = 0; i < 5; i++) late(35);
    expect(sp.extraPeriods).toBe(2); // the ceiling: normal's buffer is 4 periods, 2 to start
    expect(card.underruns).toBe(0);
    expect(sp.underruns).toBe(0);
    // Bounded: never more than the profile's buffer (4 periods) queued, and clean minutes give it back.
    let depths = steadyDepth(card, sp, 100);
    expect(Math.max(...depths.slice(10))).toBe(640);
    steadyDepth(card, sp, 9000);
    depths = steadyDepth(card, sp, 9000);
    expect(sp.extraPeriods).toBe(0);
    expect(Math.max(...depths.slice(-100))).toBe(320);
    expect(card.underruns).toBe(0);
    void sp.close();
  });

  it("a frame that never comes (the packet clock skipped a tick) is made up with silence at once; a late one is not", () => {
    const card = new FakeCard();
    const sp = new Speaker({ device: "x", rate: 8000, log: silentLogger, spawn: card.spawn, now: card.now });
    steadyDepth(card, sp, 50);
    for (let i = 0; i < 4; i++) stall(card, sp, 15); // 80 ms deep: a stall of 70 ms does not run it dry
    expect(sp.extraPeriods).toBe(2);
    steadyDepth(card, sp, 50);
    const underruns = card.underruns;
    let padded = sp.padded;
    const dropped = sp.dropped;
    // Late by 15 ms, then its catch-up: nothing to make up.
    card.tick(35);
    sp.write(frame());
    card.tick(5);
    sp.write(frame());
    steadyDepth(card, sp, 50);
    expect(sp.padded).toBe(padded);
    expect(sp.dropped).toBe(dropped);
    // A stall of 70 ms: the clock plays the overdue tick and the current one, and skips one.
    card.tick(20);
    card.tick(20);
    card.tick(30);
    sp.write(frame());
    sp.write(frame());
    card.tick(10);
    sp.write(frame());
    expect(sp.padded - padded).toBe(160); // the missing frame, as silence
    expect(sp.dropped).toBe(dropped); // and the next frame is not taken for excess
    padded = sp.padded;
    const depths = steadyDepth(card, sp, 100);
    expect(Math.min(...depths)).toBe(640);
    expect(Math.max(...depths)).toBe(640);
    expect(sp.padded).toBe(padded);
    expect(sp.dropped).toBe(dropped);
    expect(card.underruns).toBe(underruns);
    void sp.close();
  });

  it("while aplay starts, keeps no more than it needs to start; restarts a dead aplay", async () => {
    let spawned = 0;
    let end: ((m: string) => void) | null = null;
    const written: number[] = [];
    const spawn: PlaybackSpawner = (_o, _drain, onEnd) => {
      spawned++;
      end = onEnd;
      return { write: (b) => written.push(b.length / 2) > 0, stop: () => undefined };
    };
    const faults: AudioFault[] = [];
    const sp = new Speaker({
      device: "x",
      rate: 8000,
      latency: LATENCY_PROFILES.normal, // the figures below are its 20 ms periods
      log: silentLogger,
      spawn,
      onFault: (f) => faults.push(f),
    });
    for (let i = 0; i < 30; i++) sp.write(frame());
    // The start threshold: a period of silence and the first frame (padded before aplay has
    // printed its parameters), every later frame dropped.
    expect(written).toEqual([160, 160]);
    expect(sp.padded).toBe(160);
    expect(sp.dropped).toBe(29 * 160);
    (end as ((m: string) => void) | null)?.("aplay exited (code 1)");
    expect(faults[0]?.device).toBe("speaker");
    await sleep((faults[0]?.retryInMs ?? 0) + 50);
    expect(spawned).toBe(2);
    await sp.close();
  });
});

describe("a card that runs at another rate than asked (hw: devices)", () => {
  it("the speaker resamples to the rate the card reports", () => {
    const sizes: number[] = [];
    const spawn: PlaybackSpawner = (o, _d, _e, reports) => {
      expect(o.rate).toBe(8000);
      reports?.onParams?.({ rate: 48000, periodSize: 960, bufferSize: 3840, startThreshold: 1920 });
      return { write: (b) => sizes.push(b.length / 2) > 0, stop: () => undefined };
    };
    const sp = new Speaker({ device: "hw:1,0", rate: 8000, log: silentLogger, spawn });
    sp.write(new Int16Array(160));
    expect(sp.deviceRate).toBe(48000);
    expect(sizes).toEqual([960, 960]); // silence up to the start threshold (40 ms), then the frame
    void sp.close();
  });

  it("the microphone resamples from the rate the card reports", async () => {
    let feed: ((c: Uint8Array) => void) | null = null;
    const spawn: CaptureSpawner = (o, onData, _e, reports) => {
      expect(o.rate).toBe(16000);
      reports?.onParams?.({ rate: 48000, periodSize: 960, bufferSize: 3840, startThreshold: 1 });
      feed = onData;
      return { stop: () => undefined };
    };
    const mic = new Microphone({ device: "hw:1,0", rate: 16000, log: silentLogger, spawn });
    expect(mic.deviceRate).toBe(48000);
    const chunk = new Int16Array(960).fill(1000); // 20 ms at 48 kHz
    (feed as ((c: Uint8Array) => void) | null)?.(new Uint8Array(chunk.buffer));
    (feed as ((c: Uint8Array) => void) | null)?.(new Uint8Array(chunk.buffer));
    expect(mic.buffered).toBeGreaterThanOrEqual(2 * 320 - 2); // 40 ms at 16 kHz, not 40 ms × 3
    expect(mic.buffered).toBeLessThanOrEqual(2 * 320 + 2);
    await mic.close();
  });
});

describe("reading aplay's and arecord's stderr", () => {
  it("takes the parameters from the setup dump, one period per meter line, and counts xruns", () => {
    const seen: { params: unknown[]; meters: number; xruns: number } = { params: [], meters: 0, xruns: 0 };
    const err = new AlsaStderr({
      params: (p) => seen.params.push(p),
      meter: () => seen.meters++,
      xrun: () => seen.xruns++,
    });
    const dump = [
      "Playing raw data 'stdin' : Signed 16 bit Little Endian, Rate 8000 Hz, Mono",
      "Plug PCM: Rate conversion PCM (48000, sformat=S16_LE)",
      "Its setup is:",
      "  stream       : PLAYBACK",
      "  rate         : 8000",
      "  exact rate   : 8000 (8000/1)",
      "  buffer_size  : 640",
      "  period_size  : 160",
      "  period_time  : 20000",
      "  start_threshold  : 320",
      "  stop_threshold   : 640",
      "  boundary     : 5764607523034234880",
      "Slave: Hardware PCM card 1 'USB Audio' device 0 subdevice 0",
      "  rate         : 48000",
      "  buffer_size  : 3840",
      "",
    ].join("\n");
    err.push(dump.slice(0, 100));
    err.push(dump.slice(100));
    err.push("\r####    | 50%\r####   | 40%underrun!!! (at least 12.3 ms long)\n\r### | 30%");
    expect(seen.params).toEqual([{ rate: 8000, periodSize: 160, bufferSize: 640, startThreshold: 320 }]);
    expect(seen.meters).toBe(3);
    expect(seen.xruns).toBe(1);
  });
});

describe("real arecord/aplay through ALSA file plugins", () => {
  let dir = "";
  const saved = process.env.ALSA_CONFIG_PATH;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "cuffia-alsa-"));
    writeFileSync(join(dir, "in.raw"), Buffer.alloc(3_200_000, 0x11));
    writeFileSync(
      join(dir, "asound.conf"),
      [
        `pcm.cuffia_cap { type file slave.pcm "null" file "/dev/null" infile "${join(dir, "in.raw")}" format "raw" }`,
        `pcm.cuffia_play { type file slave.pcm "null" file "${join(dir, "out.raw")}" format "raw" }`,
      ].join("\n"),
    );
    // The system alsa.conf first, as platform.md says; children inherit the variable.
    process.env.ALSA_CONFIG_PATH = `/usr/share/alsa/alsa.conf:${join(dir, "asound.conf")}`;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.ALSA_CONFIG_PATH;
    else process.env.ALSA_CONFIG_PATH = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  it("arecord at full speed fills a capped ring; frames carry the file's samples", async () => {
    const mic = new Microphone({ device: "cuffia_cap", rate: 8000, log: silentLogger });
    const f = new Int16Array(160);
    let sawData = false;
    for (let i = 0; i < 40 && !sawData; i++) {
      await sleep(10);
      mic.read(f);
      sawData = f[0] === 0x1111;
    }
    await sleep(300);
    expect(sawData).toBe(true);
    expect(mic.bytesReceived).toBeGreaterThan(3_000_000);
    expect(mic.buffered).toBeLessThanOrEqual(mic.capacity);
    expect(mic.dropped).toBeGreaterThan(1_000_000);
    await mic.close();
  });

  it("aplay plays what the speaker is given", async () => {
    const sp = new Speaker({ device: "cuffia_play", rate: 8000, log: silentLogger });
    for (let i = 0; i < 25; i++) {
      sp.write(new Int16Array(160).fill(1000));
      await sleep(20);
    }
    await sleep(200);
    await sp.close();
    await sleep(100);
    expect(existsSync(join(dir, "out.raw"))).toBe(true);
    expect(statSync(join(dir, "out.raw")).size).toBeGreaterThanOrEqual(20 * 320);
  });
});
