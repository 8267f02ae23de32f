/**
 * Playout on arrival to a sound card (playout.ts): a frame goes to the card the moment it can be
 * played, the jitter buffer holds only what the jitter needs, the card's queue absorbs the rest;
 * late or lost packets are concealed at the card's deadline; no creep. Simulated: packets arrive
 * on a virtual clock, and the "card" drains its queue in real time as aplay + ALSA do, keeping
 * the speaker's rule (a frame that would stand more than half a frame above the target is dropped).
 */
import { describe, expect, it } from "vitest";
import { JitterBuffer } from "../../src/media/jitter-buffer.js";
import { ArrivalPlayout, FIT_MS, LOW_MS } from "../../src/media/playout.js";
import type { TimerDeps } from "../../src/media/send-clock.js";

const FRAME = 160;
const TARGET_MS = 40;

/** Virtual time: timers (few), plus a sorted list of events given up front (many). */
function virtualTime() {
  let now = 0;
  let ids = 0;
  const timers: Array<{ at: number; fn: () => void; id: number }> = [];
  let events: Array<{ at: number; fn: () => void }> = [];
  const deps: TimerDeps = {
    now: () => now,
    setTimeout: (fn, ms) => {
      timers.push({ at: now + ms + 0.3, fn, id: ++ids }); // Node lands a timer a little late
      return ids;
    },
    clearTimeout: (h) => {
      const i = timers.findIndex((q) => q.id === h);
      if (i >= 0) timers.splice(i, 1);
    },
  };
  return {
    deps,
    at(t: number, fn: () => void) {
      events.push({ at: t, fn });
    },
    run(until: number) {
      events = events.sort((a, b) => a.at - b.at);
      let e = 0;
      for (;;) {
        timers.sort((a, b) => a.at - b.at || a.id - b.id);
        const t = timers[0];
        const ev = events[e];
        const next = t && (!ev || t.at < ev.at) ? t : ev;
        if (!next || next.at > until) return;
        if (next === t) timers.shift();
        else e++;
        now = Math.max(now, next.at);
        next.fn();
      }
    },
  };
}

/**
 * A card: drains in real time once started; keeps the speaker's target as speaker.ts does (drops
 * a frame that would stand more than half a frame above it, pads a card starting or left short).
 */
function card(now: () => number) {
  let queued = 0;
  let at = 0;
  let running = false;
  let short = 0;
  const c = {
    underruns: 0,
    dropped: 0,
    /** Per packet (first sample's value − 1): when its first sample is heard. */
    heard: new Map<number, number>(),
    concealed: 0,
    depth() {
      return { queuedMs: c.level(), targetMs: TARGET_MS };
    },
    level(): number {
      if (!running) return queued;
      const q = queued - (now() - at);
      return Math.max(q, 0);
    },
    play(frame: Int16Array) {
      const t = now();
      let q = c.level();
      if (running && q === 0) {
        c.underruns++;
        running = false;
      }
      if (q + 20 > TARGET_MS + 10) {
        c.dropped++;
        return;
      }
      // The speaker pads a starting card, and one left short by two frames in a row, to its target.
      short = running && q + 20 < TARGET_MS - 10 ? short + 1 : 0;
      if (!running || short >= 2) {
        q = Math.max(q, TARGET_MS - 20);
        short = 0;
      }
      const v = frame[0] ?? 0;
      if (v > 0 && !c.heard.has(v - 1)) c.heard.set(v - 1, t + q);
      else if (v === 0) c.concealed++;
      queued = q + 20;
      at = t;
      running = true;
    },
  };
  return c;
}

interface Sim {
  readonly sink: ReturnType<typeof card>;
  readonly playout: ArrivalPlayout;
  readonly jb: JitterBuffer;
  /** Per packet: ms from its arrival to its first sample heard. */
  readonly delay: Map<number, number>;
}

/** Packets `seq` arriving at `arrive(seq)` (undefined: lost), fed to the playout as the stream does. */
function simulate(n: number, arrive: (seq: number) => number | undefined, endMs = n * 20 + 100): Sim {
  const time = virtualTime();
  const sink = card(time.deps.now);
  const jb = new JitterBuffer({ sampleRate: 8000, samplesPerTick: 1, frameSamples: FRAME });
  const playout = new ArrivalPlayout(jb, new Int16Array(FRAME), 20, sink, time.deps);
  const arrivedAt = new Map<number, number>();
  for (let seq = 0; seq < n; seq++) {
    const t = arrive(seq);
    if (t === undefined) continue;
    time.at(t, () => {
      arrivedAt.set(seq, t);
      jb.push(1000 + seq * FRAME, new Int16Array(FRAME).fill(seq + 1), time.deps.now());
      playout.feed();
    });
  }
  // The packet clock's tick also looks (on a phase of its own).
  for (let t = 7.3; t < endMs; t += 20) time.at(t, () => playout.feed());
  time.run(endMs);
  playout.cancel();
  const delay = new Map<number, number>();
  for (const [seq, heard] of sink.heard) delay.set(seq, heard - (arrivedAt.get(seq) ?? Number.NaN));
  return { sink, playout, jb, delay };
}

