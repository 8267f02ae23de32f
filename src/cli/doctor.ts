/**
 * `cuffia doctor [-c FILE] [--json] [--timeout SECONDS]`: what the config expects against what
 * this box has, each problem with its fix. Loads the config (problems: exit 78), then runs every
 * check at once within one deadline: config warnings, headset, audio devices, LCD, SIP
 * registration, MQTT connection, STUN/TURN servers (rtp.ice), clock synchronisation, disk room
 * for the outbox.
 * Exit 0 when nothing failed (warnings do not fail), 1 otherwise.
 */
import { parseArgs } from "node:util";
import { ConfigError, formatProblem, type LoadedConfig, loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { UDEV_GROUP, UDEV_RULES_FILE } from "../headset/udev-rules.js";
// The doctor builds SIP exactly as `run` does.
import { buildSip } from "../wiring.js";
import {
  audioFinding,
  clockFinding,
  configWarningFinding,
  diskFinding,
  type HeadsetOutcome,
  headsetFinding,
  lcdFinding,
  mqttFinding,
  sipFinding,
  tlsKeys,
} from "./doctor-classify.js";
import { iceChecks } from "./doctor-ice.js";
import {
  probeAlsa,
  probeClock,
  probeDisk,
  probeHeadset,
  probeLcd,
  probeMqtt,
  probeSip,
  type RunCommand,
  runCommand,
} from "./doctor-probes.js";
import {
  type DoctorReport,
  exitCode,
  type Finding,
  finding,
  formatJson,
  formatText,
} from "./doctor-report.js";

export interface DoctorResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr?: string;
}

/** Seams for tests; the CLI passes none. */
export interface DoctorDeps {
  readonly env?: NodeJS.ProcessEnv;
  readonly run?: RunCommand;
  readonly procRoot?: string;
}

const DEFAULT_TIMEOUT_S = 8;
/** Kept from the budget for stopping what was started (SIP unregisters, MQTT disconnects). */
const STOP_RESERVE_MS = 1500;
/** A check that overruns the deadline by this much is reported as hung and left behind. */
const HANG_GRACE_MS = 4000;

const USAGE = "usage: cuffia doctor [-c FILE] [--json] [--timeout SECONDS]\n";

export async function doctorCommand(args: string[], deps: DoctorDeps = {}): Promise<DoctorResult> {
  let values: { config?: string; json?: boolean; timeout?: string };
  try {
    values = parseArgs({
      args,
      options: {
        config: { type: "string", short: "c" },
        json: { type: "boolean" },
        timeout: { type: "string" },
      },
      allowPositionals: false,
    }).values;
  } catch (e) {
    return { code: 64, stdout: "", stderr: `${e instanceof Error ? e.message : String(e)}\n${USAGE}` };
  }
  const timeoutS = values.timeout === undefined ? DEFAULT_TIMEOUT_S : Number(values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS < 1 || timeoutS > 120)
    return { code: 64, stdout: "", stderr: `--timeout must be a number of seconds (1-120)\n${USAGE}` };
  const env = deps.env ?? process.env;
  const file = values.config ?? env["CUFFIA_CONFIG"] ?? "/etc/cuffia/config.yaml";

  let loaded: LoadedConfig;
  try {
    loaded = loadConfig(file, { env });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const lines = e.problems.map(formatProblem);
    const stderr = `${lines.join("\n")}\n${e.problems.length} problem(s) in ${file}: fix them first (cuffia check -c ${file})\n`;
    const stdout = values.json
      ? `${JSON.stringify({ config: file, ok: false, config_problems: lines }, null, 2)}\n`
      : "";
    return { code: 78, stdout, stderr };
  }

  const findings = await runChecks(loaded, timeoutS * 1000, deps);
  const report: DoctorReport = { config: file, agent: loaded.config.agent.id, findings };
  return { code: exitCode(findings), stdout: values.json ? formatJson(report) : formatText(report) };
}

