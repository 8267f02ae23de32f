/**
 * SIPp (Debian package sip-tester) against the lab Kamailio, for header tests and benchmarks.
 *
 * - runSippUac(): an authenticated caller (user 3001 by default) dials `sip:<target>@127.0.0.1`
 *   with custom headers, plays a G.711 A-law pcap, hangs up after `holdMs`.
 * - startSippUas(): an answering SIPp bound into Kamailio's location table as `user` (ul.add),
 *   that fails the call when an expected header is missing or different.
 * The scenarios are templates in ./sipp/ ({{...}} placeholders are filled in here).
 */
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Kamailio } from "./kamailio.js";
import { freePort, freePorts } from "./ports.js";
import { type Spawned, spawnLogged, stopProcess } from "./proc.js";

const SCENARIOS = join(dirname(fileURLToPath(import.meta.url)), "sipp");
/** PCMA, 30 ms packets, about 8 s. */
export const SIPP_PCAP = "/usr/share/sip-tester/g711a.pcap";

export interface SippResult {
  /** True when every call of the scenario succeeded (SIPp exit status 0). */
  ok: boolean;
  exitCode: number | string;
  /** Unexpected messages and failures SIPp logged (-trace_err), empty when ok. */
  errors: string;
  dir: string;
  logFile: string;
}

export interface SippUacOptions {
  kamailio: Kamailio;
  /** User part of the callee, e.g. "1017". */
  target: string;
  /** Extra INVITE headers, e.g. { "X-Caller-Language": "it" }. */
  headers?: Record<string, string>;
  /** Caller user (must be a lab user; default "3001"). */
  user?: string;
  /** Time between ACK and BYE (default 2000 ms). */
  holdMs?: number;
  /** Absolute pcap path played after the ACK (default SIPP_PCAP). */
  pcap?: string;
  /** Number of calls and calls per second (default 1 and 10). */
  calls?: number;
  rate?: number;
  /** Whole run deadline (default holdMs + 15 s). */
  timeoutMs?: number;
  dir?: string;
  /** Scenario template in ./sipp/ (default "uac.xml"), with the same placeholders. */
  scenario?: string;
}

function headerLines(headers: Record<string, string>): string {
  return Object.entries(headers)
    .map(([name, value]) => {
      if (/[\r\n]/.test(name + value) || value.includes("]]>")) throw new Error(`bad header ${name}`);
      return `      ${name}: ${value}`;
    })
    .join("\n");
}

function xmlAttr(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function regexpEscape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function render(template: string, values: Record<string, string>, out: string): Promise<string> {
  let text = await readFile(join(SCENARIOS, template), "utf8");
  for (const [key, value] of Object.entries(values)) text = text.split(`{{${key}}}`).join(value);
  await writeFile(out, text);
  return out;
}

async function collectErrors(dir: string): Promise<string> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const texts = await Promise.all(
    names.filter((n) => n.endsWith("_errors.log")).map((n) => readFile(join(dir, n), "utf8")),
  );
  return texts.join("\n").trim();
}

/** Loopback signalling and media; no terminal screen. */
function commonArgs(port: number, mediaPort: number): string[] {
  return ["-i", "127.0.0.1", "-p", String(port), "-mi", "127.0.0.1", "-mp", String(mediaPort), "-nostdin"];
}

/** SIPp's media uses its port and port + 2 (the pcap player's RTP): keep a block of 4. */
function mediaPorts(): Promise<number> {
  return freePorts(4);
}

/** Runs one (or `calls`) authenticated call(s) and resolves when SIPp exits. */
export async function runSippUac(opts: SippUacOptions): Promise<SippResult> {
  const { kamailio } = opts;
  const user = opts.user ?? "3001";
  const password = kamailio.users[user];
  if (password === undefined) throw new Error(`user ${user} is not a lab user`);
  const holdMs = opts.holdMs ?? 2000;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), "cuffia-sipp-uac-")));
  await mkdir(dir, { recursive: true });
  const scenario = await render(
    opts.scenario ?? "uac.xml",
    { HEADERS: headerLines(opts.headers ?? {}), PCAP: opts.pcap ?? SIPP_PCAP, HOLD_MS: String(holdMs) },
    join(dir, "uac.xml"),
  );
  const port = await freePort();
  const mediaPort = await mediaPorts();
  const timeoutS = Math.ceil((opts.timeoutMs ?? holdMs + 15_000) / 1000);
  const args = [
    `127.0.0.1:${kamailio.udpPort}`,
    "-sf",
    scenario,
    "-s",
    opts.target,
    "-key",
    "user",
    user,
    "-au",
    user,
    "-ap",
    password,
    "-m",
    String(opts.calls ?? 1),
    "-r",
    String(opts.rate ?? 10),
    "-timeout",
    `${timeoutS}s`,
    "-timeout_error",
    "-trace_err",
    ...commonArgs(port, mediaPort),
  ];
  const logFile = join(dir, "sipp.log");
  const proc = spawnLogged("sipp", args, logFile, { cwd: dir });
  const exitCode = await proc.exited;
  return { ok: exitCode === 0, exitCode, errors: await collectErrors(dir), dir, logFile };
}

