/**
 * Encrypted-call benchmark (issue 14 item 7): the real daemon (`node dist/cli.js run -c CFG`, as
 * sip-answer.ts runs it) and baresip as the desk, with the same settings, in the same run:
 *
 * - **sdes**: SDES-SRTP (RTP/SAVP, a=crypto), G.711. The daemon's signalling is tls:// (it refuses
 *   SDES keys over clear signalling); baresip's desk is on UDP with `mediaenc=srtp-mand`.
 * - **dtls**: DTLS-SRTP + ICE + rtcp-mux + Opus. The daemon on ws:// with
 *   `rtp.ice.host_addresses` its one address; baresip's desk with `dtls_srtp` + `medianat=ice`, Opus.
 *   baresip's `ice` offers every non-loopback address it sees (eth0's here), so in this mode both
 *   baresips run in a network namespace made for the run, joined by a veth pair (netns.ts
 *   createVethLink), and a Kamailio of the mode's own and the daemon's media use the pair's root
 *   end: ICE sees only those two addresses.
 *
 * In both, the caller is a plain-UDP baresip (3001) with the mode's settings, calling through the
 * lab Kamailio; tshark on its SIP port sees its leg in clear, so the answer latency is the
 * caller's view (its INVITE with credentials out → the 200 OK in), the same for both desks.
 * Both desks must encrypt (the daemon with `rtp.encryption: required`, baresip `srtp-mand` /
 * `dtls_srtp`), so a call that completes is an encrypted one.
 *
 * Measured per mode and desk: answer latency over ENC_BENCH_CALLS (15) sequential calls (median,
 * p90; the first call reported apart as cold); RSS after the first call and after the last, the
 * growth per call between them; CPU per call-minute of the desk over one ENC_BENCH_CALL_SECONDS
 * (60) s call from the caller (the desk sends a tone and receives one). ENC_BENCH_MODES=sdes or
 * dtls runs one mode; ENC_BENCH_KEEP=1 keeps captures and logs; ENC_BENCH_CPU_PROF=DIR writes the
 * daemon's V8 CPU profile there (`--cpu-prof`, 100 µs samples; sip-profile.ts reads such files).
 * Benchmarks print figures; they do not judge.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OPUS_COMPLEXITY } from "../../src/media/opus-codec.js";
import { makeTone } from "../lab/audio.js";
import { type Baresip, type BaresipOptions, startBaresip } from "../lab/baresip.js";
import { type Kamailio, startKamailio } from "../lab/kamailio.js";
import { createVethLink, type VethLink } from "../lab/netns.js";
import { baresipPort, freePort, freePorts } from "../lab/ports.js";
import { pause, stopProcess } from "../lab/proc.js";
import { makeTone as makeSoxTone } from "../media/tone.js";
import { measureNodeFloor, type NodeFloor } from "./node-floor.js";
import { contextSwitches, cpuMs, quantile, rssMb, runRegisteredDaemon } from "./sip-answer.js";
import { sipPackets, startCapture } from "./sip-tshark.js";

const CUFFIA_USER = "1017";
const BARESIP_USER = "2001";
const CALLER = "3001";
/** How long each latency call is held before the caller hangs up (media set up, keys agreed). */
const HOLD_MS = 600;

export type Mode = "sdes" | "dtls";

export interface DeskFigures {
  /** Caller's view per call, ms, in call order. */
  readonly answerMs: readonly number[];
  readonly failed: number;
  readonly rssAfterFirstMb: number;
  readonly rssAfterLastMb: number;
  readonly cpuMsPerCallMinute: number;
  /** Context switches of the desk's threads per second of the CPU call (its wake-ups). */
  readonly switchesPerSecond: number;
}

export interface ModeFigures {
  readonly mode: Mode;
  readonly calls: number;
  readonly callSeconds: number;
  readonly cuffia: DeskFigures;
  readonly baresip: DeskFigures;
  /** A bare Node 20 ms packet loop in the same run (node-floor.ts): what any Node desk costs here. */
  readonly floor: NodeFloor;
}

