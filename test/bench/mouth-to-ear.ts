/**
 * Mouth-to-ear delay, both directions, in a real call through the lab Kamailio with baresip's
 * `alsa` module as the far end, all on the lab's paced virtual sound card; then the same with
 * baresip's `alsa` module in the desk's place (the anchor): "Cuffia adds X ms, baresip adds Y".
 *
 * One clock, one recording. The card gets a 4-channel null sink `bus` (aux0..aux3), and each
 * "device" is one channel of it, cut out by module-remap-source / module-remap-sink (filters
 * that run in the bus's own thread and add no buffering of their own):
 *
 *   aux0  the operator's mouth   desk_mic  (remap-source of bus.monitor)  → the desk captures
 *   aux1  the caller's ear       far_ear   (remap-sink into bus)          ← the far end plays
 *   aux2  the caller's mouth     far_mic   (remap-source of bus.monitor)  → the far end captures
 *   aux3  the operator's ear     desk_ear  (remap-sink into bus)          ← the desk plays
 *
 * `pacat` plays 1 kHz bursts into aux0 and aux2 (every 500 ms, the directions 250 ms apart);
 * one `parec` records bus.monitor, all four channels. A burst enters the desk's microphone at
 * the instant it is rendered into aux0, and what the far end plays lands in aux1 of the same
 * recording at the instant it is rendered: the delay is the distance, in samples of that one
 * recording, between the burst's onset on aux0 and on aux1 (and aux2 → aux3). No stream latency
 * has to be estimated or subtracted; both PulseAudio stream latencies of each end (capture and
 * playback, as the pulse plugin sets them up from the ALSA buffer asked for) are inside the
 * figure, as a hardware card's would be. The caveat: PulseAudio adds its own buffering on top of
 * the ALSA parameters (it logs "Final latency" above the ALSA buffer): absolute figures are not
 * a hardware card's, the comparison with baresip on the same card is the point.
 *
 * Printed per call and direction: p50/p95/max over CUFFIA_BENCH_AUDIO_SECONDS (default 60) and
 * bursts lost; the ALSA parameters in force of the desk's arecord/aplay (from their own `-v`
 * dump, logged by Microphone/Speaker); PulseAudio's view of every stream (buffer and device
 * latency, `pactl list`); the call's xrun counts (call.ended). baresip 1.0's alsa module sets
 * period = ptime (20 ms), buffer = 4 periods and leaves the start threshold at ALSA's default
 * (its source, modules/alsa/alsa.c; it prints nothing of it).
 *
 * Each direction crosses both ends: operator → caller is the desk's capture + packetisation +
 * loopback + the far end's jitter buffer and playback. The far end is the same baresip in both
 * calls, so per direction the difference between the calls is the desk's own difference. The
 * "share" printed splits the baresip ↔ baresip figure in two equal halves (both baresips run the
 * same settings), and Cuffia's share is its call's figure minus that half: an estimate, since
 * the far end's receive half moves a little from call to call with the phase it starts at.
 * Both baresips run with short buffers (jitter_buffer_delay 1-3 frames, audio_buffer 20-40 ms;
 * CUFFIA_BENCH_FAR_JITTER / CUFFIA_BENCH_FAR_AUDIO_BUFFER): with baresip's defaults (5-10,
 * 20-160) the far end alone held 0 to 150 ms more from one call to the next, which drowned the
 * desk's share; the anchor is therefore baresip tuned for low delay. CUFFIA_BENCH_AUDIO_LATENCY
 * picks the desk's `audio.latency` profile (default `normal`).
 *
 * Why one recording rather than two streams (pacat into one sink, parec from another) with the
 * latencies PulseAudio reports subtracted: each stream's start and latency would be known to a
 * few ms only; the single 4-channel recording needs no correction at all.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { inject } from "vitest";
import { deviceLatency, type LatencyProfile } from "../../src/audio/latency.js";
import type { SipAction } from "../../src/core/types.js";
import type { Logger } from "../../src/log/logger.js";
import type { SipAgent } from "../../src/sip/sip-agent.js";
import "../lab/context.js";
import { type Baresip, startBaresip } from "../lab/baresip.js";
import { labKamailio } from "../lab/kamailio.js";
import { baresipPort } from "../lab/ports.js";
import { type Spawned, spawnLogged, stopProcess } from "../lab/proc.js";
import { SYSTEM_ALSA_CONF, startDeskOnCard, startVirtualCard, type VirtualCard } from "../lab/sound-card.js";

const RATE = 48_000;
const BURST_EVERY_S = 0.5;
const BURST_MS = 20;
const THRESHOLD = 4000; // a burst is 16000 peak; G.711 and resampling keep it well above this
const SEARCH_MS = 450;
const FAR_JITTER = process.env.CUFFIA_BENCH_FAR_JITTER ?? "1-3";
const FAR_AUDIO_BUFFER = process.env.CUFFIA_BENCH_FAR_AUDIO_BUFFER ?? "20-40";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Direction {
  readonly delaysMs: number[];
  readonly sent: number;
  readonly p50: number;
  readonly p95: number;
  readonly max: number;
}
export interface CallFigures {
  readonly desk: string;
  readonly toCaller: Direction;
  readonly toOperator: Direction;
  readonly notes: string[];
}

function pct(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
}

/** Onset = first sample above THRESHOLD after silence; one per burst. */
export function onsets(x: Int16Array, from = 0, to = x.length): number[] {
  const out: number[] = [];
  const quiet = Math.round((RATE * (BURST_EVERY_S / 2 - BURST_MS / 1000)) / 2);
  let last = -Infinity;
  for (let i = from; i < to; i++) {
    if (Math.abs(x[i] ?? 0) > THRESHOLD) {
      if (i - last > quiet) out.push(i);
      last = i;
    }
  }
  return out;
}

