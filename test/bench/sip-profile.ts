/**
 * Where the daemon's time goes while it answers: a V8 CPU profile (`node --cpu-prof`) of the
 * real daemon during a burst of auto-answered calls, cut to the burst's window (V8's profile
 * clock and process.hrtime are both CLOCK_MONOTONIC, in µs), summarised as CPU per call by
 * package and the top functions by self and by inclusive time.
 */
import { readdir, readFile } from "node:fs/promises";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  readonly windowMs: number;
  readonly busyMs: number;
  readonly byPackage: ReadonlyArray<readonly [string, number]>;
  readonly self: ReadonlyArray<readonly [string, number]>;
  readonly inclusive: ReadonlyArray<readonly [string, number]>;
  /** Inclusive time of the daemon's own functions and of sip.js's parsing entry points. */
  readonly ours: ReadonlyArray<readonly [string, number]>;
}

/** The package or area a frame belongs to. */
export function area(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === "") {
    if (functionName === "(garbage collector)") return "GC";
    if (functionName === "(program)") return "V8/native (program)";
    return functionName.startsWith("(") ? functionName : "native";
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1] ?? "node_modules";
  if (url.startsWith("node:")) return "node core";
  const dist = /\/dist\/([^/]+)\//.exec(url);
  if (dist) return `cuffia ${dist[1]}`;
  return "other";
}

function label(frame: CallFrame): string {
  const file = frame.url.includes("/node_modules/")
    ? frame.url.replace(/^.*\/node_modules\//, "")
    : frame.url.replace(/^.*\/dist\//, "dist/");
  return `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
}

/** Summarises the samples between `fromUs` and `toUs` (monotonic µs), `(idle)` excluded. */
export function summarise(profile: CpuProfile, fromUs: number, toUs: number, top = 20): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < fromUs || t > toUs) continue;
    // A sample's time is the delta to the next sample.
    const id = profile.samples[i] ?? 0;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  }
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  const byPackage = new Map<string, number>();
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === "(idle)") continue;
    busy += us;
    add(byPackage, area(node.callFrame), us);
    add(self, label(node.callFrame), us);
    // Inclusive: once per distinct function on the stack (recursion counted once).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)?.callFrame;
      if (!frame || frame.url === "") continue;
      const key = label(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      add(inclusive, key, us);
    }
  }
  const sorted = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => [k, v / 1000] as const);
  return {
    windowMs: (toUs - fromUs) / 1000,
    busyMs: busy / 1000,
    byPackage: sorted(byPackage, 12),
    self: sorted(self, top),
    inclusive: sorted(inclusive, top),
    ours: sorted(
      new Map(
        [...inclusive].filter(
          ([k]) => / dist\/(sip|media|audio|core|app)/.test(k) || /^(parseMessage|parse) sip\.js\//.test(k),
        ),
      ),
      top,
    ),
  };
}

export async function readProfile(dir: string): Promise<CpuProfile> {
  const name = (await readdir(dir)).find((n) => n.endsWith(".cpuprofile"));
  if (!name) throw new Error(`no .cpuprofile in ${dir}`);
  return JSON.parse(await readFile(`${dir}/${name}`, "utf8")) as CpuProfile;
}

export function formatSummary(s: ProfileSummary, calls: number): string {
  const per = (ms: number) => (ms / calls).toFixed(3);
  const pct = (ms: number) => ((ms / s.busyMs) * 100).toFixed(1);
  const lines = [
    `daemon CPU profile over ${calls} auto-answered calls (${s.windowMs.toFixed(0)} ms window): ` +
      `${per(s.busyMs)} ms of main-thread CPU per call (INVITE, ACK, 200 ms of RTP, BYE)`,
    "",
    "| by package | ms per call | % |",
    "|---|---|---|",
    ...s.byPackage.map(([k, v]) => `| ${k} | ${per(v)} | ${pct(v)} |`),
    "",
    "| top self time | ms per call | % |",
    "|---|---|---|",
    ...s.self.map(([k, v]) => `| ${k} | ${per(v)} | ${pct(v)} |`),
    "",
    "| top inclusive time | ms per call | % |",
    "|---|---|---|",
    ...s.inclusive.map(([k, v]) => `| ${k} | ${per(v)} | ${pct(v)} |`),
    "",
    "| cuffia and sip.js parsing, inclusive | ms per call | % |",
    "|---|---|---|",
    ...s.ours.map(([k, v]) => `| ${k} | ${per(v)} | ${pct(v)} |`),
    "",
  ];
  return lines.join("\n");
}