export interface SippUasOptions {
  kamailio: Kamailio;
  /** The lab user it answers as (default "3001"). */
  user?: string;
  /** Headers the INVITE must carry, with exact values; the call fails otherwise. */
  expectHeaders?: Record<string, string>;
  /** Absolute pcap path played after the ACK; no audio when absent. */
  pcap?: string;
  /** Number of calls to answer before exiting (default 1). */
  calls?: number;
  /** Deadline for the whole run (default 60 s). */
  timeoutMs?: number;
  dir?: string;
}

export interface SippUas {
  readonly pid: number;
  readonly port: number;
  readonly user: string;
  readonly dir: string;
  /** Resolves when SIPp has handled `calls` calls (or failed). */
  done(): Promise<SippResult>;
  stop(): Promise<void>;
}

/** Starts an answering SIPp and binds it into usrloc so `sip:<user>@127.0.0.1` reaches it. */
export async function startSippUas(opts: SippUasOptions): Promise<SippUas> {
  const { kamailio } = opts;
  const user = opts.user ?? "3001";
  if (kamailio.users[user] === undefined) throw new Error(`user ${user} is not a lab user`);
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), "cuffia-sipp-uas-")));
  await mkdir(dir, { recursive: true });
  const checks = Object.entries(opts.expectHeaders ?? {})
    .map(
      ([name, value], i) =>
        `      <ereg regexp="${xmlAttr(`^\\s*${regexpEscape(value)}\\s*$`)}" search_in="hdr" ` +
        `header="${xmlAttr(name)}:" check_it="true" assign_to="h${i}"/>`,
    )
    .join("\n");
  const play = opts.pcap
    ? `  <nop>\n    <action>\n      <exec play_pcap_audio="${xmlAttr(opts.pcap)}"/>\n    </action>\n  </nop>`
    : "";
  // SIPp refuses to start when an assigned variable is never used: reference them all.
  const names = Object.keys(opts.expectHeaders ?? {}).map((_, i) => `h${i}`);
  const references = names.length > 0 ? `  <Reference variables="${names.join(",")}"/>` : "";
  const scenario = await render(
    "uas.xml",
    { CHECKS: checks, PLAY: play, REFERENCES: references },
    join(dir, "uas.xml"),
  );
  const port = await freePort();
  const mediaPort = await mediaPorts();
  const timeoutS = Math.ceil((opts.timeoutMs ?? 60_000) / 1000);
  const args = [
    "-sf",
    scenario,
    "-m",
    String(opts.calls ?? 1),
    "-timeout",
    `${timeoutS}s`,
    "-timeout_error",
    "-trace_err",
    ...commonArgs(port, mediaPort),
  ];
  const logFile = join(dir, "sipp.log");
  const proc: Spawned = spawnLogged("sipp", args, logFile, { cwd: dir });
  // A contact bound by RPC instead of a REGISTER: SIPp in server mode cannot also register.
  // ul.add: table AoR contact expires q path flags cflags methods received socket ("0" = unset;
  // kamcmd rejects the call unless the optional received and socket are given too).
  // kamcmd types arguments by their look: "s:" keeps numeric-looking ones strings.
  await kamailio.rpc("ul.rm", "location", `s:${user}`).catch(() => "");
  const contact = `sip:${user}@127.0.0.1:${port}`;
  await kamailio.rpc(
    "ul.add",
    "location",
    `s:${user}`,
    contact,
    "600",
    "1.0",
    "s:0",
    "0",
    "0",
    "65535",
    "s:0",
    "s:0",
  );
  let result: Promise<SippResult> | null = null;
  return {
    pid: proc.pid,
    port,
    user,
    dir,
    done() {
      result ??= proc.exited.then(async (exitCode) => ({
        ok: exitCode === 0,
        exitCode,
        errors: await collectErrors(dir),
        dir,
        logFile,
      }));
      return result;
    },
    async stop() {
      await stopProcess(proc);
      await kamailio.rpc("ul.rm", "location", `s:${user}`).catch(() => "");
    },
  };
}
