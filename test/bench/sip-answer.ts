/**
 * SIP benchmark of the real daemon against baresip as the anchor, same lab, one run
 * (sip-lab.md's method: tshark on loopback is the clock):
 *
 * - answer latency, auto-answer, N sequential calls from SIPp (user 3001) through Kamailio:
 *   the callee's leg (INVITE in → 200 OK out, on the daemon's WebSocket or baresip's UDP port)
 *   and the caller's view (SIPp's authenticated INVITE out → its 200 OK in);
 * - RSS idle (registered, no call) and in a call, from /proc/PID/status;
 * - CPU per call-minute, from /proc/PID/stat, over one two-way G.711 call between the daemon and
 *   baresip (both send a tone, both receive), so both are measured in the same call, same window;
 * - outbound RTP send-gap sd and p99 of both, from the capture of that call.
 *
 * The daemon is `node dist/cli.js run -c CFG` (dist/, so `npm run build` first) registered as
 * 1017 over ws:// (SIP_BENCH_TRANSPORT=tcp for tcp://); baresip is 2001 with `answermode=auto`.
 * SIP_BENCH_CALLS (default 30) and SIP_BENCH_CALL_SECONDS (default 90) shorten the run;
 * SIP_BENCH_KEEP=1 keeps the captures and logs; SIP_BENCH_NODE_FLAGS adds node flags to the daemon
 * (experiments: `--import HOOK`, `--max-semi-space-size=...`). When the median answer latency is above 2× baresip's,
 * a CPU profile of the daemon over SIP_BENCH_PROFILE_CALLS (60) calls follows (SIP_BENCH_PROFILE=0
 * never, =1 always).
 * Benchmarks print figures; they do not judge.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeTone } from "../lab/audio.js";
import { type Baresip, startBaresip } from "../lab/baresip.js";
import { type Kamailio, startKamailio } from "../lab/kamailio.js";
import { baresipPort, freePort, freePorts } from "../lab/ports.js";
import { pause, type Spawned, spawnLogged, stopProcess, waitUntil } from "../lab/proc.js";
import { formatSummary, readProfile, summarise } from "./sip-profile.js";
import { readFields, type SipPacket, sipPackets, startCapture } from "./sip-tshark.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "..", "..");
/** The daemon's build: this tree's dist/, or CUFFIA_BENCH_BIN (another build's cli.js, for an A/B). */
const BIN = process.env.CUFFIA_BENCH_BIN ?? join(ROOT, "dist", "cli.js");
/** Extra node flags for the daemon (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`), space-separated. */
const EXTRA_NODE_FLAGS = (process.env.CUFFIA_BENCH_NODE_FLAGS ?? "").split(/\s+/).filter(Boolean);
/** The node flags of dist/cli.js's shebang: the daemon runs as /usr/bin/cuffia runs it. */
const SHEBANG_FLAGS = (
  /^#!\/usr\/bin\/env -S node(.*)$/m.exec(readFileSync(BIN, "utf8").split("\n")[0] ?? "")?.[1] ?? ""
)
  .trim()
  .split(/\s+/)
  .filter(Boolean);
/** The node flags the daemon runs with (its shebang's), for processes measured beside it. */
export function shebangFlags(): readonly string[] {
  return SHEBANG_FLAGS;
}
const CUFFIA_USER = "1017";
const BARESIP_USER = "2001";
const CALLER = "3001";

export interface BenchOptions {
  /** The lab Kamailio; a private one is started (and stopped) when absent. */
  readonly kamailio?: Kamailio;
  readonly calls?: number;
  readonly callSeconds?: number;
  readonly transport?: "ws" | "tcp";
  /** Extra node flags for the daemon (e.g. --cpu-prof). */
  readonly nodeFlags?: readonly string[];
  /** Keep the captures, configs and logs (SIP_BENCH_KEEP=1). */
  readonly keep?: boolean;
}

export interface Latency {
  /** Per call, ms, in call order. */
  readonly callee: readonly number[];
  readonly caller: readonly number[];
  readonly failed: number;
}

export interface SideFigures {
  readonly latency: Latency;
  readonly rssIdleMb: number;
  /** Idle again after the latency calls (what a desk between calls holds). */
  readonly rssIdleAfterMb: number;
  readonly rssCallMb: number;
  readonly cpuMsPerCallMinute: number;
  readonly gapSdMs: number;
  readonly gapP99Ms: number;
  readonly packets: number;
}