export function direction(sent: Int16Array, got: Int16Array): Direction {
  const delaysMs: number[] = [];
  const injected = onsets(sent);
  for (const t of injected) {
    const hit = onsets(got, t, Math.min(got.length, t + (SEARCH_MS * RATE) / 1000))[0];
    if (hit !== undefined) delaysMs.push(((hit - t) * 1000) / RATE);
  }
  return {
    delaysMs,
    sent: injected.length,
    p50: pct(delaysMs, 0.5),
    p95: pct(delaysMs, 0.95),
    max: Math.max(...delaysMs),
  };
}

/** 4 channels, bursts on aux0 (from 1 s) and aux2 (250 ms later), every 500 ms. */
function injection(seconds: number): Buffer {
  const frames = Math.round((seconds + 1.5) * RATE);
  const pcm = new Int16Array(frames * 4);
  const burst = Math.round((BURST_MS * RATE) / 1000);
  for (let t = 1; t < seconds + 1; t += BURST_EVERY_S) {
    for (const [ch, offset] of [
      [0, 0],
      [2, BURST_EVERY_S / 2],
    ] as const) {
      const start = Math.round((t + offset) * RATE);
      for (let i = 0; i < burst; i++) {
        pcm[(start + i) * 4 + ch] = Math.round(16000 * Math.sin((2 * Math.PI * 1000 * i) / RATE));
      }
    }
  }
  return Buffer.from(pcm.buffer);
}

interface Rig {
  card: VirtualCard;
  env: Record<string, string>;
  pcm: { deskMic: string; deskEar: string; farMic: string; farEar: string };
}