const MODE_LABEL: Record<Mode, string> = {
  sdes: "SDES-SRTP, G.711 (daemon on tls://)",
  dtls: "DTLS-SRTP + ICE + rtcp-mux, Opus (daemon on ws://)",
};

function baresipMedia(mode: Mode): Partial<BaresipOptions> {
  return mode === "sdes"
    ? { mediaenc: "srtp-mand", audioCodecs: ["pcmu", "pcma"] }
    : {
        mediaenc: "dtls_srtp",
        medianat: "ice",
        rtcpMux: true,
        audioCodecs: ["opus", "pcmu"],
        // The daemon's encoder settings (opus-codec.ts): the same work per frame on both desks.
        opusEncoder: { complexity: OPUS_COMPLEXITY, application: "voip" },
      };
}

interface Daemon {
  readonly pid: number;
  stop(): Promise<void>;
}

async function startDaemon(
  kam: Kamailio,
  dir: string,
  tone: string,
  mode: Mode,
  profileDir?: string,
): Promise<Daemon> {
  const block = (await freePorts(34)) + 1;
  const first = block % 2 === 0 ? block : block + 1;
  await writeFile(join(dir, "sip.password"), kam.users[CUFFIA_USER] ?? "");
  const sip =
    mode === "sdes"
      ? `  server: tls://${kam.domain}:${kam.tlsPort}\n  ca_file: ${kam.caFile}\n`
      : `  server: ws://${kam.domain}:${kam.wsPort}\n`;
  const media =
    mode === "sdes"
      ? "  codecs: [pcmu, pcma]\n"
      : `  codecs: [opus, pcmu]\n  ice:\n    host_addresses: [${kam.domain}]\n`;
  const config = `agent:
  id: bench-desk
  name: Bench
sip:
${sip}  aor: sip:${CUFFIA_USER}@${kam.domain}
  password_file: sip.password
  auto_answer: true
  register_expires: 600
rtp:
  address: ${kam.domain}
  port_min: ${first}
  port_max: ${first + 31}
  encryption: required
${media}audio:
  source: { type: file, path: ${tone}, loop: true }
  sink: { type: none }
control:
  socket: ${join(dir, "control.sock")}
policy:
  wrap_up_seconds: 0
log:
  level: warn
state_dir: ${join(dir, "state")}
`;
  const cfg = join(dir, "cuffia.yaml");
  await writeFile(cfg, config);
  const flags = profileDir ? ["--cpu-prof", "--cpu-prof-dir", profileDir, "--cpu-prof-interval", "100"] : [];
  const proc = await runRegisteredDaemon(kam, dir, cfg, flags);
  return { pid: proc.pid, stop: () => stopProcess(proc, 8000) };
}

/** One call from the caller to `target`, held `holdMs`, hung up by the caller. */
async function oneCall(caller: Baresip, target: string, holdMs: number): Promise<void> {
  await caller.dial(target);
  await caller.waitFor("CALL_ESTABLISHED", 15_000);
  await pause(holdMs);
  await caller.hangup();
  await caller.waitFor("CALL_CLOSED", 10_000);
}

/**
 * The caller's view per call from its leg (UDP, clear): its INVITE with the 200's CSeq (the one
 * carrying credentials) out → that 200 OK in.
 */
