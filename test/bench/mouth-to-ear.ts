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
 * Each direction of those calls crosses both ends (operator → caller is the desk's capture +
 * packetisation + loopback + the far end's jitter buffer and playback): that is the "real call"
 * figure, not the desk's share. Splitting baresip ↔ baresip in two equal halves was wrong (its
 * playback half holds PulseAudio's 60-80 ms stream buffer, its capture half 3.5 ms), so the desk's
 * own delay per direction is measured with no far end to estimate, in two more calls:
 *
 * Reflected calls. The far end is an instrument with no buffering (rtp-reflector.mjs, a process
 * of its own, signalled by the lab's raw WebSocket SIP peer through Kamailio): it sends every RTP
 * packet straight back, so a burst on aux0 comes out of aux3 after exactly the desk's send +
 * receive (the round trip, read in the recording, no clock needed), and it timestamps on one
 * clock (CLOCK_MONOTONIC) both the packets as they reach it and the recorder's chunks as they
 * reach it (it runs the recorder, `parec --latency-msec=2`). No sample reaches the recorder
 * before PulseAudio has rendered it, so the lower envelope of (chunk arrival − samples so far /
 * rate), taken within ±1 s, is the recording's render clock plus the recorder's fastest
 * wake-up: sample i rendered at wall(i) = T + i / rate. Per burst, with tw the arrival of the first
 * packet that carries it: the desk sends in tw − wall(onset on aux0) (capture, the ring,
 * packetisation: the packet leaves when its last sample is captured) and receives in
 * wall(onset on aux3) − tw (jitter buffer, speaker, PulseAudio); the two add up to the round trip.
 * Also printed: the split for the packet's first sample (the burst's place in its packet moved to
 * the send side, the whole frame counted as sending, as ITU-T G.114 budgets count packetisation).
 * Accuracy: the bus renders in blocks of at most the recorder's 2 ms fragment, and the envelope is
 * a few tenths of a ms above the render (printed: chunk delay above the envelope, and how far the
 * windowed offset moved over the run): ±2 ms per direction. The same is done with baresip's
 * `alsa` module in the desk's place (the anchor). The reflector answers at once, so the desk's
 * packets reach the desk again just after its own clock's tick: the desk's receive is measured at
 * its least favourable phase (a packet waits a whole tick before the jitter buffer is read).
 *
 * Both baresips run with short buffers (jitter_buffer_delay 1-3 frames, audio_buffer 20-40 ms;
 * CUFFIA_BENCH_FAR_JITTER / CUFFIA_BENCH_FAR_AUDIO_BUFFER): with baresip's defaults (5-10,
 * 20-160) the far end alone held 0 to 150 ms more from one call to the next, which drowned the
 * desk's share; the anchor is therefore baresip tuned for low delay. CUFFIA_BENCH_AUDIO_LATENCY
 * picks the desk's `audio.latency` profile (default `low`, the config's default).
 *
 * Why one recording rather than two streams (pacat into one sink, parec from another) with the
 * latencies PulseAudio reports subtracted: each stream's start and latency would be known to a
 * few ms only; the single 4-channel recording needs no correction at all.
 */
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { getPriority, setPriority } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { inject } from "vitest";
import { deviceLatency, type LatencyProfile } from "../../src/audio/latency.js";
import type { SipAction } from "../../src/core/types.js";
import type { Logger } from "../../src/log/logger.js";
import type { SipAgent } from "../../src/sip/sip-agent.js";
import "../lab/context.js";
import { type Baresip, startBaresip } from "../lab/baresip.js";
import { labKamailio } from "../lab/kamailio.js";
import { baresipPort, freePorts } from "../lab/ports.js";
import { type Spawned, spawnLogged, stopProcess, waitUntil } from "../lab/proc.js";
import { SYSTEM_ALSA_CONF, startDeskOnCard, startVirtualCard, type VirtualCard } from "../lab/sound-card.js";
import { connectWsSipPeer, type WsCall } from "../lab/ws-sip-peer.js";