async function rig(): Promise<Rig> {
  const card = await startVirtualCard({ rate: RATE });
  const map = "aux0,aux1,aux2,aux3";
  await card.pactl(
    "load-module",
    "module-null-sink",
    "sink_name=bus",
    `rate=${RATE}`,
    "channels=4",
    `channel_map=${map}`,
  );
  for (const [name, ch] of [
    ["desk_mic", "aux0"],
    ["far_mic", "aux2"],
  ] as const) {
    await card.pactl(
      "load-module",
      "module-remap-source",
      `source_name=${name}`,
      "master=bus.monitor",
      "channels=1",
      "channel_map=mono",
      `master_channel_map=${ch}`,
      "remix=no",
    );
  }
  for (const [name, ch] of [
    ["far_ear", "aux1"],
    ["desk_ear", "aux3"],
  ] as const) {
    await card.pactl(
      "load-module",
      "module-remap-sink",
      `sink_name=${name}`,
      "master=bus",
      "channels=1",
      "channel_map=mono",
      `master_channel_map=${ch}`,
      "remix=no",
    );
  }
  const conf = join(card.dir, "bench-asound.conf");
  const pcm = (name: string, device: string, play: boolean) =>
    `pcm.${name} { type pulse server "${card.server}" device "${device}"${play ? " handle_underrun true" : ""} }`;
  await writeFile(
    conf,
    [
      pcm("bench_desk_mic", "desk_mic", false),
      pcm("bench_desk_ear", "desk_ear", true),
      pcm("bench_far_mic", "far_mic", false),
      pcm("bench_far_ear", "far_ear", true),
      "",
    ].join("\n"),
  );
  return {
    card,
    env: { ALSA_CONFIG_PATH: `${SYSTEM_ALSA_CONF}:${card.alsaConfig}:${conf}` },
    pcm: {
      deskMic: "bench_desk_mic",
      deskEar: "bench_desk_ear",
      farMic: "bench_far_mic",
      farEar: "bench_far_ear",
    },
  };
}

/**
 * Records bus.monitor (4 channels) from before `setup` (which establishes the call) until
 * `during` (which ends it) returns; the bursts play in between.
 */
async function measure(
  r: Rig,
  seconds: number,
  name: string,
  setup: () => Promise<void>,
  during: () => Promise<void>,
) {
  const file = join(r.card.dir, `${name}.raw`);
  const pulse = ["--server", r.card.server, "--raw", "--format=s16le", `--rate=${RATE}`, "--channels=4"];
  const map = "--channel-map=aux0,aux1,aux2,aux3";
  const rec = spawnLogged(
    "parec",
    [...pulse, map, "--device=bus.monitor", "--latency-msec=10", file],
    join(r.card.dir, "parec.log"),
  );
  const injFile = join(r.card.dir, "inject.raw");
  await writeFile(injFile, injection(seconds));
  let inj: Spawned | null = null;
  try {
    await setup();
    await sleep(1000);
    inj = spawnLogged(
      "pacat",
      [...pulse, map, "--playback", "--device=bus", "--latency-msec=10", injFile],
      join(r.card.dir, "pacat.log"),
    );
    await Promise.all([inj.exited, during()]);
  } finally {
    if (inj) await stopProcess(inj, 1000);
    await stopProcess(rec, 2000);
  }
  const raw = await readFile(file);
  const all = new Int16Array(raw.buffer, raw.byteOffset, Math.floor(raw.length / 8) * 4);
  const ch = (c: number) => all.filter((_, i) => i % 4 === c);
  return { toCaller: direction(ch(0), ch(1)), toOperator: direction(ch(2), ch(3)) };
}

/** PulseAudio's own view of the streams: buffer and device latency per client. */
async function pulseStreams(card: VirtualCard): Promise<string[]> {
  const out: string[] = [];
  for (const kind of ["sink-inputs", "source-outputs"]) {
    const text = await card.pactl("list", kind);
    for (const block of text.split(/\n(?=\S)/)) {
      const bin = /application\.process\.binary = "([^"]+)"/.exec(block)?.[1];
      const dev = /(?:Sink|Source): (\d+)/.exec(block)?.[1];
      const buf = /Buffer Latency: (\d+) usec/.exec(block)?.[1];
      const lat = /(?:Sink|Source) Latency: (\d+) usec/.exec(block)?.[1];
      if (!bin || bin === "pacat" || bin === "parec") continue;
      out.push(
        `${kind === "sink-inputs" ? "playback" : "capture"} ${bin} (device #${dev}): buffer ${(Number(buf) / 1000).toFixed(1)} ms, device ${(Number(lat) / 1000).toFixed(1)} ms`,
      );
    }
  }
  return out;
}