export interface Figures {
  readonly transport: string;
  readonly calls: number;
  readonly callSeconds: number;
  readonly cuffia: SideFigures;
  readonly baresip: SideFigures;
}

// ── /proc ─────────────────────────────────────────────────────────────────────────────────────

const TICK_MS = 10; // USER_HZ is 100 on Linux (getconf CLK_TCK)

/** utime + stime of a process (all its threads), ms. */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name (which may contain spaces).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/**
 * Context switches of all the process's threads (voluntary + involuntary): each is a wake-up or a
 * preemption, the count that this VM's CPU follows more than the JavaScript run.
 */
export async function contextSwitches(pid: number): Promise<number> {
  let total = 0;
  for (const task of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const status = await readFile(`/proc/${pid}/task/${task}/status`, "utf8").catch(() => "");
    for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)/gm)) total += Number(m[1]);
  }
  return total;
}

export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

// ── statistics ────────────────────────────────────────────────────────────────────────────────

export function quantile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const at = (sorted.length - 1) * p;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (sorted[lo] ?? 0) + ((sorted[hi] ?? 0) - (sorted[lo] ?? 0)) * (at - lo);
}

export function gapStats(times: readonly number[]): { sd: number; p99: number; mean: number } {
  const gaps: number[] = [];
  for (let i = 1; i < times.length; i++) gaps.push((times[i] ?? 0) - (times[i - 1] ?? 0));
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  const sd = Math.sqrt(gaps.reduce((a, b) => a + (b - mean) ** 2, 0) / gaps.length);
  return { sd, p99: quantile(gaps, 0.99), mean };
}

/**
 * Answer latency per call from the SIP messages of a capture: on the callee's leg the first
 * INVITE toward it and its first 200 OK (sip.js retransmits 2xx until the ACK); on the caller's
 * leg SIPp's INVITE of the 200's CSeq (the one with credentials) and that 200.
 */
export function latencies(
  packets: readonly SipPacket[],
  isToCallee: (p: SipPacket) => boolean,
  isFromCallee: (p: SipPacket) => boolean,
  sippPort: number,
): Latency {
  const byCall = new Map<string, SipPacket[]>();
  for (const p of packets) {
    const list = byCall.get(p.callId) ?? [];
    list.push(p);
    byCall.set(p.callId, list);
  }
  const callee: number[] = [];
  const caller: number[] = [];
  let failed = 0;
  const calls = [...byCall.values()].sort((a, b) => (a[0]?.time ?? 0) - (b[0]?.time ?? 0));
  for (const list of calls) {
    if (!list.some((p) => p.method === "INVITE")) continue; // not a call (REGISTER, OPTIONS)
    const inv = list.find((p) => p.method === "INVITE" && isToCallee(p));
    const ok = list.find((p) => p.status === 200 && p.cseqMethod === "INVITE" && isFromCallee(p));
    const okCaller = list.find(
      (p) => p.status === 200 && p.cseqMethod === "INVITE" && p.dstPort === sippPort,
    );
    const invCaller = okCaller
      ? list.find((p) => p.method === "INVITE" && p.srcPort === sippPort && p.cseq === okCaller.cseq)
      : undefined;
    if (!inv || !ok || !okCaller || !invCaller) {
      failed++;
      continue;
    }
    callee.push(ok.time - inv.time);
    caller.push(okCaller.time - invCaller.time);
  }
  return { callee, caller, failed };
}

// ── the two far ends ──────────────────────────────────────────────────────────────────────────

interface Daemon {
  readonly pid: number;
  readonly rtpMin: number;
  readonly rtpMax: number;
  readonly sigPort: number;
  stop(): Promise<void>;
}

