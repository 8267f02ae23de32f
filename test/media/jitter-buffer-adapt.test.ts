/**
 * The jitter buffer's delay as a desk phone's: one frame of floor on a clean network, growing
 * when packets come late, shrinking back to what the last second needed and no further, never
 * creeping; losses concealed and reordered packets played in order at that low delay.
 * Simulated on a 20 ms pull clock with a phase of its own against the arrivals (as the receive
 * path's tick is), packets numbered by their sample values.
 */
import { describe, expect, it } from "vitest";
import { JitterBuffer } from "../../src/media/jitter-buffer.js";

const FRAME = 160;
const frame = (v: number): Int16Array => new Int16Array(FRAME).fill(v);

interface Arrival {
  readonly at: number;
  readonly seq: number;
}

interface Run {
  /** Per packet seq: ms it waited from arrival to playout (absent: never played). */
  readonly wait: Map<number, number>;
  /** Seqs in the order they were played. */
  readonly order: number[];
  readonly jb: JitterBuffer;
}

/** Pushes `arrivals` (any order of `at`) and pulls every 20 ms from `phase` until `endMs`. */
function run(arrivals: readonly Arrival[], endMs: number, phase = 7, jb = defaultJb()): Run {
  const pending = [...arrivals].sort((a, b) => a.at - b.at);
  const arrivedAt = new Map<number, number>();
  const wait = new Map<number, number>();
  const order: number[] = [];
  const out = new Int16Array(FRAME);
  let i = 0;
  for (let t = phase; t < endMs; t += 20) {
    while (i < pending.length && (pending[i]?.at ?? 0) <= t) {
      const a = pending[i++] as Arrival;
      arrivedAt.set(a.seq, a.at);
      jb.push(1000 + a.seq * FRAME, frame(a.seq + 1), a.at);
    }
    if (jb.pull(out, t) === "played" && (out[0] ?? 0) > 0) {
      const seq = (out[0] ?? 0) - 1;
      order.push(seq);
      wait.set(seq, t - (arrivedAt.get(seq) ?? Number.NaN));
    }
  }
  return { wait, order, jb };
}

function defaultJb(): JitterBuffer {
  return new JitterBuffer({ sampleRate: 8000, samplesPerTick: 1, frameSamples: FRAME });
}

/** Packets every 20 ms, `n` of them, arriving at `at(seq)`. */
const stream = (n: number, at: (seq: number) => number): Arrival[] =>
  Array.from({ length: n }, (_, seq) => ({ at: at(seq), seq }));

const waitsOf = (r: Run, from: number, to: number): number[] =>
  [...r.wait].filter(([s]) => s >= from && s < to).map(([, w]) => w);

describe("JitterBuffer adapts its delay like a desk phone's", () => {
  it("on a clean network plays every packet after one frame of floor plus the clock's phase", () => {
    for (const phase of [0.5, 7, 19.5]) {
      const r = run(
        stream(500, (s) => s * 20),
        10_200,
        phase,
      );
      expect(r.order).toEqual(Array.from({ length: 500 }, (_, s) => s));
      // Every packet waits between one frame (the floor) and two (the pull clock's phase on top).
      for (const w of r.wait.values()) {
        expect(w).toBeGreaterThanOrEqual(20);
        expect(w).toBeLessThan(40);
      }
      expect(r.jb.stats()).toMatchObject({ late: 0, concealedFrames: expect.any(Number) });
      expect(r.jb.stats().targetDelayMs).toBeLessThan(25);
    }
  });

  it("grows when packets come late: after a 70 ms stall of the network, nothing more is lost", () => {
    // 2 s clean, then packets 100..103 held back and delivered together 70 ms late, then clean
    // again but every later packet 70 ms behind (a route that got longer).
    const r = run(
      stream(400, (s) => s * 20 + (s >= 100 ? 70 : 0)),
      8300,
    );
    const before = waitsOf(r, 0, 100);
    const after = waitsOf(r, 110, 400);
    expect(Math.max(...before)).toBeLessThan(40);
    // Everything after the stall is played, none skipped as late: the delay grew to cover it.
    expect(r.order.filter((s) => s >= 104)).toEqual(Array.from({ length: 296 }, (_, k) => k + 104));
    expect(r.jb.stats().late).toBe(0);
    // And it did not keep more than it needs: back within [target, target + frame) after it.
    const target = r.jb.stats().targetDelayMs;
    expect(Math.max(...waitsOf(r, 350, 400))).toBeLessThan(target + 20);
    expect(Math.min(...after)).toBeGreaterThanOrEqual(0);
  });

  it("shrinks back after a burst of jitter, to the floor and not below what the last second needed", () => {
    // 3 s of ±25 ms jitter, then 9 s clean.
    let seed = 11;
    const r = run(
      stream(600, (s) => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return s * 20 + (s >= 50 && s < 200 ? seed % 50 : 0);
      }),
      12_400,
    );
    const during = waitsOf(r, 60, 200);
    const end = waitsOf(r, 550, 600);
    expect(Math.max(...during)).toBeGreaterThan(40);
    // Back to target + at most one frame once the network is clean (J decays, slack is dropped).
    const target = r.jb.stats().targetDelayMs;
    expect(target).toBeLessThan(30);
    expect(Math.max(...end)).toBeLessThan(target + 20);
    // Shrinking drops a frame of audio at a time (counted), and never made a packet late.
    const missing = 300 - r.order.filter((s) => s >= 300).length;
    expect(r.jb.stats().late).toBe(0);
    expect(missing).toBeLessThanOrEqual(r.jb.stats().droppedForDelay);
    expect(r.jb.stats().droppedForDelay).toBeLessThanOrEqual(5);
  });

  it("does not creep: isolated late packets over ten minutes leave the delay where it was", () => {
    // One packet in fifty comes 45 ms late (it and those queued behind it), for 10 minutes.
    const n = 30_000;
    const r = run(
      stream(n, (s) => s * 20 + (s % 50 === 25 ? 45 : 0)),
      n * 20 + 200,
    );
    const early = waitsOf(r, 1000, 2000);
    const late = waitsOf(r, n - 1000, n);
    // Each spike costs at most one grown frame that the next second's slack gives back: the
    // delay at the end of the call is the delay after its first minute.
    expect(Math.max(...late)).toBeLessThanOrEqual(Math.max(...early));
    expect(Math.max(...late)).toBeLessThan(100);
    expect(r.order.length).toBeGreaterThan(n * 0.97);
  });

  it("conceals losses and plays reordered packets in order at the low delay", () => {
    // 5 % lost, and one pair in ten swapped (the second 8 ms early, the first 8 ms late).
    const lost = (s: number) => s % 20 === 7;
    const arrivals = stream(1000, (s) => s * 20 + (s % 10 === 3 ? 8 : s % 10 === 4 ? -8 : 0)).filter(
      (a) => !lost(a.seq),
    );
    const r = run(arrivals, 20_200, 3);
    const expected = Array.from({ length: 1000 }, (_, s) => s).filter((s) => !lost(s));
    expect(r.order).toEqual(expected);
    expect(r.jb.stats().concealedFrames).toBeGreaterThanOrEqual(50);
    expect(r.jb.stats().late).toBe(0);
    // The reordering (8 ms) fits the target: the delay stays at its floor plus the phase.
    expect(Math.max(...waitsOf(r, 500, 1000))).toBeLessThan(50);
  });
});