function collector(lines: string[]): Logger {
  const fn =
    (level: string) =>
    (a: unknown, b?: string): void => {
      if (
        typeof a === "object" &&
        typeof b === "string" &&
        /parameters in force|ALSA|capture to send/.test(b)
      )
        lines.push(`${level} ${b} ${JSON.stringify(a)}`);
      else if (level === "warn" || level === "error")
        lines.push(`${level} ${typeof a === "string" ? a : `${b} ${JSON.stringify(a)}`}`);
    };
  const log: Logger = {
    trace: fn("trace"),
    debug: fn("debug"),
    info: fn("info"),
    warn: fn("warn"),
    error: fn("error"),
    fatal: fn("fatal"),
    child: () => log,
    enabled: () => true,
    setLevel: () => undefined,
  };
  return log;
}

export async function main(write: (s: string) => void): Promise<CallFigures[]> {
  const seconds = Number(process.env.CUFFIA_BENCH_AUDIO_SECONDS ?? 60);
  const profile = (process.env.CUFFIA_BENCH_AUDIO_LATENCY ?? "normal") as LatencyProfile;
  const lab = inject("lab");
  const kamailio = labKamailio(lab.kamailio);
  const r = await rig();
  const saved = process.env.ALSA_CONFIG_PATH;
  process.env.ALSA_CONFIG_PATH = r.env.ALSA_CONFIG_PATH;
  let far: Baresip | null = null;
  let deskB: Baresip | null = null;
  let agent: SipAgent | null = null;
  const results: CallFigures[] = [];
  try {
    far = await startBaresip({
      kamailio,
      user: "2002",
      port: await baresipPort(),
      alsa: { source: r.pcm.farMic, player: r.pcm.farEar, env: r.env },
      // The far end is common to both calls; short buffers keep its own share small and steady
      // (with baresip's defaults, jitter 5-10 frames and audio_buffer 20-160 ms, it held 0 to
      // 150 ms more from one call to the next, depending on how the call started). The desk's
      // baresip gets the same: the anchor is baresip tuned for low delay.
      jitterBuffer: FAR_JITTER,
      audioBuffer: FAR_AUDIO_BUFFER,
    });
    // 1. Cuffia at the desk.
    const notes: string[] = [];
    const desk = await startDeskOnCard({
      wsPort: lab.kamailio.wsPort,
      mic: r.pcm.deskMic,
      speaker: r.pcm.deskEar,
      latency: deviceLatency(profile),
      rtp: { portMin: 23000, portMax: 23999, codecs: ["PCMU"] },
      log: collector(notes),
    });
    agent = desk.agent;
    const inputs = desk.inputs;
    let ended: unknown = null;
    let callId = "";
    const cuffia = await measure(
      r,
      seconds,
      "cuffia",
      async () => {
        const mark = inputs.mark;
        await far?.dial("sip:1018@127.0.0.1");
        const offer = await inputs.waitFor("call_offered", () => true, 10_000, mark);
        callId = offer.callId;
        await agent?.execute({ type: "sip", action: "answer", callId } as { type: "sip" } & SipAction);
        await inputs.waitFor("call_answered", (i) => i.callId === callId);
        await far?.waitFor("CALL_ESTABLISHED");
      },
      async () => {
        await sleep((seconds * 1000) / 2);
        notes.push(...(await pulseStreams(r.card)));
        await sleep((seconds * 1000) / 2 + 1500);
        await far?.hangup();
        const e = await inputs.waitFor("call_ended", (i) => i.callId === callId);
        ended = e.stats;
      },
    );
    const s = ended as { audioUnderruns?: number; audioOverruns?: number; jitterMs?: number } | null;
    notes.push(`call.ended: audio_underruns ${s?.audioUnderruns}, audio_overruns ${s?.audioOverruns}`);
    results.push({ desk: `Cuffia (audio.latency: ${profile})`, ...cuffia, notes });
    write(report(results, seconds));
    await desk.agent.stop();
    agent = null;
    // 2. baresip at the desk, same card, same far end.
    deskB = await startBaresip({
      kamailio,
      user: "2001",
      port: await baresipPort(),
      autoAnswer: true,
      alsa: { source: r.pcm.deskMic, player: r.pcm.deskEar, env: r.env },
      jitterBuffer: FAR_JITTER,
      audioBuffer: FAR_AUDIO_BUFFER,
    });
    const bnotes: string[] = [];
    const bare = await measure(
      r,
      seconds,
      "baresip",
      async () => {
        await far?.dial("sip:2001@127.0.0.1");
        await far?.waitFor("CALL_ESTABLISHED");
      },
      async () => {
        await sleep((seconds * 1000) / 2);
        bnotes.push(...(await pulseStreams(r.card)));
        await sleep((seconds * 1000) / 2 + 1500);
        await far?.hangup();
      },
    );
    bnotes.push("baresip alsa.c: period = ptime (160 frames), buffer = 4 periods, start threshold not set");
    results.push({
      desk: `baresip 1.0 alsa module (jitter_buffer_delay ${FAR_JITTER}, audio_buffer ${FAR_AUDIO_BUFFER})`,
      ...bare,
      notes: bnotes,
    });
  } finally {
    await agent?.stop();
    await deskB?.stop();
    await far?.stop();
    if (saved === undefined) delete process.env.ALSA_CONFIG_PATH;
    else process.env.ALSA_CONFIG_PATH = saved;
    await r.card.stop();
  }
  write(report(results.slice(1), seconds, results));
  return results;
}

