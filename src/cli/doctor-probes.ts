/**
 * What `cuffia doctor` looks at on the box: each probe observes one thing within a time budget,
 * releases everything it opened, and returns an outcome for doctor-classify.ts to judge.
 *
 * SIP runs the daemon's own SipAgent, built by the daemon's own buildSip (src/wiring.ts), so the
 * doctor tests exactly what `cuffia run` would do; it unregisters at the end. MQTT is probed
 * with a bare connect under `<client id>-doctor` and no will: starting the presence side would
 * publish a retained presence document and `online`/`offline` for an agent nobody is at.
 */
import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access, readFile, statfs } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Config } from "../config/schema.js";
import type { Emit, Side } from "../core/side.js";
import { HeadsetError } from "../headset/hid-device.js";
import { modelName } from "../headset/hid-headset.js";
import { type ListedHeadset, listHeadsets } from "../headset/list-headsets.js";
import { type LcdPort, openSerialPort } from "../lcd/port.js";
import { CfaReader } from "../lcd/protocols/cfa-reader.js";
import { cfaPacket } from "../lcd/protocols/crystalfontz.js";
import type { Logger, LogLevel } from "../log/logger.js";
import type { BuildSide } from "../wiring.js";
import { parseAlsaCards } from "./devices.js";
import {
  type AlsaView,
  type HeadsetOutcome,
  type LcdOutcome,
  type MqttOutcome,
  parsePcmList,
  type SeenHeadset,
  type SipOutcome,
} from "./doctor-classify.js";

/** Runs a program and resolves with its stdout; rejects when it is missing or fails. */
export type RunCommand = (file: string, args: readonly string[], timeoutMs: number) => Promise<string>;

export const runCommand: RunCommand = (file, args, timeoutMs) =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], { timeout: timeoutMs, encoding: "utf8" }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
  });

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

// ── a logger that watches instead of printing ─────────────────────────────────────────────────

type Entry = Readonly<Record<string, unknown>> & { readonly level: LogLevel; readonly msg: string };

/** A Logger whose lines go to `onEntry` (the doctor reads the SIP side's reasons from them). */
export function watchingLogger(onEntry: (entry: Entry) => void, ns = ""): Logger {
  const fn =
    (level: Exclude<LogLevel, "silent">) =>
    (a: string | Record<string, unknown>, msg?: string): void => {
      const entry = typeof a === "string" ? { msg: a } : { ...a, msg: msg ?? "" };
      try {
        onEntry({ ...entry, level, ns } as Entry);
      } catch {
        // a watcher's mistake must not break the side that logs
      }
    };
  // Built apart and then returned, so the Logger interface may grow optional-to-us members.
  const log = {
    trace: fn("trace"),
    debug: fn("debug"),
    info: fn("info"),
    warn: fn("warn"),
    error: fn("error"),
    fatal: fn("fatal"),
    child: (name: string): Logger => watchingLogger(onEntry, ns ? `${ns}:${name}` : name),
    enabled: (level: LogLevel) => level !== "trace",
    setLevel: (_level: LogLevel) => undefined,
  };
  return log;
}

// ── SIP ───────────────────────────────────────────────────────────────────────────────────────

/**
 * Starts the daemon's SIP side and waits for the registrar's verdict, an unreachable server, or
 * the budget; then stops the side (which unregisters a successful registration).
 */
