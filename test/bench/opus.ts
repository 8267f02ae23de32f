/**
 * Opus's cost on this machine, for README § Performance and for the choice of the default codec
 * order (issue 14: Opus first only if a Pi can afford it).
 *
 * - CPU per 20 ms frame, encode and decode apart, for speech (espeak-ng) at 48 kHz through
 *   libopus in wasm (libopus-wasm, the codec the desk uses) at our settings, beside G.722 and
 *   G.711 in the same process;
 * - the A/B that chose libopus-wasm over opusscript (both libopus in wasm; only libopus-wasm can
 *   decode in-band FEC): the same speech through each library's encoder and decoder at our
 *   settings (with FEC on, as for a far end that asks for it), alternated in one process, and
 *   each library's RSS in a child of its own (loaded, a first codec, then 40 more);
 * - RSS: what loading libopus costs the first call (beside a G.711 desk's first call), then the
 *   growth per call over many calls,
 *   each a pair of real media sessions exchanging Opus on loopback for a second and closed (the
 *   codec's wasm state must be freed: `delete()`), in a child process of its own with
 *   `--expose-gc` so that nothing of the bench runner is counted. Target: ≤ 1 MB per call after
 *   the first.
 *
 * Run on the build (`npm run bench` builds first).
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resampleAll } from "../../src/audio/resample.js";
import { type CodecName, createCodec } from "../../src/media/codecs.js";
import { makeSpeech, readWav } from "../lab/audio.js";
import { repoRoot } from "../lab/proc.js";

export interface CpuFigure {
  readonly codec: CodecName;
  readonly encodeUs: number;
  readonly decodeUs: number;
  /** Both, as a share of one core in a call (50 frames a second each way). */
  readonly corePercent: number;
  readonly bytesPerFrame: number;
}

export interface RssFigure {
  readonly codec: string;
  readonly idleMb: number;
  readonly afterFirstCallMb: number;
  readonly afterCallsMb: number;
  readonly calls: number;
  readonly growthPerCallKb: number;
}

const SPEECH =
  "Buongiorno, ufficio anagrafe. The social phone answers questions about food, medicine and help at home. " +
  "Un momento, la passo subito alla collega che si occupa dei certificati.";

function cpuUs(fn: () => void): number {
  const t = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t);
  return d.user + d.system;
}

