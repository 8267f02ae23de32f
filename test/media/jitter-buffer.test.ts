import { describe, expect, it } from "vitest";
import { JitterBuffer } from "../../src/media/jitter-buffer.js";

const FRAME = 160;

/** A frame whose samples all equal `v` (so the output says which packet it came from). */
const frame = (v: number): Int16Array => new Int16Array(FRAME).fill(v);

function make(): JitterBuffer {
  return new JitterBuffer({ sampleRate: 8000, samplesPerTick: 1, frameSamples: FRAME, minDelayMs: 40 });
}

/** Pulls `n` frames at 20 ms steps from `t0`; returns the first sample of each (and the results). */
function pullN(jb: JitterBuffer, n: number, t0: number): Array<[number, string]> {
  const out = new Int16Array(FRAME);
  const r: Array<[number, string]> = [];
  for (let i = 0; i < n; i++) {
    const k = jb.pull(out, t0 + i * 20);
    r.push([out[0] ?? 0, k]);
  }
  return r;
}

describe("JitterBuffer", () => {
  it("copies what it keeps: the caller reuses one array, played arrays are recycled", () => {
    const jb = make();
    const scratch = new Int16Array(FRAME);
    const out: number[] = [];
    const o = new Int16Array(FRAME);
    // A long stream with the receive path's pattern: push one packet, pull one frame, reusing
    // the same decode array for every packet (the jitter buffer recycles its own slots).
    for (let i = 0; i < 200; i++) {
      scratch.fill(i + 1);
      jb.push(1000 + i * FRAME, scratch, i * 20);
      scratch.fill(-1); // overwritten at once: must not reach the output
      jb.pull(o, i * 20 + 1);
      expect(o.every((v) => v === o[0])).toBe(true);
      out.push(o[0] ?? 0);
    }
    // After the initial delay every packet comes out once, in order, untouched.
    const played = out.filter((v) => v !== 0);
    expect(played).toEqual(Array.from({ length: played.length }, (_, k) => k + 1));
    expect(played.length).toBeGreaterThan(190);
  });

  it("plays in order after the initial delay", () => {
    const jb = make();
    for (let i = 0; i < 5; i++) jb.push(1000 + i * FRAME, frame(i + 1), i * 20);
    const r = pullN(jb, 7, 100);
    // 40 ms of initial delay = two frames of silence, then 1..5
    expect(r.map(([v]) => v)).toEqual([0, 0, 1, 2, 3, 4, 5]);
  });

  it("reorders packets that arrive out of order", () => {
    const jb = make();
    for (const i of [0, 2, 1, 4, 3]) jb.push(1000 + i * FRAME, frame(i + 1), 0);
    expect(pullN(jb, 7, 0).map(([v]) => v)).toEqual([0, 0, 1, 2, 3, 4, 5]);
  });

  it("conceals a lost packet by repeating the last frame, faded, then continues", () => {
    const jb = make();
    for (const i of [0, 1, 3, 4]) jb.push(1000 + i * FRAME, frame(1000 * (i + 1)), 0);
    const r = pullN(jb, 6, 0).slice(2);
    expect(r[0]).toEqual([1000, "played"]);
    expect(r[1]).toEqual([2000, "played"]);
    expect(r[2]?.[1]).toBe("concealed");
    expect(r[2]?.[0]).toBeGreaterThan(0);
    expect(r[2]?.[0]).toBeLessThanOrEqual(2000);
    expect(r[3]).toEqual([4000, "played"]);
    expect(jb.stats().concealedFrames).toBeGreaterThanOrEqual(1);
  });

  it("fades a long gap to silence", () => {
    const jb = make();
    jb.push(0, frame(8000), 0);
    const out = new Int16Array(FRAME);
    const levels: number[] = [];
    for (let i = 0; i < 10; i++) {
      jb.pull(out, i * 20);
      levels.push(Math.max(...Array.from(out, Math.abs)));
    }
    expect(levels[2]).toBe(8000);
    expect(levels[9]).toBe(0);
    for (let i = 3; i < 9; i++) expect(levels[i] ?? 0).toBeLessThanOrEqual(levels[i - 1] ?? 0);
  });

  it("counts duplicates and late packets", () => {
    const jb = make();
    jb.push(1000, frame(1), 0);
    expect(jb.push(1000, frame(1), 0)).toBe("duplicate");
    jb.push(1000 + FRAME, frame(2), 20);
    pullN(jb, 5, 20);
    expect(jb.push(1000, frame(1), 120)).toBe("late");
    expect(jb.stats()).toMatchObject({ late: 1, duplicates: 1 });
  });

  it("grows the delay when packets come late, and survives the 32-bit timestamp wrap", () => {
    const jb = make();
    const out = new Int16Array(FRAME);
    let ts = 0xffffffff - 5 * FRAME;
    let t = 0;
    let played = 0;
    // 200 packets with ±15 ms of jitter on arrival
    let seed = 3;
    const arrivals: Array<{ at: number; ts: number; v: number }> = [];
    for (let i = 0; i < 200; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      arrivals.push({ at: i * 20 + (seed % 30), ts: ts >>> 0, v: i + 1 });
      ts += FRAME;
    }
    arrivals.sort((a, b) => a.at - b.at);
    for (t = 0; t < 4400; t += 20) {
      while (arrivals.length > 0 && (arrivals[0]?.at ?? 0) <= t) {
        const a = arrivals.shift();
        if (a) jb.push(a.ts, frame(a.v), a.at);
      }
      if (jb.pull(out, t) === "played") played++;
    }
    expect(played).toBeGreaterThan(190);
    expect(jb.stats().jitterMs).toBeGreaterThan(1);
  });

  it("resynchronises on a timestamp jump (new stream)", () => {
    const jb = make();
    jb.push(1000, frame(1), 0);
    pullN(jb, 3, 0);
    expect(jb.push(90_000_000, frame(2), 60)).toBe("resync");
    expect(pullN(jb, 3, 60).map(([v]) => v)).toContain(2);
  });
});