function callerView(
  packets: Awaited<ReturnType<typeof sipPackets>>,
  callerPort: number,
): { answerMs: number[]; failed: number } {
  const byCall = new Map<string, typeof packets>();
  for (const p of packets) byCall.set(p.callId, [...(byCall.get(p.callId) ?? []), p]);
  const answerMs: number[] = [];
  let failed = 0;
  const calls = [...byCall.values()].sort((a, b) => (a[0]?.time ?? 0) - (b[0]?.time ?? 0));
  for (const list of calls) {
    if (!list.some((p) => p.method === "INVITE" && p.srcPort === callerPort)) continue;
    const ok = list.find((p) => p.status === 200 && p.cseqMethod === "INVITE" && p.dstPort === callerPort);
    const inv = ok
      ? list.find((p) => p.method === "INVITE" && p.srcPort === callerPort && p.cseq === ok.cseq)
      : undefined;
    if (!ok || !inv) {
      failed++;
      continue;
    }
    answerMs.push(ok.time - inv.time);
  }
  return { answerMs, failed };
}

async function measureDesk(
  kam: Kamailio,
  dir: string,
  name: string,
  caller: Baresip,
  deskUser: string,
  deskPid: number,
  calls: number,
  callSeconds: number,
  /** Where the caller's SIP crosses: lo, or the veth link's root end in the DTLS mode. */
  iface = "lo",
): Promise<DeskFigures> {
  const target = `sip:${deskUser}@${kam.domain}`;
  const file = join(dir, `${name}-sip.pcapng`);
  // On the veth (MTU 1500) the INVITE with credentials is fragmented, and only its first fragment
  // has a UDP header: take the others too (by their fragment offset) so tshark can reassemble it.
  const fragments = iface === "lo" ? "" : " or (ip[6:2] & 0x1fff != 0)";
  const capture = await startCapture(file, `udp port ${caller.port}${fragments}`, iface);
  await pause(1500); // tshark says "Capturing on" a little before its first packet is written
  let rssAfterFirstMb = Number.NaN;
  try {
    for (let i = 0; i < calls; i++) {
      await oneCall(caller, target, HOLD_MS);
      await pause(400);
      if (i === 0) {
        await pause(1000);
        rssAfterFirstMb = await rssMb(deskPid);
      }
    }
    await pause(1000);
  } finally {
    await capture.stop();
  }
  const rssAfterLastMb = await rssMb(deskPid);
  const packets = await sipPackets(file, { sipPorts: [caller.port, kam.udpPort] });
  const { answerMs, failed } = callerView(packets, caller.port);

  // The CPU call: the caller's file outlasts it; both ends send a tone.
  await caller.dial(target);
  await caller.waitFor("CALL_ESTABLISHED", 15_000);
  await pause(2000); // keys agreed, media flowing
  const cpu0 = { ms: await cpuMs(deskPid), cs: await contextSwitches(deskPid), t: performance.now() };
  await pause(callSeconds * 1000);
  const cpu1 = { ms: await cpuMs(deskPid), cs: await contextSwitches(deskPid), t: performance.now() };
  await caller.hangup();
  await caller.waitFor("CALL_CLOSED", 10_000);
  await pause(1000);
  return {
    answerMs,
    failed,
    rssAfterFirstMb,
    rssAfterLastMb,
    cpuMsPerCallMinute: (cpu1.ms - cpu0.ms) / ((cpu1.t - cpu0.t) / 60_000),
    switchesPerSecond: (cpu1.cs - cpu0.cs) / ((cpu1.t - cpu0.t) / 1000),
  };
}