const RATE = 48_000;
const BURST_EVERY_S = 0.5;
const BURST_MS = 20;
const THRESHOLD = 4000; // a burst is 16000 peak; G.711 and resampling keep it well above this
const SEARCH_MS = 450;
const FAR_JITTER = process.env.CUFFIA_BENCH_FAR_JITTER ?? "1-3";
const FAR_AUDIO_BUFFER = process.env.CUFFIA_BENCH_FAR_AUDIO_BUFFER ?? "20-40";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** CUFFIA_BENCH_LOAD=N: N busy loops at nice 0 beside the whole run, a Pi busy elsewhere. */
const LOAD = Number(process.env.CUFFIA_BENCH_LOAD ?? 0);
/**
 * CUFFIA_BENCH_DESK_NICE=n: the phone's processes at nice n, as the systemd unit's `Nice=` puts
 * the daemon: this process's event loop (the desk runs in it), and what it starts after the load
 * (both baresips, the reflector, the injector and the recorder inherit it), so Cuffia and
 * baresip at the desk get the same. The load's busy loops stay at 0.
 */
const DESK_NICE = process.env.CUFFIA_BENCH_DESK_NICE;
/** CUFFIA_BENCH_AUDIO_ANCHOR=0: skip baresip's two calls (experiments only: a reported run has them). */
const ANCHOR = process.env.CUFFIA_BENCH_AUDIO_ANCHOR !== "0";

export interface Direction {
  readonly delaysMs: number[];
  readonly sent: number;
  readonly p50: number;
  readonly p95: number;
  readonly max: number;
}
export interface CallFigures {
  readonly desk: string;
  /** The far end: baresip's alsa module on the same card (default), or the RTP reflector. */
  readonly far?: "reflector";
  /** Far end baresip: mouth to ear. Reflector: the desk's send, mouth (aux0) → wire. */
  readonly toCaller: Direction;
  /** Far end baresip: mouth to ear. Reflector: the desk's receive, wire → ear (aux3). */
  readonly toOperator: Direction;
  /** Reflector only: aux0 → aux3 in the recording (send + receive, no clock needed). */
  readonly roundTrip?: Direction;
  /**
   * Reflector only: the same split for the first sample of the packet that carries the burst
   * (the whole 20 ms frame counted as sending, as ITU-T G.114 budgets count packetisation):
   * send + place, receive − place, where place is the burst's offset in its packet.
   */
  readonly firstSample?: { readonly send: Direction; readonly receive: Direction };
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
  return figures(delaysMs, injected.length);
}

function figures(delaysMs: number[], sent: number): Direction {
  return {
    delaysMs,
    sent,
    p50: pct(delaysMs, 0.5),
    p95: pct(delaysMs, 0.95),
    max: Math.max(...delaysMs),
  };
}

/**
 * 4 channels, bursts on aux0 (from 1 s) and aux2 (250 ms later), every 500 ms plus a shift of
 * (7 n mod 20) ms for the n-th: 500 ms is 25 packets, so without it every burst of a call would
 * start at the same place in its RTP packet, and the split at the wire (packetisation on the send
 * side, the burst's place in the packet on the receive side) would hang on the call's luck.
 */