export async function probeSip(config: Config, make: BuildSide, budgetMs: number): Promise<SipOutcome> {
  const primary = config.sip?.server ?? "";
  let settle: (o: SipOutcome) => void = () => undefined;
  let settled = false;
  const outcome = new Promise<SipOutcome>((resolve) => {
    settle = (o) => {
      if (settled) return;
      settled = true;
      resolve(o);
    };
  });
  let server: string | null = null;
  const log = watchingLogger((entry) => {
    if (entry.msg === "connected" && typeof entry["server"] === "string") server = entry["server"];
    // The transport's verdict after every server of the list failed (transport.ts tryServers).
    for (const v of Object.values(entry)) {
      if (typeof v === "string" && v.includes("no SIP server reachable")) {
        settle({ kind: "unreachable", error: v.replace(/^Error: /, "") });
        return;
      }
    }
  });
  const dispatch: Emit = (input) => {
    if (input.type === "health" && "sip" in input) {
      if (input.sip === "registered") settle({ kind: "registered", server: server ?? primary });
      else if (input.sip === "failed") settle({ kind: "refused", reason: input.reason ?? "refused" });
      // Other final answers (5xx...) leave the agent "unregistered" with the status line.
      else if (input.sip === "unregistered" && input.reason !== null && /^\d{3} /.test(input.reason))
        settle({ kind: "refused", reason: input.reason });
    }
    return { ok: true };
  };
  let side: Side | undefined;
  try {
    side = await make(config, log, { dispatch });
    if (!side) return { kind: "error", error: "no SIP side was built from the config" };
    await side.start(dispatch);
  } catch (e) {
    await side?.stop().catch(() => undefined);
    return { kind: "error", error: errorText(e) };
  }
  const timer = setTimeout(
    () => settle({ kind: "timeout", seconds: Math.round(budgetMs / 100) / 10, connected: server !== null }),
    budgetMs,
  );
  const result = await outcome;
  clearTimeout(timer);
  // SipAgent.stop() waits for an outstanding REGISTER (sip.js Registerer.dispose()), up to
  // timer F (32 s) when the server never answers: do not let that hold the report.
  const stopped = side.stop().catch(() => undefined);
  let limit: NodeJS.Timeout | undefined;
  await Promise.race([stopped, new Promise((r) => (limit = setTimeout(r, SIP_STOP_LIMIT_MS)))]);
  clearTimeout(limit);
  return result;
}

const SIP_STOP_LIMIT_MS = 2500;

// ── MQTT ──────────────────────────────────────────────────────────────────────────────────────

/** CONNECT with the daemon's credentials, TLS files and protocol; DISCONNECT at once. */
export async function probeMqtt(config: Config, budgetMs: number): Promise<MqttOutcome> {
  const m = config.mqtt;
  if (!m) return { kind: "error", error: "no mqtt section" };
  if (m.url === "embedded") return { kind: "embedded", port: m.embedded_port };
  const { probeBroker } = await import("../presence/probe.js");
  return probeBroker(
    {
      url: m.url,
      clientId: doctorClientId(config),
      protocolVersion: m.protocol_version,
      keepaliveSeconds: m.keepalive_seconds,
      ...(m.username !== undefined ? { username: m.username } : {}),
      ...(m.password !== undefined ? { password: m.password } : {}),
      ...(m.ca_file !== undefined ? { caFile: m.ca_file } : {}),
      ...(m.cert_file !== undefined ? { certFile: m.cert_file } : {}),
      ...(m.key_file !== undefined ? { keyFile: m.key_file } : {}),
    },
    budgetMs,
  );
}

/** The client id the doctor connects with: the daemon's own, suffixed, so it never takes it over. */
export function doctorClientId(config: Config): string {
  return `${config.mqtt?.client_id ?? `cuffia-${config.agent.id}`}-doctor`;
}

// ── headset ───────────────────────────────────────────────────────────────────────────────────

function seen(h: ListedHeadset): SeenHeadset {
  const caps = "capabilities" in h ? h.capabilities : null;
  return {
    path: h.path,
    model: modelName(h),
    error: "error" in h ? h.error : null,
    buttons: caps ? Object.keys(caps.inputs) : [],
    leds: caps ? Object.keys(caps.outputs) : [],
    card: h.alsaCard ? `plughw:${h.alsaCard.card},0 (${h.alsaCard.id})` : null,
  };
}

type Match = NonNullable<Config["headset"]>["match"];

function matches(m: Exclude<Match, "keyboard">, h: ListedHeadset): boolean {
  if (m === "auto") return true;
  if ("path" in m) return h.path === m.path;
  return h.vendorId === m.vendor_id && h.productId === m.product_id;
}

export async function probeHeadset(
  match: Match,
  list: () => Promise<ListedHeadset[]> = () => listHeadsets(),
  canOpen: (path: string) => Promise<void> = (p) => access(p, constants.R_OK | constants.W_OK),
): Promise<HeadsetOutcome> {
  if (match === "keyboard") return { kind: "keyboard" };
  let all: ListedHeadset[];
  try {
    all = await list();
  } catch (e) {
    if (e instanceof HeadsetError && e.code === "hid_unavailable")
      return { kind: "hid_unavailable", error: e.message };
    throw e;
  }
  const candidates = all.filter((h) => matches(match, h));
  if (candidates.length === 0) return { kind: "missing", seen: all.map(seen) };
  const usable = candidates.find((h) => "capabilities" in h);
  if (!usable) return { kind: "unusable", headset: seen(candidates[0]!) };
  try {
    await canOpen(usable.path);
  } catch (e) {
    const code = errnoOf(e);
    if (code === "EACCES" || code === "EPERM") return { kind: "denied", headset: seen(usable) };
    if (code === "ENOENT") return { kind: "missing", seen: all.map(seen) };
    throw e;
  }
  return { kind: "found", headset: seen(usable) };
}