async function startDaemon(
  kam: Kamailio,
  dir: string,
  tone: string,
  transport: "ws" | "tcp",
  nodeFlags: readonly string[],
): Promise<Daemon> {
  const rtpMin = (await freePorts(34)) + 1; // even..odd pairs inside a free block
  const first = rtpMin % 2 === 0 ? rtpMin : rtpMin + 1;
  const rtpMax = first + 31;
  const sigPort = transport === "ws" ? kam.wsPort : kam.tcpPort;
  const server = transport === "ws" ? `ws://127.0.0.1:${sigPort}` : `tcp://127.0.0.1:${sigPort}`;
  await writeFile(join(dir, "sip.password"), kam.users[CUFFIA_USER] ?? "");
  const config = `agent:
  id: bench-desk
  name: Bench
sip:
  server: ${server}
  aor: sip:${CUFFIA_USER}@${kam.domain}
  password_file: sip.password
  auto_answer: true
  register_expires: 600
rtp:
  address: 127.0.0.1
  port_min: ${first}
  port_max: ${rtpMax}
  codecs: [pcmu, pcma]
audio:
  source: { type: file, path: ${tone}, loop: true }
  sink: { type: none }
control:
  socket: ${join(dir, "control.sock")}
policy:
  wrap_up_seconds: 1
log:
  level: warn
state_dir: ${join(dir, "state")}
`;
  const cfg = join(dir, "cuffia.yaml");
  await writeFile(cfg, config);
  const proc = await runRegisteredDaemon(kam, dir, cfg, nodeFlags);
  return { pid: proc.pid, rtpMin: first, rtpMax, sigPort, stop: () => stopProcess(proc, 8000) };
}

/** SIPp calling `target` `calls` times, one call at a time. */
async function runCalls(
  kam: Kamailio,
  dir: string,
  target: string,
  calls: number,
  sippPort: number,
): Promise<void> {
  const template = await readFile(join(HERE, "sip-uac.xml"), "utf8");
  const scenario = join(dir, `uac-${target}.xml`);
  await writeFile(scenario, template.split("{{HOLD_MS}}").join("200").split("{{GAP_MS}}").join("250"));
  const mediaPort = await freePorts(4);
  const args = [
    `127.0.0.1:${kam.udpPort}`,
    ...["-sf", scenario, "-s", target, "-key", "user", CALLER, "-au", CALLER, "-ap", kam.users[CALLER] ?? ""],
    ...["-m", String(calls), "-l", "1", "-r", "20", "-timeout", `${calls * 3 + 20}s`, "-timeout_error"],
    ...[
      "-trace_err",
      "-i",
      "127.0.0.1",
      "-p",
      String(sippPort),
      "-mi",
      "127.0.0.1",
      "-mp",
      String(mediaPort),
    ],
    "-nostdin",
  ];
  const proc = spawnLogged("sipp", args, join(dir, `sipp-${target}.log`), { cwd: dir });
  const code = await proc.exited;
  if (code !== 0) {
    const log = await readFile(join(dir, `sipp-${target}.log`), "utf8").catch(() => "");
    throw new Error(`sipp calling ${target} exited ${code}\n${log.slice(-1500)}`);
  }
}

/** One latency burst with the capture around it. */
async function measureLatency(
  kam: Kamailio,
  dir: string,
  name: string,
  target: string,
  calls: number,
  callee: { tcpPort?: number; udpPort?: number; transport: "ws" | "tcp" | "udp" },
): Promise<Latency> {
  const sippPort = await freePort();
  const legFilter =
    callee.tcpPort !== undefined ? `tcp port ${callee.tcpPort}` : `udp port ${callee.udpPort}`;
  const file = join(dir, `${name}-sip.pcapng`);
  const capture = await startCapture(file, `(${legFilter}) or udp port ${sippPort}`);
  try {
    await runCalls(kam, dir, target, calls, sippPort);
    await pause(300);
  } finally {
    await capture.stop();
  }
  const packets = await sipPackets(file, {
    ...(callee.transport === "ws" ? { wsPorts: [callee.tcpPort ?? 0] } : {}),
    sipPorts: [kam.udpPort, sippPort, ...(callee.udpPort ? [callee.udpPort] : [])],
  });
  const port = callee.tcpPort ?? callee.udpPort ?? 0;
  // On TCP the proxy's port is the known end; on UDP the callee's own port is.
  const toCallee =
    callee.tcpPort !== undefined
      ? (p: SipPacket) => p.srcPort === port
      : (p: SipPacket) => p.dstPort === port;
  const fromCallee =
    callee.tcpPort !== undefined
      ? (p: SipPacket) => p.dstPort === port
      : (p: SipPacket) => p.srcPort === port;
  return latencies(packets, toCallee, fromCallee, sippPort);
}

// ── the run ───────────────────────────────────────────────────────────────────────────────────