function injection(seconds: number): Buffer {
  const frames = Math.round((seconds + 1.5) * RATE);
  const pcm = new Int16Array(frames * 4);
  const burst = Math.round((BURST_MS * RATE) / 1000);
  let n = 0;
  for (let t = 1; t < seconds + 1; t += BURST_EVERY_S, n++) {
    const shift = ((7 * n) % 20) / 1000;
    for (const [ch, offset] of [
      [0, 0],
      [2, BURST_EVERY_S / 2],
    ] as const) {
      const start = Math.round((t + offset + shift) * RATE);
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
  const rec = spawnLogged(
    "parec",
    [...busArgs(r), "--device=bus.monitor", "--latency-msec=10", file],
    join(r.card.dir, "parec.log"),
  );
  try {
    await injectDuring(r, seconds, setup, during);
  } finally {
    await stopProcess(rec, 2000);
  }
  const ch = await busChannels(file);
  return { toCaller: direction(ch(0), ch(1)), toOperator: direction(ch(2), ch(3)) };
}

/** parec's and pacat's arguments for the rig's bus: raw s16le at RATE, its 4 channels aux0..aux3. */
function busArgs(r: Rig): string[] {
  return [
    ...["--server", r.card.server, "--raw", "--format=s16le", `--rate=${RATE}`, "--channels=4"],
    "--channel-map=aux0,aux1,aux2,aux3",
  ];
}

/**
 * Runs `setup()`, then 1 s later plays the bursts (injection(seconds)) into the bus with pacat
 * until they end and `during()` returns; pacat is stopped whatever failed.
 */
async function injectDuring(
  r: Rig,
  seconds: number,
  setup: () => Promise<void>,
  during: () => Promise<void>,
): Promise<void> {
  const injFile = join(r.card.dir, "inject.raw");
  await writeFile(injFile, injection(seconds));
  let inj: Spawned | null = null;
  try {
    await setup();
    await sleep(1000);
    inj = spawnLogged(
      "pacat",
      [...busArgs(r), "--playback", "--device=bus", "--latency-msec=10", injFile],
      join(r.card.dir, "pacat.log"),
    );
    await Promise.all([inj.exited, during()]);
  } finally {
    if (inj) await stopProcess(inj, 1000);
  }
}

/** The recording of the bus (`file`, 4 interleaved channels): `ch(c)` is channel c's samples. */
async function busChannels(file: string): Promise<(c: number) => Int16Array> {
  const raw = await readFile(file);
  const all = new Int16Array(raw.buffer, raw.byteOffset, Math.floor(raw.length / 8) * 4);
  return (c) => all.filter((_, i) => i % 4 === c);
}

const REFLECTOR = fileURLToPath(new URL("./rtp-reflector.mjs", import.meta.url));
/** The recorder's fragment in the reflected calls: the bus renders in blocks no longer than it. */
const ALIGN_LATENCY_MS = Number(process.env.CUFFIA_BENCH_ALIGN_LATENCY_MS ?? 2);
/** Half-width of the window in which the recording's clock offset is taken (drift-proof). */
const ALIGN_WINDOW_S = 1;

/** What the reflector wrote: packets [arrival ns, RTP ts, first loud sample or -1, PT], recorder chunks [arrival ns, bytes so far]. */
interface ReflectorLog {
  readonly packets: [number, number, number, number][];
  readonly chunks: [number, number][];
  readonly reflected: number;
}

/** An SDP offer that sends the far side's RTP to the reflector (PCMU, 20 ms). */
function reflectorSdp(port: number): string {
  return [
    "v=0",
    "o=- 1 1 IN IP4 127.0.0.1",
    "s=reflector",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    `m=audio ${port} RTP/AVP 0`,
    "a=rtpmap:0 PCMU/8000",
    "a=ptime:20",
    "a=sendrecv",
    "",
  ].join("\r\n");
}

/**
 * A call with the reflector as the far end (see rtp-reflector.mjs): the reflector records the
 * bus and timestamps both the recording and the RTP on one clock. `setup(sdp)` establishes the
 * call with that SDP as the offer, `during()` ends it.
 */
async function measureReflected(
  r: Rig,
  seconds: number,
  name: string,
  setup: (sdp: string) => Promise<void>,
  during: () => Promise<void>,
): Promise<Pick<CallFigures, "toCaller" | "toOperator" | "roundTrip" | "firstSample"> & { align: string[] }> {
  const port = await freePorts(2);
  const file = join(r.card.dir, `${name}.raw`);
  const out = join(r.card.dir, `${name}.json`);
  const logFile = join(r.card.dir, `${name}-reflector.log`);
  const cfg = {
    port,
    parec: [...busArgs(r), "--device=bus.monitor", `--latency-msec=${ALIGN_LATENCY_MS}`],
    record: file,
    out,
    threshold: THRESHOLD,
  };
  const refl = spawnLogged(process.execPath, [REFLECTOR, JSON.stringify(cfg)], logFile, { stdin: "pipe" });
  try {
    await waitUntil(
      "the reflector to be ready",
      async () => {
        if (refl.child.exitCode !== null)
          throw new Error(`the reflector exited: ${await readFile(logFile, "utf8")}`);
        return (await readFile(logFile, "utf8")).includes("ready");
      },
      10_000,
      20,
    );
    await injectDuring(r, seconds, () => setup(reflectorSdp(port)), during);
  } finally {
    refl.child.stdin?.end("stop\n");
    await Promise.race([refl.exited, sleep(5000)]);
    await stopProcess(refl, 1000);
  }
  // CUFFIA_BENCH_AUDIO_KEEP=<dir>: keep the recording and the reflector's log for a closer look.
  const keep = process.env.CUFFIA_BENCH_AUDIO_KEEP;
  if (keep) for (const f of [file, out]) await copyFile(f, join(keep, basename(f)));
  const log = JSON.parse(await readFile(out, "utf8")) as ReflectorLog;
  const ch = await busChannels(file);
  return { ...splitAtTheWire(ch(0), ch(3), log), align: alignNotes(log) };
}

/**
 * The recording's clock: sample i was rendered by PulseAudio no later than wall(i) =
 * T + i / RATE, T the lowest (arrival − samples so far / RATE) of the recorder's chunks within
 * ±ALIGN_WINDOW_S (a window, so that a bus that slips against the clock under load cannot skew
 * the whole run). Each chunk arrives after its samples are rendered; the fastest ones arrive a
 * pipe's wake-up after the render, so T is the render clock plus that wake-up.
 */
function recordingClock(log: ReflectorLog): (sample: number) => number {
  // Chunks come in recording order (n ascending): the window is a range of them, found by
  // binary search, and its lowest offset read from a sparse table (a 10-minute call has 335,000
  // chunks: scanning them all for every query took the analysis 10 minutes).
  const n = log.chunks.map(([, bytes]) => bytes / 8);
  const levels: Float64Array[] = [
    Float64Array.from(log.chunks, ([t, bytes]) => t - ((bytes / 8) * 1e9) / RATE),
  ];
  for (let k = 1; 1 << k <= n.length; k++) {
    const prev = levels[k - 1] as Float64Array;
    const half = 1 << (k - 1);
    const next = new Float64Array(n.length - (1 << k) + 1);
    for (let i = 0; i < next.length; i++) next[i] = Math.min(prev[i] as number, prev[i + half] as number);
    levels.push(next);
  }
  /** Index of the first chunk whose n is ≥ x. */
  const lowerBound = (x: number): number => {
    let lo = 0;
    let hi = n.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((n[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const w = ALIGN_WINDOW_S * RATE;
  return (i: number) => {
    const a = lowerBound(i - w);
    const b = lowerBound(i + w + 1e-9); // exclusive: chunks with n ≤ i + w
    let best = Number.POSITIVE_INFINITY;
    if (b > a) {
      const k = 31 - Math.clz32(b - a);
      const level = levels[k] as Float64Array;
      best = Math.min(level[a] as number, level[b - (1 << k)] as number);
    }
    return best + (i * 1e9) / RATE;
  };
}

/** How well the clock is known: drift of the windowed offset over the run, typical chunk delay above the envelope. */
function alignNotes(log: ReflectorLog): string[] {
  const clock = recordingClock(log);
  const over: number[] = [];
  const lows: number[] = [];
  const frames: number[] = [];
  let prev = 0;
  for (const [t, bytes] of log.chunks) {
    const n = bytes / 8;
    over.push((t - clock(n)) / 1e6);
    frames.push(n - prev);
    prev = n;
  }
  const last = log.chunks[log.chunks.length - 1]?.[1] ?? 0;
  for (let n = 0; n < last / 8; n += RATE * 2) lows.push((clock(n) - (n * 1e9) / RATE) / 1e6);
  const f = (x: number) => x.toFixed(2);
  return [
    `recording clock: ${log.chunks.length} chunks of ${pct(frames, 0.5)} frames (median); arrival above the envelope p50 ${f(pct(over, 0.5))} ms, p95 ${f(pct(over, 0.95))} ms; windowed offset moved ${f(Math.max(...lows) - Math.min(...lows))} ms over the run; ${log.reflected} packets reflected`,
  ];
}

/**
 * Per burst: its onset on aux0 (i0), the first RTP packet that carries it as it reaches the
 * reflector (tw, after at least 150 ms of quiet packets), its onset on aux3 (i3). Send =
 * tw − wall(i0), receive = wall(i3) − tw, round trip = (i3 − i0) / RATE (no clock). And the
 * split for the packet's first sample: the onset's place in the packet (k samples at 8 kHz)
 * moves from the receive side to the send side.
 */
export function splitAtTheWire(
  mouth: Int16Array,
  ear: Int16Array,
  log: ReflectorLog,
): Pick<CallFigures, "toCaller" | "toOperator" | "roundTrip" | "firstSample"> {
  const wall = recordingClock(log);
  const burstPackets: { t: number; placeMs: number }[] = [];
  let lastLoud = Number.NEGATIVE_INFINITY;
  for (const [t, , k] of log.packets) {
    if (k < 0) continue;
    if (t - lastLoud > 150e6) burstPackets.push({ t, placeMs: k / 8 });
    lastLoud = t;
  }
  const send: number[] = [];
  const receive: number[] = [];
  const round: number[] = [];
  const sendFirst: number[] = [];
  const receiveFirst: number[] = [];
  const injected = onsets(mouth);
  for (const i0 of injected) {
    const i3 = onsets(ear, i0, Math.min(ear.length, i0 + (SEARCH_MS * RATE) / 1000))[0];
    const w0 = wall(i0);
    const packet = burstPackets.find((p) => p.t > w0 - 20e6 && p.t < w0 + SEARCH_MS * 1e6);
    if (i3 === undefined || packet === undefined) continue;
    const tw = packet.t;
    round.push(((i3 - i0) * 1000) / RATE);
    send.push((tw - w0) / 1e6);
    receive.push((wall(i3) - tw) / 1e6);
    sendFirst.push((tw - w0) / 1e6 + packet.placeMs);
    receiveFirst.push((wall(i3) - tw) / 1e6 - packet.placeMs);
  }
  return {
    toCaller: figures(send, injected.length),
    toOperator: figures(receive, injected.length),
    roundTrip: figures(round, injected.length),
    firstSample: {
      send: figures(sendFirst, injected.length),
      receive: figures(receiveFirst, injected.length),
    },
  };
}

/** PulseAudio's own view of the streams: buffer and device latency per client. */
async function pulseStreams(card: VirtualCard): Promise<string[]> {
  const out: string[] = [];
  const bus = (await card.pactl("list", "sinks")).split(/\n(?=\S)/).find((b) => /Name: bus\n/.test(b));
  const configured = bus && /Latency: \d+ usec, configured (\d+) usec/.exec(bus)?.[1];
  if (configured)
    out.push(`bus: renders blocks of ${(Number(configured) / 1000).toFixed(1)} ms (configured latency)`);
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
        /parameters in force|ALSA|capture to send|jitter buffer/.test(b)
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
  const profile = (process.env.CUFFIA_BENCH_AUDIO_LATENCY ?? "low") as LatencyProfile;
  const lab = inject("lab");
  const kamailio = labKamailio(lab.kamailio);
  const r = await rig();
  const saved = process.env.ALSA_CONFIG_PATH;
  process.env.ALSA_CONFIG_PATH = r.env.ALSA_CONFIG_PATH;
  let far: Baresip | null = null;
  let deskB: Baresip | null = null;
  let agent: SipAgent | null = null;
  let peer: Awaited<ReturnType<typeof connectWsSipPeer>> | null = null;
  const results: CallFigures[] = [];
  const burners: Spawned[] = [];
  const niceBefore = getPriority();
  try {
    for (let i = 0; i < LOAD; i++)
      burners.push(spawnLogged("/bin/sh", ["-c", "while :; do :; done"], join(r.card.dir, `load-${i}.log`)));
    if (DESK_NICE !== undefined) setPriority(Number(DESK_NICE));
    if (LOAD > 0 || DESK_NICE !== undefined)
      write(`\nload: ${LOAD} busy loop(s) at nice 0; the phone's processes at nice ${getPriority()}\n`);
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
    // 2. Cuffia at the desk, the reflector as the far end: the desk's own delay per direction.
    peer = await connectWsSipPeer(kamailio, "2003");
    const rnotes: string[] = [];
    const logged = notes.length;
    let rcallId = "";
    let rended: unknown = null;
    let wsCall: WsCall | null = null;
    const creflected = await measureReflected(
      r,
      seconds,
      "cuffia-reflected",
      async (sdp) => {
        const mark = inputs.mark;
        const placing = peer?.invite("sip:1018@127.0.0.1", sdp, 15_000);
        const offer = await inputs.waitFor("call_offered", () => true, 10_000, mark);
        rcallId = offer.callId;
        await agent?.execute({ type: "sip", action: "answer", callId: rcallId } as {
          type: "sip";
        } & SipAction);
        wsCall = (await placing) ?? null;
        if (wsCall?.status !== 200)
          throw new Error(`the desk did not answer the reflector's call: ${wsCall?.status}`);
        wsCall.ack();
        await inputs.waitFor("call_answered", (i) => i.callId === rcallId);
      },
      async () => {
        await sleep((seconds * 1000) / 2);
        rnotes.push(...(await pulseStreams(r.card)));
        await sleep((seconds * 1000) / 2 + 1500);
        await (wsCall as WsCall | null)?.bye();
        const e = await inputs.waitFor("call_ended", (i) => i.callId === rcallId);
        rended = e.stats;
      },
    );
    const rs = rended as { audioUnderruns?: number; audioOverruns?: number } | null;
    // The desk's log lines of this call (collected into `notes`) belong to it.
    rnotes.push(...notes.splice(logged), ...creflected.align);
    rnotes.push(`call.ended: audio_underruns ${rs?.audioUnderruns}, audio_overruns ${rs?.audioOverruns}`);
    results.push({
      desk: `Cuffia (audio.latency: ${profile})`,
      far: "reflector",
      ...creflected,
      notes: rnotes,
    });
    write(report(results.slice(1), seconds));
    await desk.agent.stop();
    agent = null;
    if (!ANCHOR) return results;
    // 3. baresip at the desk, same card, same far end.
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
    const bareDesk = `baresip 1.0 alsa module (jitter_buffer_delay ${FAR_JITTER}, audio_buffer ${FAR_AUDIO_BUFFER})`;
    results.push({ desk: bareDesk, ...bare, notes: bnotes });
    write(report(results.slice(2), seconds));
    // 4. baresip at the desk, the reflector as the far end.
    const brnotes: string[] = [];
    let bCall: WsCall | null = null;
    const breflected = await measureReflected(
      r,
      seconds,
      "baresip-reflected",
      async (sdp) => {
        bCall = (await peer?.invite("sip:2001@127.0.0.1", sdp, 15_000)) ?? null;
        if (bCall?.status !== 200)
          throw new Error(`baresip did not answer the reflector's call: ${bCall?.status}`);
        bCall.ack();
      },
      async () => {
        await sleep((seconds * 1000) / 2);
        brnotes.push(...(await pulseStreams(r.card)));
        await sleep((seconds * 1000) / 2 + 1500);
        await (bCall as WsCall | null)?.bye();
      },
    );
    brnotes.push(...breflected.align);
    results.push({ desk: bareDesk, far: "reflector", ...breflected, notes: brnotes });
  } finally {
    peer?.close();
    await agent?.stop();
    await deskB?.stop();
    await far?.stop();
    for (const b of burners) await stopProcess(b, 1000, ["SIGKILL"]);
    setPriority(niceBefore);
    if (saved === undefined) delete process.env.ALSA_CONFIG_PATH;
    else process.env.ALSA_CONFIG_PATH = saved;
    await r.card.stop();
  }
  write(report(results.slice(3), seconds, results));
  return results;
}

/** `results` printed; the desks' own delays (reflector calls) from `all` when the run is complete. */
function report(results: CallFigures[], seconds: number, all: CallFigures[] = results): string {
  const f = (n: number) => `${n.toFixed(1)} ms`;
  const lines = [
    `\nmouth-to-ear on the lab's virtual card (PulseAudio null sinks via the ALSA pulse plugin), PCMU 20 ms, ${seconds} s per call, bursts every ${BURST_EVERY_S * 1000} ms`,
  ];
  for (const r of results) {
    const reflected = r.far === "reflector";
    lines.push(
      reflected
        ? `\ndesk: ${r.desk}, far end: the RTP reflector (no buffering; times the wire and the recording on one clock)`
        : `\ndesk: ${r.desk}, far end: baresip 1.0 alsa module, jitter_buffer_delay ${FAR_JITTER}, audio_buffer ${FAR_AUDIO_BUFFER}`,
    );
    const rows: [string, Direction | undefined][] = reflected
      ? [
          ["round trip, mouth → ear (aux0 → aux3)", r.roundTrip],
          ["desk sends, mouth → wire", r.toCaller],
          ["desk receives, wire → ear", r.toOperator],
          ["packet's first sample (whole frame counted as sending): desk sends", r.firstSample?.send],
          ["packet's first sample: desk receives", r.firstSample?.receive],
        ]
      : [
          ["operator → caller", r.toCaller],
          ["caller → operator", r.toOperator],
        ];
    for (const [label, d] of rows) {
      if (!d) continue;
      lines.push(
        `  ${label}: p50 ${f(d.p50)}  p95 ${f(d.p95)}  max ${f(d.max)}  (${d.delaysMs.length}/${d.sent} bursts)`,
      );
      if (process.env.CUFFIA_BENCH_AUDIO_TRACE)
        lines.push(`    ${d.delaysMs.map((x) => x.toFixed(0)).join(" ")}`);
    }
    for (const n of r.notes) lines.push(`  ${n}`);
  }
  const own = all.filter((r) => r.far === "reflector");
  if (own.length === 2) {
    lines.push(
      "\nwhat each desk adds, one way, measured at the wire (reflector calls; target ≤ 60 ms at p95):",
    );
    for (const r of own) {
      const met = r.toCaller.p95 <= 60 && r.toOperator.p95 <= 60;
      lines.push(
        `  ${r.desk}: sends p50 ${f(r.toCaller.p50)} p95 ${f(r.toCaller.p95)}, receives p50 ${f(r.toOperator.p50)} p95 ${f(r.toOperator.p95)}${r.desk.startsWith("Cuffia") ? ` — ${met ? "met" : "NOT met"}` : ""}`,
      );
      const fs = r.firstSample;
      if (fs)
        lines.push(
          `    packet's first sample: sends p50 ${f(fs.send.p50)} p95 ${f(fs.send.p95)}, receives p50 ${f(fs.receive.p50)} p95 ${f(fs.receive.p95)}`,
        );
    }
  }
  return `${lines.join("\n")}\n`;
}