// ── LCD ───────────────────────────────────────────────────────────────────────────────────────

/** Crystalfontz command 0 echoes its data back (reply type 0x40). */
const CFA_PING = 0x00;
const CFA_PING_DATA = [0x63, 0x75, 0x66]; // "cuf"

export async function probeLcd(
  lcd: NonNullable<Config["lcd"]>,
  budgetMs: number,
  open: (o: { path: string; baudRate: number }) => Promise<LcdPort> = openSerialPort,
): Promise<LcdOutcome> {
  if (lcd.driver === "terminal" && (lcd.port === "-" || lcd.port === "stdout")) return { kind: "terminal" };
  try {
    await access(lcd.port, constants.R_OK | constants.W_OK);
  } catch (e) {
    const code = errnoOf(e);
    if (code === "ENOENT") return { kind: "missing" };
    if (code === "EACCES" || code === "EPERM") return { kind: "denied" };
    return { kind: "open_failed", error: errorText(e) };
  }
  let port: LcdPort;
  try {
    port = await open({ path: lcd.port, baudRate: lcd.baud });
  } catch (e) {
    const text = errorText(e);
    // serialport takes an exclusive lock (TIOCEXCL/flock): another open holder shows up here.
    if (/lock|busy|EBUSY|temporarily unavailable/i.test(text)) return { kind: "busy", error: text };
    if (/EACCES|permission denied/i.test(text)) return { kind: "denied" };
    return { kind: "open_failed", error: text };
  }
  try {
    if (lcd.driver !== "crystalfontz") return { kind: "opened" };
    const ms = Math.min(1000, budgetMs);
    const reader = new CfaReader();
    const answered = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      port.onData((bytes) => {
        for (const p of reader.push(bytes)) {
          if (p.type === (0x40 | CFA_PING) && p.data.equals(Buffer.from(CFA_PING_DATA))) {
            clearTimeout(timer);
            resolve(true);
          }
        }
      });
      port.write(cfaPacket(CFA_PING, CFA_PING_DATA)).catch(() => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    return answered ? { kind: "answered" } : { kind: "no_answer", ms };
  } finally {
    await port.close().catch(() => undefined);
  }
}

// ── clock, disk, audio ────────────────────────────────────────────────────────────────────────

/** true/false from systemd (timedatectl, or timesyncd's flag file); null when nothing can tell. */
export async function probeClock(
  run: RunCommand = runCommand,
  flagFile = "/run/systemd/timesync/synchronized",
): Promise<boolean | null> {
  try {
    const out = (await run("timedatectl", ["show", "-p", "NTPSynchronized", "--value"], 2000)).trim();
    if (out === "yes") return true;
    if (out === "no") return false;
  } catch {
    // no systemd (a container), or no D-Bus: try the flag file
  }
  try {
    await access(flagFile);
    return true;
  } catch {
    return null;
  }
}

/** Free bytes for an unprivileged writer on the filesystem that holds (or would hold) `dir`. */
export async function probeDisk(dir: string): Promise<{ dir: string; freeBytes: number }> {
  let at = dir;
  for (;;) {
    try {
      const s = await statfs(at);
      return { dir: at, freeBytes: s.bavail * s.bsize };
    } catch (e) {
      const up = dirname(at);
      if (errnoOf(e) !== "ENOENT" || up === at) throw e;
      at = up;
    }
  }
}

export async function probeAlsa(
  direction: "microphone" | "speaker",
  run: RunCommand = runCommand,
  procRoot = "/proc",
): Promise<AlsaView> {
  const cards = parseAlsaCards(await readFile(join(procRoot, "asound/cards"), "utf8").catch(() => ""));
  let pcms: string[] | null = null;
  try {
    pcms = parsePcmList(await run(direction === "microphone" ? "arecord" : "aplay", ["-L"], 2000));
  } catch {
    pcms = null;
  }
  return { cards, pcms };
}