export async function measureMode(
  lab: Kamailio,
  mode: Mode,
  opts: { calls: number; callSeconds: number; keep: boolean; profileDir?: string | undefined },
): Promise<ModeFigures> {
  const dir = await mkdtemp(join(tmpdir(), `cuffia-enc-bench-${mode}-`));
  const tone = await makeTone(join(dir, "cuffia-tone.wav"), { freq: 1000, seconds: 5 });
  // aufile reads the whole file after the answer and hangs up at its end: longer than the CPU
  // call; and only at the codec's rate and channels (opus/48000/2), it does not convert.
  const seconds = opts.callSeconds + 20;
  const baresipTone = async (name: string, freq: number): Promise<string> => {
    if (mode === "sdes") return makeTone(join(dir, name), { freq, seconds });
    const path = join(dir, name);
    makeSoxTone(path, freq, 48000, seconds, 2);
    return path;
  };
  const deskTone = await baresipTone("desk-tone.wav", 600);
  const callerTone = await baresipTone("caller-tone.wav", 400);
  let daemon: Daemon | null = null;
  let desk: Baresip | null = null;
  let caller: Baresip | null = null;
  // DTLS mode: the baresips (ice) in a namespace of their own, the rest on the link's root end.
  let link: VethLink | null = null;
  let own: Kamailio | null = null;
  let kam = lab;
  try {
    if (mode === "dtls") {
      link = await createVethLink();
      own = await startKamailio({ dir: join(dir, "kamailio"), listen: link.rootAddress });
      kam = own;
    }
    const netns = link ? { netns: { ns: link.ns, address: link.address, nat: link } } : {};
    await mkdir(join(dir, "daemon"), { recursive: true });
    daemon = await startDaemon(kam, join(dir, "daemon"), tone, mode, opts.profileDir);
    desk = await startBaresip({
      kamailio: kam,
      user: BARESIP_USER,
      port: await baresipPort(),
      autoAnswer: true,
      audioFile: deskTone,
      dir: join(dir, "baresip-desk"),
      ...baresipMedia(mode),
      ...netns,
    });
    caller = await startBaresip({
      kamailio: kam,
      user: CALLER,
      port: await baresipPort(),
      audioFile: callerTone,
      dir: join(dir, "baresip-caller"),
      ...baresipMedia(mode),
      ...netns,
    });
    await pause(2000);
    const cuffia = await measureDesk(
      kam,
      dir,
      "cuffia",
      caller,
      CUFFIA_USER,
      daemon.pid,
      opts.calls,
      opts.callSeconds,
      link?.rootDev,
    );
    const baresip = await measureDesk(
      kam,
      dir,
      "baresip",
      caller,
      BARESIP_USER,
      desk.pid,
      opts.calls,
      opts.callSeconds,
      link?.rootDev,
    );
    const floor = await measureNodeFloor(dir, await freePort(), opts.callSeconds);
    return { mode, calls: opts.calls, callSeconds: opts.callSeconds, cuffia, baresip, floor };
  } catch (error) {
    const log = await readFile(join(dir, "daemon", "cuffia.log"), "utf8").catch(() => "");
    throw new Error(`${(error as Error).message}\ndaemon log (tail):\n${log.slice(-2000)}`);
  } finally {
    await caller?.stop().catch(() => {});
    await desk?.stop().catch(() => {});
    await daemon?.stop().catch(() => {});
    await own?.stop().catch(() => {});
    await link?.teardown();
    if (opts.keep) process.stderr.write(`encrypted-call bench: ${mode} kept in ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
  }
}

// ── the table ─────────────────────────────────────────────────────────────────────────────────

/** The first call (JIT, first DTLS certificate use) is reported apart as "cold". */
const WARM_FROM = 1;

export function table(f: ModeFigures): string {
  const n = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : "n/a");
  const c = f.cuffia;
  const b = f.baresip;
  const verdict = (r: number, limit: number) =>
    Number.isFinite(r) ? (r <= limit ? "met" : "not met") : "n/a";
  const warm = (x: readonly number[]) => x.slice(WARM_FROM);
  const med = { c: quantile(warm(c.answerMs), 0.5), b: quantile(warm(b.answerMs), 0.5) };
  const p90 = { c: quantile(warm(c.answerMs), 0.9), b: quantile(warm(b.answerMs), 0.9) };
  const cold = { c: c.answerMs[0] ?? Number.NaN, b: b.answerMs[0] ?? Number.NaN };
  const growth = (d: DeskFigures) =>
    d.answerMs.length > 1 ? (d.rssAfterLastMb - d.rssAfterFirstMb) / (f.calls - 1) : Number.NaN;
  const g = { c: growth(c), b: growth(b) };
  const rows = [
    `| answer, caller's view, median (ms) | ${n(med.c)} | ${n(med.b)} | ${n(med.c / med.b)}× | ≤ 2× — ${verdict(med.c / med.b, 2)} |`,
    `| answer, caller's view, p90 (ms) | ${n(p90.c)} | ${n(p90.b)} | ${n(p90.c / p90.b)}× | |`,
    `| answer, first call (cold, ms) | ${n(cold.c)} | ${n(cold.b)} | ${n(cold.c / cold.b)}× | |`,
    `| CPU per call-minute (ms; % of a core) | ${n(c.cpuMsPerCallMinute, 0)} (${n(c.cpuMsPerCallMinute / 600, 1)} %) | ${n(b.cpuMsPerCallMinute, 0)} (${n(b.cpuMsPerCallMinute / 600, 1)} %) | ${n(c.cpuMsPerCallMinute / b.cpuMsPerCallMinute)}× | ≤ 1.5× — ${verdict(c.cpuMsPerCallMinute / b.cpuMsPerCallMinute, 1.5)} |`,
    `| context switches per second of the call (wake-ups) | ${n(c.switchesPerSecond, 0)} | ${n(b.switchesPerSecond, 0)} | ${n(c.switchesPerSecond / b.switchesPerSecond)}× | |`,
    `| a bare Node packet loop, same flags (timer, send, receive per 20 ms; node-floor.ts): CPU per minute, switches/s | ${n(f.floor.cpuMsPerMinute, 0)} ms, ${n(f.floor.switchesPerSecond, 0)}/s | | cuffia ${n(c.cpuMsPerCallMinute / f.floor.cpuMsPerMinute)}× the loop, baresip ${n(b.cpuMsPerCallMinute / f.floor.cpuMsPerMinute)}× | |`,
    `| RSS after the first call / after the last (MB) | ${n(c.rssAfterFirstMb, 1)} / ${n(c.rssAfterLastMb, 1)} | ${n(b.rssAfterFirstMb, 1)} / ${n(b.rssAfterLastMb, 1)} | | |`,
    `| RSS growth per call after the first (MB) | ${n(g.c, 3)} | ${n(g.b, 3)} | | ≤ 1 MB — ${Number.isFinite(g.c) ? (g.c <= 1 ? "met" : "not met") : "n/a"} |`,
  ];
  return [
    `Encrypted calls, ${MODE_LABEL[f.mode]}: cuffia daemon (node ${process.version}) vs baresip as the desk, ` +
      `auto-answer, ${f.calls} sequential calls each from a UDP baresip (median/p90 over calls ${WARM_FROM + 1}-${f.calls}), ` +
      `one ${f.callSeconds} s call each for CPU; tshark on the caller's leg`,
    `  calls measured: cuffia ${c.answerMs.length} (${c.failed} incomplete), baresip ${b.answerMs.length} (${b.failed} incomplete)`,
    "",
    "| measure | cuffia | baresip | ratio | target |",
    "|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}

export async function main(kam: Kamailio, write: (s: string) => void): Promise<ModeFigures[]> {
  const env = process.env;
  const modes = (env.ENC_BENCH_MODES ?? "sdes,dtls")
    .split(",")
    .map((m) => m.trim())
    .filter((m): m is Mode => m === "sdes" || m === "dtls");
  const opts = {
    calls: Math.max(3, Number(env.ENC_BENCH_CALLS ?? 15)),
    callSeconds: Math.max(5, Number(env.ENC_BENCH_CALL_SECONDS ?? 60)),
    keep: env.ENC_BENCH_KEEP === "1",
    profileDir: env.ENC_BENCH_CPU_PROF,
  };
  const out: ModeFigures[] = [];
  for (const mode of modes) {
    const f = await measureMode(kam, mode, opts);
    write(table(f));
    out.push(f);
  }
  return out;
}