/** Every check at once; the findings come back in a fixed order whatever finishes first. */
export async function runChecks(
  loaded: LoadedConfig,
  budgetMs: number,
  deps: DoctorDeps = {},
): Promise<Finding[]> {
  const c = loaded.config;
  const run = deps.run ?? runCommand;
  const waitMs = Math.max(1000, budgetMs - STOP_RESERVE_MS);
  const guard = (check: string, work: () => Promise<Finding | Finding[]>): Promise<Finding[]> => {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<Finding[]>((resolve) => {
      timer = setTimeout(
        () =>
          resolve([
            finding(
              check,
              "fail",
              `the check did not finish within ${Math.round((budgetMs + HANG_GRACE_MS) / 1000)} s`,
              "run it again; if it keeps hanging, report it with `cuffia devices` output",
            ),
          ]),
        budgetMs + HANG_GRACE_MS,
      );
      timer.unref();
    });
    const done = work().then(
      (f) => (Array.isArray(f) ? f : [f]),
      (e: unknown) => [
        finding(
          check,
          "fail",
          `the check itself failed: ${e instanceof Error ? e.message : String(e)}`,
          null,
        ),
      ],
    );
    return Promise.race([done, hung]).finally(() => clearTimeout(timer));
  };

  const sides = (["sip", "headset", "lcd", "mqtt"] as const).filter((k) => c[k] !== undefined);
  const configFindings: Finding[] = [
    finding("config", "ok", `valid (agent ${c.agent.id}; sides: ${sides.join(", ") || "none"})`),
    ...loaded.warnings.map(configWarningFinding),
  ];

  const headsetOutcome: Promise<HeadsetOutcome | null> = c.headset
    ? probeHeadset(c.headset.match)
    : Promise.resolve(null);
  // Keep the rejection for the headset check; audio only wants the card.
  headsetOutcome.catch(() => undefined);

  const checks = [
    guard("headset", async () => {
      const o = await headsetOutcome;
      if (!c.headset || o === null) return finding("headset", "skip", "not configured (no headset section)");
      return headsetFinding(o, describeMatch(c.headset.match), {
        rulesFile: UDEV_RULES_FILE,
        group: UDEV_GROUP,
      });
    }),
    guard("audio", () => audioChecks(c, headsetOutcome, run, deps.procRoot)),
    guard("lcd", async () =>
      c.lcd
        ? lcdFinding(await probeLcd(c.lcd, waitMs), c.lcd)
        : finding("lcd", "skip", "not configured (no lcd section)"),
    ),
    guard("sip", async () => {
      const sip = c.sip;
      if (!sip) return finding("sip", "skip", "not configured (no sip section)");
      return sipFinding(await probeSip(c, buildSip, waitMs), {
        aor: sip.aor,
        username: sip.username,
        server: sip.server,
      });
    }),
    guard("mqtt", async () => {
      const m = c.mqtt;
      if (!m) return finding("mqtt", "skip", "not configured (no mqtt section)");
      return mqttFinding(await probeMqtt(c, waitMs), { url: m.url, username: m.username ?? null });
    }),
    guard("ice", () => iceChecks(c, waitMs)),
    guard("clock", async () => clockFinding(await probeClock(run), tlsKeys(c))),
    guard("disk", async () => {
      const d = await probeDisk(c.state_dir);
      return diskFinding(
        c.state_dir,
        d.dir,
        d.freeBytes,
        c.mqtt ? Math.round(c.mqtt.outbox_max_mb * 1024 * 1024) : null,
      );
    }),
  ];
  const results = await Promise.all(checks);
  return [...configFindings, ...results.flat()];
}

function describeMatch(m: NonNullable<Config["headset"]>["match"]): string | null {
  if (m === "auto" || m === "keyboard") return null;
  if ("path" in m) return m.path;
  const h = (n: number) => n.toString(16).padStart(4, "0");
  return `${h(m.vendor_id)}:${h(m.product_id)}`;
}

/** Audio devices matter only for calls: checked when there is a sip section. */
async function audioChecks(
  c: Config,
  headset: Promise<HeadsetOutcome | null>,
  run: RunCommand,
  procRoot: string | undefined,
): Promise<Finding[]> {
  if (!c.sip) return [];
  const out: Finding[] = [];
  const card = async (): Promise<string | null> => {
    const o = await headset.catch(() => null);
    return o?.kind === "found" ? o.headset.card : null;
  };
  const { source, sink } = c.audio;
  if (source.type === "microphone")
    out.push(
      audioFinding("microphone", source.device, await probeAlsa("microphone", run, procRoot), await card()),
    );
  if (sink.type === "speaker")
    out.push(audioFinding("speaker", sink.device, await probeAlsa("speaker", run, procRoot), await card()));
  return out;
}