export async function measure(opts: BenchOptions = {}): Promise<Figures> {
  const calls = opts.calls ?? 30;
  const callSeconds = opts.callSeconds ?? 90;
  const transport = opts.transport ?? "ws";
  const dir = await mkdtemp(join(tmpdir(), "cuffia-sip-bench-"));
  const kam = opts.kamailio ?? (await startKamailio({ dir: join(dir, "kamailio") }));
  const tone = await makeTone(join(dir, "cuffia-tone.wav"), { freq: 1000, seconds: 5 });
  // aufile loads the whole file at answer time and hangs up at its end: a short file for the
  // latency calls, one longer than the measured call for the CPU call.
  const shortTone = await makeTone(join(dir, "baresip-short.wav"), { freq: 600, seconds: 10 });
  const longTone = await makeTone(join(dir, "baresip-long.wav"), { freq: 600, seconds: callSeconds + 30 });
  let daemon: Daemon | null = null;
  let far: Baresip | null = null;
  try {
    daemon = await startDaemon(kam, dir, tone, transport, opts.nodeFlags ?? []);
    const bPort = await baresipPort();
    far = await startBaresip({
      kamailio: kam,
      user: BARESIP_USER,
      port: bPort,
      autoAnswer: true,
      audioFile: shortTone,
      dir: join(dir, "baresip-a"),
    });
    await pause(3000); // both settled after start and registration
    const rssIdle = { cuffia: await rssMb(daemon.pid), baresip: await rssMb(far.pid) };

    const d = daemon;
    const latCuffia = await measureLatency(kam, dir, "cuffia", CUFFIA_USER, calls, {
      tcpPort: d.sigPort,
      transport,
    });
    const latBaresip = await measureLatency(kam, dir, "baresip", BARESIP_USER, calls, {
      udpPort: bPort,
      transport: "udp",
    });
    await pause(1500);
    const rssAfter = { cuffia: await rssMb(daemon.pid), baresip: await rssMb(far.pid) };
    await far.stop();

    // The two-way call: baresip (long tone) calls the daemon (looped tone), both measured.
    far = await startBaresip({
      kamailio: kam,
      user: BARESIP_USER,
      port: await baresipPort(),
      autoAnswer: true,
      audioFile: longTone,
      dir: join(dir, "baresip-b"),
    });
    const b = far;
    await pause(1500); // the daemon's wrap-up of the last latency call is over
    await b.dial(`sip:${CUFFIA_USER}@${kam.domain}`);
    await b.waitFor("CALL_ESTABLISHED", 10_000);
    const rtpFile = join(dir, "rtp.pcapng");
    const capture = await startCapture(rtpFile, `udp portrange ${d.rtpMin}-${d.rtpMax}`);
    await pause(1000);
    const cpu0 = { cuffia: await cpuMs(d.pid), baresip: await cpuMs(b.pid), t: performance.now() };
    await pause(callSeconds * 1000);
    const cpu1 = { cuffia: await cpuMs(d.pid), baresip: await cpuMs(b.pid), t: performance.now() };
    const rssCall = { cuffia: await rssMb(d.pid), baresip: await rssMb(b.pid) };
    await capture.stop();
    await b.hangup().catch(() => {});
    const minutes = (cpu1.t - cpu0.t) / 60_000;

    const rows = await readFields(rtpFile, ["frame.time_epoch", "udp.srcport", "udp.dstport"], {
      display: "rtp && rtp.p_type < 64",
      prefs: ["rtp.heuristic_rtp:TRUE"],
    });
    const inRange = (port: number) => port >= d.rtpMin && port <= d.rtpMax;
    const sent = { cuffia: [] as number[], baresip: [] as number[] };
    for (const [t, src, dst] of rows) {
      const time = Number(t) * 1000;
      if (inRange(Number(src))) sent.cuffia.push(time);
      else if (inRange(Number(dst))) sent.baresip.push(time);
    }
    const gaps = { cuffia: gapStats(sent.cuffia), baresip: gapStats(sent.baresip) };
    const side = (k: "cuffia" | "baresip", latency: Latency): SideFigures => ({
      latency,
      rssIdleMb: rssIdle[k],
      rssIdleAfterMb: rssAfter[k],
      rssCallMb: rssCall[k],
      cpuMsPerCallMinute: (cpu1[k] - cpu0[k]) / minutes,
      gapSdMs: gaps[k].sd,
      gapP99Ms: gaps[k].p99,
      packets: sent[k].length,
    });
    return {
      transport,
      calls,
      callSeconds: (cpu1.t - cpu0.t) / 1000,
      cuffia: side("cuffia", latCuffia),
      baresip: side("baresip", latBaresip),
    };
  } finally {
    await far?.stop().catch(() => {});
    await daemon?.stop().catch(() => {});
    if (!opts.kamailio) await kam.stop().catch(() => {});
    if (opts.keep) process.stderr.write(`sip bench: captures and logs kept in ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A CPU profile of the daemon answering `calls` calls (after a few warm-up calls), cut to the
 * burst: printed as CPU per call by package and top functions.
 */
export async function profileAnswer(
  opts: { kamailio?: Kamailio; calls?: number; keep?: boolean; nodeFlags?: readonly string[] } = {},
): Promise<string> {
  const calls = opts.calls ?? 60;
  const dir = await mkdtemp(join(tmpdir(), "cuffia-sip-profile-"));
  const kam = opts.kamailio ?? (await startKamailio({ dir: join(dir, "kamailio") }));
  const profDir = join(dir, "prof");
  let daemon: Daemon | null = null;
  try {
    const tone = await makeTone(join(dir, "cuffia-tone.wav"), { freq: 1000, seconds: 5 });
    daemon = await startDaemon(kam, dir, tone, "ws", [
      ...(opts.nodeFlags ?? []),
      "--cpu-prof",
      "--cpu-prof-dir",
      profDir,
      "--cpu-prof-interval",
      "100",
    ]);
    await pause(2000);
    await runCalls(kam, dir, CUFFIA_USER, 5, await freePort());
    const from = Number(process.hrtime.bigint() / 1000n);
    await runCalls(kam, dir, CUFFIA_USER, calls, await freePort());
    const to = Number(process.hrtime.bigint() / 1000n);
    await daemon.stop();
    daemon = null;
    return formatSummary(summarise(await readProfile(profDir), from, to), calls);
  } finally {
    await daemon?.stop().catch(() => {});
    if (!opts.kamailio) await kam.stop().catch(() => {});
    if (opts.keep) process.stderr.write(`sip bench: profile kept in ${profDir}\n`);
    else await rm(dir, { recursive: true, force: true });
  }
}

// ── the table ─────────────────────────────────────────────────────────────────────────────────

/** Warm calls only: the first two (JIT, first file open) are reported apart as "cold". */
const WARM_FROM = 2;

export function table(f: Figures): string {
  const n = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : "n/a");
  const ratio = (a: number, b: number) => (b > 0 ? `${n(a / b, 2)}×` : "n/a");
  const warm = (l: readonly number[]) => l.slice(WARM_FROM);
  const rows: Array<[string, number, number, string, string, number?]> = [];
  const c = f.cuffia;
  const b = f.baresip;
  const lat = (label: string, pick: (s: SideFigures) => readonly number[], target: string) => {
    for (const [q, name] of [
      [0.5, "median"],
      [0.9, "p90"],
    ] as const) {
      const x = quantile(warm(pick(c)), q);
      const y = quantile(warm(pick(b)), q);
      rows.push([`${label} ${name} (ms)`, x, y, ratio(x, y), q === 0.5 ? target : ""]);
    }
  };
  lat("answer, callee leg (INVITE in → 200 out)", (s) => s.latency.callee, "≤ 2×");
  lat("answer, caller view (SIPp INVITE → 200)", (s) => s.latency.caller, "");
  const cold = (s: SideFigures) => s.latency.callee[0] ?? Number.NaN;
  rows.push(["answer, callee leg, first call (cold, ms)", cold(c), cold(b), ratio(cold(c), cold(b)), ""]);
  const pct = (ms: number) => (ms / 60_000) * 100;
  rows.push([
    "CPU per call-minute (ms; % of one core)",
    c.cpuMsPerCallMinute,
    b.cpuMsPerCallMinute,
    ratio(c.cpuMsPerCallMinute, b.cpuMsPerCallMinute),
    "≤ 1.5×",
  ]);
  rows.push([
    "RSS idle, 3 s after start (MB)",
    c.rssIdleMb,
    b.rssIdleMb,
    ratio(c.rssIdleMb, b.rssIdleMb),
    "≤ 70 MB",
  ]);
  rows.push([
    "RSS idle, after the latency calls (MB)",
    c.rssIdleAfterMb,
    b.rssIdleAfterMb,
    ratio(c.rssIdleAfterMb, b.rssIdleAfterMb),
    "≤ 70 MB",
  ]);
  rows.push(["RSS in a call (MB)", c.rssCallMb, b.rssCallMb, ratio(c.rssCallMb, b.rssCallMb), ""]);
  rows.push(["outbound RTP gap sd (ms)", c.gapSdMs, b.gapSdMs, ratio(c.gapSdMs, b.gapSdMs), "≤ 0.5 ms"]);
  rows.push(["outbound RTP gap p99 (ms)", c.gapP99Ms, b.gapP99Ms, ratio(c.gapP99Ms, b.gapP99Ms), ""]);
  const lines = [
    `SIP benchmark: cuffia daemon (${f.transport}://, node ${process.version}) vs baresip, auto-answer, ` +
      `${f.calls} sequential calls each (median/p90 over calls ${WARM_FROM + 1}-${f.calls}), ` +
      `one ${n(f.callSeconds, 0)} s two-way G.711 call between them; tshark on lo`,
    `  calls measured: cuffia ${c.latency.callee.length} (${c.latency.failed} incomplete), ` +
      `baresip ${b.latency.callee.length} (${b.latency.failed} incomplete); ` +
      `RTP packets sent in the window: cuffia ${c.packets}, baresip ${b.packets}; ` +
      `CPU: cuffia ${n(pct(c.cpuMsPerCallMinute))} %, baresip ${n(pct(b.cpuMsPerCallMinute))} % of one core`,
    "",
    "| measure | cuffia | baresip | ratio | target |",
    "|---|---|---|---|---|",
    ...rows.map(
      ([m, x, y, r, t]) =>
        `| ${m} | ${n(x, m.startsWith("CPU") || m.startsWith("RSS") ? 1 : 2)} | ${n(y, m.startsWith("CPU") || m.startsWith("RSS") ? 1 : 2)} | ${r} | ${t} |`,
    ),
    "",
  ];
  return lines.join("\n");
}

export async function main(
  write: (s: string) => void = (s) => process.stdout.write(s),
  kamailio?: Kamailio,
): Promise<Figures> {
  const env = process.env;
  const transport = env.SIP_BENCH_TRANSPORT === "tcp" ? "tcp" : "ws";
  const nodeFlags = (env.SIP_BENCH_NODE_FLAGS ?? "").split(" ").filter((x) => x !== "");
  const f = await measure({
    ...(kamailio ? { kamailio } : {}),
    calls: Math.max(3, Number(env.SIP_BENCH_CALLS ?? 30)),
    callSeconds: Number(env.SIP_BENCH_CALL_SECONDS ?? 90),
    transport,
    keep: env.SIP_BENCH_KEEP === "1",
    nodeFlags,
  });
  write(table(f));
  // Profile when the latency target is missed (SIP_BENCH_PROFILE=1 always, =0 never).
  const ratio =
    quantile(f.cuffia.latency.callee.slice(WARM_FROM), 0.5) /
    quantile(f.baresip.latency.callee.slice(WARM_FROM), 0.5);
  if (env.SIP_BENCH_PROFILE === "1" || (env.SIP_BENCH_PROFILE !== "0" && !(ratio <= 2))) {
    write(
      await profileAnswer({
        ...(kamailio ? { kamailio } : {}),
        calls: Number(env.SIP_BENCH_PROFILE_CALLS ?? 60),
        keep: env.SIP_BENCH_KEEP === "1",
        nodeFlags,
      }),
    );
  }
  return f;
}

/**
 * Starts `dist/cli.js run -c cfg` as the service runs it (log in `dir`/cuffia.log) and waits until
 * Kamailio has its registration; on failure the daemon is stopped and its log's tail thrown.
 */
export async function runRegisteredDaemon(
  kam: Kamailio,
  dir: string,
  cfg: string,
  nodeFlags: readonly string[] = [],
): Promise<Spawned> {
  const logFile = join(dir, "cuffia.log");
  const proc: Spawned = spawnLogged(
    process.execPath,
    [...SHEBANG_FLAGS, ...EXTRA_NODE_FLAGS, ...nodeFlags, BIN, "run", "-c", cfg],
    logFile,
    {
      cwd: dir,
    },
  );
  try {
    await waitUntil(
      "the daemon registered",
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`cuffia exited ${proc.child.exitCode}`);
        const regs = await kam.registrations();
        return regs.some((r) => r.aor === CUFFIA_USER || r.aor.startsWith(`${CUFFIA_USER}@`));
      },
      20_000,
      100,
    );
  } catch (error) {
    await stopProcess(proc);
    const log = await readFile(logFile, "utf8").catch(() => "");
    throw new Error(`${(error as Error).message}\n${log.slice(-2000)}`);
  }
  return proc;
}