/** CPU per frame of each codec on `seconds` of speech (looped), after a warm-up. */
export async function measureCpu(seconds = 60): Promise<CpuFigure[]> {
  const dir = await mkdtemp(join(tmpdir(), "cuffia-opus-bench-"));
  try {
    const wav = await readWav(await makeSpeech(join(dir, "speech.wav"), SPEECH, 48000));
    const pcm48 = Int16Array.from(wav.samples, (v) => Math.round(v * 32767));
    const out: CpuFigure[] = [];
    for (const name of ["OPUS", "G722", "PCMU"] as const) {
      const codec = createCodec(name);
      await codec.whenReady;
      const rate = codec.info.sampleRate;
      const pcm = rate === 48000 ? pcm48 : resampleAll(pcm48, 48000, rate);
      const n = (rate * 20) / 1000;
      const frames: Int16Array[] = [];
      for (let at = 0; at + n <= pcm.length; at += n) frames.push(pcm.slice(at, at + n));
      const count = seconds * 50;
      const payloads: Uint8Array[] = [];
      const decoded = new Int16Array(codec.maxDecoded(2000));
      // Warm-up: JIT and wasm tiers.
      for (let i = 0; i < 200; i++) {
        const p = codec.encode(frames[i % frames.length] as Int16Array);
        codec.decode(p, decoded.subarray(0, codec.maxDecoded(p.length)));
      }
      const enc = cpuUs(() => {
        for (let i = 0; i < count; i++)
          payloads.push(Uint8Array.from(codec.encode(frames[i % frames.length] as Int16Array)));
      });
      const dec = cpuUs(() => {
        for (const p of payloads) codec.decode(p, decoded.subarray(0, codec.maxDecoded(p.length)));
      });
      codec.close?.();
      const encodeUs = enc / count;
      const decodeUs = dec / count;
      out.push({
        codec: name,
        encodeUs,
        decodeUs,
        corePercent: ((encodeUs + decodeUs) * 50) / 10_000,
        bytesPerFrame: payloads.reduce((s, p) => s + p.length, 0) / payloads.length,
      });
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The child: two media sessions per call (a desk and its far end, both ours) exchanging Opus on
 * loopback for `callMs`, then closed; RSS after a full GC, before libopus is loaded, after the
 * first call and after all.
 */
const CHILD = (root: string, codec: string, calls: number, callMs: number) => `
import { createMediaFactory } from "${root}/dist/media/factory.js";
import { silentLogger } from "${root}/dist/log/logger.js";
import { preloadOpus } from "${root}/dist/media/opus-codec.js";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rss = async () => { for (let i = 0; i < 3; i++) { globalThis.gc(); await sleep(20); } return process.memoryUsage().rss / 1048576; };
const make = (portMin) => createMediaFactory({
  audio: { source: { type: "none" }, sink: { type: "none" } },
  rtp: { address: "127.0.0.1", portMin, portMax: portMin + 40, codecs: ["${codec}"] },
  log: silentLogger,
});
const a = make(33000), b = make(33100);
async function call(i) {
  const x = await a.create({ callId: "x" + i }), y = await b.create({ callId: "y" + i });
  x.acceptAnswer(y.answer(x.createOffer({ hold: false }), { hold: false }));
  await sleep(${callMs});
  const got = y.stats().packetsReceived;
  await Promise.all([x.close(), y.close()]);
  if (got < ${Math.floor(callMs / 40)}) throw new Error("call " + i + ": only " + got + " packets");
}
await sleep(200);
const idle = await rss();
// As an inbound call does: libopus loaded and warmed while the desk rings.
if ("${codec}" === "opus") await preloadOpus();
await call(0);
const first = await rss();
for (let i = 1; i <= ${calls}; i++) await call(i);
const after = await rss();
await a.close(); await b.close();
console.log(JSON.stringify({ idle, first, after }));
`;

/** The V8 flags the daemon runs with (src/cli.ts's first line): a representative RSS. */
const DAEMON_FLAGS = ["--max-semi-space-size=1", "--v8-pool-size=1"];

export function measureRss(codec: "opus" | "pcmu", calls = 40, callMs = 1000): RssFigure {
  const out = execFileSync(
    process.execPath,
    [...DAEMON_FLAGS, "--expose-gc", "--input-type=module", "-e", CHILD(repoRoot(), codec, calls, callMs)],
    { encoding: "utf8", timeout: (calls + 5) * (callMs + 2000) },
  );
  const r = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as {
    idle: number;
    first: number;
    after: number;
  };
  return {
    codec,
    idleMb: r.idle,
    afterFirstCallMb: r.first,
    afterCallsMb: r.after,
    calls,
    growthPerCallKb: ((r.after - r.first) * 1024) / calls,
  };
}

export interface LibraryFigure {
  readonly library: "libopus-wasm" | "opusscript";
  /** Median over the rounds, µs per 20 ms frame. */
  readonly encodeUs: number;
  readonly decodeUs: number;
  /** Encode + decode of one call-minute (3000 frames each way), ms of CPU. */
  readonly msPerCallMinute: number;
  readonly rss: { readonly idleMb: number; readonly loadedMb: number; readonly perCodecKb: number };
}

/** One library's encoder and decoder at our settings, behind one shape (the bench's only). */
interface Pair {
  encode(pcm: Int16Array): Uint8Array;
  decode(packet: Uint8Array): void;
  free(): void;
}

async function libopusWasmPair(): Promise<Pair> {
  const m = await import("libopus-wasm");
  const enc = await m.createEncoder({
    channels: 1,
    application: 2048,
    complexity: 5,
    bitrate: 32000,
    fec: true,
    packetLossPercent: 10,
    signal: 3001,
  });
  const dec = await m.createDecoder({ channels: 1, maxFrameSize: 2880 });
  const out = new Int16Array(2880);
  return {
    encode: (pcm) => enc.encode(pcm),
    decode: (p) => out.set(dec.decode(p)),
    free: () => {
      enc.free();
      dec.free();
    },
  };
}

async function opusscriptPair(): Promise<Pair> {
  const OpusScript = (await import("opusscript")).default;
  const enc = new OpusScript(48000, 1, 2048);
  for (const [ctl, v] of [
    [4024, 3001],
    [4010, 5],
    [4002, 32000],
    [4012, 1],
    [4014, 10],
  ] as const)
    enc.encoderCTL(ctl, v);
  const dec = new OpusScript(48000, 1, 2048);
  const out = new Int16Array(2880);
  return {
    encode: (pcm) => enc.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), pcm.length),
    // What opus-codec.ts did with opusscript's bytes: copied into the call's Int16Array.
    decode: (p) => {
      const b = dec.decode(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
      for (let i = 0; i < b.length >> 1; i++) out[i] = b.readInt16LE(2 * i);
    },
    free: () => {
      enc.delete();
      dec.delete();
    },
  };
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;

/**
 * The RSS child: a library loaded, one codec pair through 50 frames (what the first call costs),
 * 20 more (V8's tiers and the wasm heap's high-water mark settle: +2-3 MB over the first ~50
 * pairs, flat after), then `codecs` more (the growth per codec).
 */
const LIB_CHILD = (library: string, codecs: number) => `
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rss = async () => { for (let i = 0; i < 3; i++) { globalThis.gc(); await sleep(20); } return process.memoryUsage().rss / 1048576; };
const pcm = new Int16Array(960);
for (let i = 0; i < 960; i++) pcm[i] = Math.round(6000 * Math.sin(i / 7) + 2000 * Math.sin(i / 3));
let make;
if ("${library}" === "opusscript") {
  const { createRequire } = await import("node:module");
  const OpusScript = createRequire(process.cwd() + "/package.json")("opusscript");
  make = () => { const e = new OpusScript(48000, 1, 2048), d = new OpusScript(48000, 1, 2048);
    return { run: () => d.decode(e.encode(Buffer.from(pcm.buffer), 960)), free: () => { e.delete(); d.delete(); } }; };
} else {
  const m = await import("libopus-wasm");
  make = async () => { const e = await m.createEncoder({ channels: 1, application: 2048 }), d = await m.createDecoder({ channels: 1 });
    return { run: () => d.decode(e.encode(pcm)), free: () => { e.free(); d.free(); } }; };
}
await sleep(200);
const idle = await rss();
const call = async () => { const c = await make(); for (let f = 0; f < 50; f++) c.run(); c.free(); };
await call();
const loaded = await rss();
for (let i = 0; i < 20; i++) await call();
const settled = await rss();
for (let i = 0; i < ${codecs}; i++) await call();
const after = await rss();
console.log(JSON.stringify({ idle, loaded, settled, after }));
`;

/**
 * libopus-wasm against opusscript on `seconds` of speech (looped): CPU per frame, rounds
 * alternated so that the machine's load falls on both alike, and RSS in a child each.
 */
export async function measureLibraries(seconds = 20, rounds = 5): Promise<LibraryFigure[]> {
  const dir = await mkdtemp(join(tmpdir(), "cuffia-opus-ab-"));
  try {
    const wav = await readWav(await makeSpeech(join(dir, "speech.wav"), SPEECH, 48000));
    const pcm = Int16Array.from(wav.samples, (v) => Math.round(v * 32767));
    const frames: Int16Array[] = [];
    for (let at = 0; at + 960 <= pcm.length; at += 960) frames.push(pcm.slice(at, at + 960));
    const count = seconds * 50;
    const libs = [
      { library: "libopus-wasm" as const, make: libopusWasmPair, enc: [] as number[], dec: [] as number[] },
      { library: "opusscript" as const, make: opusscriptPair, enc: [] as number[], dec: [] as number[] },
    ];
    for (let r = 0; r < rounds; r++) {
      for (const l of r % 2 === 0 ? libs : [...libs].reverse()) {
        const pair = await l.make();
        for (let i = 0; i < 200; i++) pair.decode(pair.encode(frames[i % frames.length] as Int16Array));
        const packets: Uint8Array[] = [];
        l.enc.push(
          cpuUs(() => {
            for (let i = 0; i < count; i++)
              packets.push(pair.encode(frames[i % frames.length] as Int16Array));
          }) / count,
        );
        l.dec.push(
          cpuUs(() => {
            for (const p of packets) pair.decode(p);
          }) / count,
        );
        pair.free();
      }
    }
    return libs.map((l) => {
      const out = execFileSync(
        process.execPath,
        [...DAEMON_FLAGS, "--expose-gc", "--input-type=module", "-e", LIB_CHILD(l.library, 100)],
        { encoding: "utf8", cwd: repoRoot(), timeout: 120_000 },
      );
      const m = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as {
        idle: number;
        loaded: number;
        settled: number;
        after: number;
      };
      const encodeUs = median(l.enc);
      const decodeUs = median(l.dec);
      return {
        library: l.library,
        encodeUs,
        decodeUs,
        msPerCallMinute: ((encodeUs + decodeUs) * 3000) / 1000,
        rss: { idleMb: m.idle, loadedMb: m.loaded, perCodecKb: ((m.after - m.settled) * 1024) / 100 },
      };
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function reportLibraries(figures: readonly LibraryFigure[]): string {
  return [
    "",
    "library        encode µs/frame  decode µs/frame  CPU ms per call-minute  RSS loaded (MB over idle)  per codec kB",
    ...figures.map(
      (f) =>
        `${f.library.padEnd(14)} ${f.encodeUs.toFixed(0).padStart(15)}  ${f.decodeUs.toFixed(0).padStart(15)}  ${f.msPerCallMinute
          .toFixed(0)
          .padStart(
            22,
          )}  ${(f.rss.loadedMb - f.rss.idleMb).toFixed(1).padStart(26)}  ${f.rss.perCodecKb.toFixed(0).padStart(12)}`,
    ),
    "",
  ].join("\n");
}

export function report(cpu: readonly CpuFigure[], rss: readonly RssFigure[]): string {
  const lines = [
    "",
    "codec   encode µs/frame  decode µs/frame  % of a core per call  bytes/frame",
    ...cpu.map(
      (c) =>
        `${c.codec.padEnd(7)} ${c.encodeUs.toFixed(0).padStart(15)}  ${c.decodeUs.toFixed(0).padStart(15)}  ${c.corePercent
          .toFixed(2)
          .padStart(20)}  ${c.bytesPerFrame.toFixed(0).padStart(11)}`,
    ),
    "",
    ...rss.map(
      (r) =>
        `RSS with ${r.codec} calls: ${r.idleMb.toFixed(1)} MB before the first, ${r.afterFirstCallMb.toFixed(1)} MB after it, ` +
        `${r.afterCallsMb.toFixed(1)} MB after ${r.calls} more: ${r.growthPerCallKb.toFixed(0)} kB per call`,
    ),
    "",
  ];
  return lines.join("\n");
}