/** `results` printed; the desk's share from `all` (Cuffia's call and baresip's) when both are there. */
function report(results: CallFigures[], seconds: number, all: CallFigures[] = results): string {
  const f = (n: number) => `${n.toFixed(1)} ms`;
  const lines = [
    `\nmouth-to-ear on the lab's virtual card (PulseAudio null sinks via the ALSA pulse plugin), PCMU 20 ms, ${seconds} s per call, bursts every ${BURST_EVERY_S * 1000} ms`,
  ];
  for (const r of results) {
    lines.push(
      `\ndesk: ${r.desk}, far end: baresip 1.0 alsa module, jitter_buffer_delay ${FAR_JITTER}, audio_buffer ${FAR_AUDIO_BUFFER}`,
    );
    for (const [label, d] of [
      ["operator → caller", r.toCaller],
      ["caller → operator", r.toOperator],
    ] as const) {
      lines.push(
        `  ${label}: p50 ${f(d.p50)}  p95 ${f(d.p95)}  max ${f(d.max)}  (${d.delaysMs.length}/${d.sent} bursts)`,
      );
      if (process.env.CUFFIA_BENCH_AUDIO_TRACE)
        lines.push(`    ${d.delaysMs.map((x) => x.toFixed(0)).join(" ")}`);
    }
    for (const n of r.notes) lines.push(`  ${n}`);
  }
  const [c, b] = all;
  if (c && b) {
    lines.push("\nthe desk's own share (same far end, same card; baresip's halves taken as equal):");
    for (const [label, k] of [
      ["operator → caller", "toCaller"],
      ["caller → operator", "toOperator"],
    ] as const) {
      for (const q of ["p50", "p95"] as const) {
        const bare = b[k][q] / 2;
        lines.push(
          `  ${label} ${q}: Cuffia adds ≈ ${f(c[k][q] - bare)}, baresip adds ≈ ${f(bare)} (difference ${f(c[k][q] - b[k][q])})`,
        );
      }
    }
  }
  return `${lines.join("\n")}\n`;
}