describe("JitterBuffer after a stall", () => {
  it("a sender that stalls 140 ms and resumes on time (skipped timestamps) costs its delay for about a second, not seven", () => {
    // Packets 100..106 never come (the sender's clock skipped them); 107 on arrive on time.
    const r = run(
      stream(600, (s) => s * 20).filter((a) => a.seq < 100 || a.seq >= 107),
      12_200,
    );
    const target = r.jb.stats().targetDelayMs;
    // Within two seconds of the stall the delay is back to target + less than a frame.
    expect(Math.max(...waitsOf(r, 210, 600))).toBeLessThan(target + 20);
    expect(r.jb.stats().late).toBe(0);
  });

  it("a network that holds 200 ms of packets and delivers them in a burst: nothing lost, slack gone within about a second", () => {
    const r = run(
      stream(600, (s) => (s >= 100 && s < 110 ? 110 * 20 + 1 : s * 20)),
      12_200,
    );
    // Every packet of the burst is played (the delay grew to take them)...
    for (let s = 100; s < 110; s++) expect(r.wait.has(s)).toBe(true);
    // ...and the extra delay it left is dropped in one go once a second shows it is slack.
    const target = r.jb.stats().targetDelayMs;
    expect(Math.max(...waitsOf(r, 220, 600))).toBeLessThan(target + 20);
    expect(r.jb.stats().late).toBe(0);
  });
});

describe("JitterBuffer played on arrival (to a sound card: playout.ts)", () => {
  const arrivalJb = (absorbMs: number) => {
    const jb = defaultJb();
    jb.setPlayOnArrival(true, absorbMs);
    return jb;
  };

  it("has no floor: the packet that arrives is ready at once, in order; a hole before it is not", () => {
    const jb = arrivalJb(15);
    const out = new Int16Array(FRAME);
    jb.push(1000, frame(1), 0);
    expect(jb.ready()).toBe(true);
    expect(jb.stats().targetDelayMs).toBe(0);
    expect(jb.pull(out, 0)).toBe("played");
    expect(out[0]).toBe(1);
    expect(jb.ready()).toBe(false);
    // Packet 2 before packet 1: a hole (maybe only reordered) is left to the card's deadline.
    jb.push(1000 + 2 * FRAME, frame(3), 40);
    expect(jb.ready()).toBe(false);
    jb.push(1000 + FRAME, frame(2), 41);
    expect(jb.ready()).toBe(true);
    jb.pull(out, 41);
    expect(out[0]).toBe(2);
    expect(jb.ready()).toBe(true);
  });

  it("holds a frame behind only when the jitter needs more than the card's queue absorbs", () => {
    // Packets alternately 4 ms late and early: RFC 3550's J is 8 ms, 3 × J = 24 ms; with 15 ms
    // absorbed by the card's queue, 9 ms more are needed: a frame.
    const jb = arrivalJb(15);
    const out = new Int16Array(FRAME);
    for (let s = 0; s < 200; s++) {
      jb.push(1000 + s * FRAME, frame(s + 1), s * 20 + (s % 2 === 0 ? 4 : -4));
      while (jb.ready()) jb.pull(out, s * 20);
    }
    expect(jb.stats().targetDelayMs).toBe(20);
    // The newest packet waits, a frame behind; the next one to arrive lets it go.
    expect(jb.stats().bufferedMs).toBe(20);
    expect(jb.ready()).toBe(false);
    jb.push(1000 + 200 * FRAME, frame(201), 200 * 20);
    expect(jb.ready()).toBe(true);
    // With the same jitter and a card that absorbs 40 ms, nothing is held.
    jb.setPlayOnArrival(true, 40);
    expect(jb.stats().targetDelayMs).toBe(0);
  });
});