const delaysOf = (s: Sim, from: number, to: number): number[] =>
  [...s.delay].filter(([q]) => q >= from && q < to).map(([, d]) => d);

let seed = 7;
const rand = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};

describe("ArrivalPlayout: a frame goes to the card as soon as it can be played", () => {
  it("on a clean LAN plays every packet on arrival: nothing waits in the jitter buffer, the card's queue is the delay", () => {
    const s = simulate(500, (q) => 100 + q * 20 + rand() - 0.5);
    expect(s.sink.heard.size).toBe(500);
    expect(s.sink.underruns).toBe(0);
    expect(s.sink.dropped).toBe(0);
    expect(s.playout.atDeadline).toBe(0);
    // The first sample is heard after what the card holds when the frame fits: the target less
    // a frame (plus the frame's own lateness against the card's drain), never the 20-40 ms of a
    // jitter buffer read by the clock on top.
    // (+2: the arrivals' ±0.5 ms and the timer landing late.)
    for (const d of delaysOf(s, 5, 500)) expect(d).toBeLessThanOrEqual(TARGET_MS - 20 + FIT_MS + 2);
    expect(s.jb.stats()).toMatchObject({ late: 0, targetDelayMs: 0 });
  });

  it("holds a packet that comes early (jitter) until it fits, instead of having the card drop it", () => {
    // Every other packet 8 ms early.
    const s = simulate(500, (q) => 100 + q * 20 - (q % 2 === 1 ? 8 : 0));
    expect(s.sink.dropped).toBe(0);
    expect(s.sink.underruns).toBe(0);
    expect(s.sink.heard.size).toBe(500);
    for (const d of delaysOf(s, 5, 500)) expect(d).toBeLessThanOrEqual(TARGET_MS - 20 + FIT_MS + 8 + 2);
  });

  it("conceals a packet the card would otherwise run dry for, and gives the delay it added back", () => {
    // Packet 100 comes 45 ms late (with 101 and 102 behind it), packet 300 is lost.
    const s = simulate(600, (q) =>
      q === 300 ? undefined : 100 + q * 20 + (q >= 100 && q <= 102 ? 45 - (q - 100) * 20 : 0),
    );
    expect(s.sink.underruns).toBe(0);
    expect(s.playout.atDeadline).toBeGreaterThanOrEqual(2);
    expect(s.sink.concealed).toBeGreaterThanOrEqual(2);
    expect(s.jb.stats().late).toBe(0);
    // Everything that came was played, in order (the late one a frame later: the delay grew)...
    expect(s.sink.heard.size).toBeGreaterThanOrEqual(599 - s.jb.stats().droppedForDelay);
    // ...and the delay after it is back where it was before, within a couple of seconds.
    const before = Math.max(...delaysOf(s, 50, 100));
    expect(Math.max(...delaysOf(s, 200, 300))).toBeLessThanOrEqual(before + 1);
    expect(Math.max(...delaysOf(s, 450, 600))).toBeLessThanOrEqual(before + 1);
  });

  it("after a network stall of 200 ms and its burst: no packet lost as late, the slack gone within two seconds", () => {
    const s = simulate(500, (q) => 100 + (q >= 100 && q < 110 ? 110 * 20 : q * 20));
    expect(s.jb.stats().late).toBe(0);
    expect(s.sink.underruns).toBe(0);
    // The backlog is given back a frame at a time while every packet of a second waits half a
    // frame or more: what stays is less than half a frame.
    const before = Math.max(...delaysOf(s, 50, 100));
    const after = delaysOf(s, 220, 500);
    expect(Math.max(...after)).toBeLessThan(before + 10);
    expect(Math.max(...after) - Math.min(...after)).toBeLessThan(2);
  });

  it("does not creep: ten minutes with one packet in fifty 15 ms late end at the delay of the first minute", () => {
    const n = 30_000;
    const s = simulate(n, (q) => 100 + q * 20 + (q % 50 === 25 ? 15 : 0) + rand() * 0.6);
    expect(s.sink.underruns).toBe(0);
    const first = Math.max(...delaysOf(s, 1000, 3000));
    expect(Math.max(...delaysOf(s, n - 2000, n))).toBeLessThanOrEqual(first + 1);
    expect(s.sink.heard.size).toBeGreaterThan(n * 0.99);
  });

  it("leaves the frame to the packet clock while the sink cannot tell its queue", () => {
    const time = virtualTime();
    const jb = new JitterBuffer({ sampleRate: 8000, samplesPerTick: 1, frameSamples: FRAME });
    let played = 0;
    const playout = new ArrivalPlayout(
      jb,
      new Int16Array(FRAME),
      20,
      { depth: () => null, play: () => played++ },
      time.deps,
    );
    jb.push(1000, new Int16Array(FRAME).fill(1), 0);
    expect(playout.feed()).toBe(false);
    expect(played).toBe(0);
    expect(jb.playsOnArrival).toBe(false);
    expect(LOW_MS).toBeLessThan(TARGET_MS - 20);
  });
});
