/**
 * `npm run demo`: a whole desk on this machine. Checks (and installs, with the lab's script) the
 * Debian packages, starts the lab Kamailio, three baresips (two citizens and a service desk),
 * and the daemon in this process with the embedded MQTT broker, a keyboard headset and the
 * terminal LCD; a small switchboard publishes queue figures and has the citizens call the desk.
 * The console shows the LCD at the top and a panel below it. Ctrl-C, q or SIGTERM stop
 * everything (by pid) and give the terminal back as it was.
 */
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { type App, buildApp } from "../../src/app.js";
import { parseConfig } from "../../src/config/load.js";
import type { Command } from "../../src/core/types.js";
import { createLogger } from "../../src/log/logger.js";
import type { Baresip } from "../lab/baresip.js";
import { startBaresip } from "../lab/baresip.js";
import { type Kamailio, startKamailio } from "../lab/kamailio.js";
import { baresipPort, freePort } from "../lab/ports.js";
import { missingCommands, repoRoot } from "../lab/proc.js";
import { missingPackages, packageOf, runInstallScript } from "./packages.js";
import { ansi, LCD_COLS, LCD_ROWS, type PanelModel, panelLines, Screen, sideLines } from "./screen.js";
import { CALLER_LANGUAGES, type CallerLanguage, Switchboard } from "./switchboard.js";
import {
  CALLER_TEXT,
  type DeskLanguage,
  makeVoice,
  OPERATOR_TEXT,
  SERVICE_DESK_TEXT,
  type Voice,
} from "./voices.js";

/** The repository (the demo runs compiled from test/demo-app/dist/, at another depth than its source). */
const ROOT = repoRoot(import.meta.url);
const INSTALL_SCRIPT = join(ROOT, "test", "lab", "install.sh");
const DESK_LANGUAGES: readonly DeskLanguage[] = ["it", "en", "fr", "es"];
const AGENT = { id: "demo", name: "Sportello demo" };
const CITIZENS = ["2001", "2002"];
const SERVICE_DESK = "2003";

const HELP = `cuffia demo — a whole desk on this machine: PBX, calls, headset keys, LCD, presence

usage: npm run demo [-- options]      (or node test/demo-app/dist/test/demo-app/cli.js [options])

  --language it|en|fr|es   the LCD's language (default: from $LANG, else en)
  --call-after SECONDS     first call this long after the desk is ready (default 5)
  --call-every SECONDS     next call this long after the desk is free again (default 15,
                           or $CUFFIA_DEMO_CALL_EVERY)
  --audio auto|files|card  call audio: WAV files, or the sound card (default auto: the card
                           when ALSA has one)
  --dir DIR                where config, logs, recordings and the control socket go
                           (default a new /tmp/cuffia-demo-XXXXXX)
  --no-install             do not install missing Debian packages, just say what is missing

keys: space/h answer or hang up, m mute, f hold, r reject, p pause/resume, u ready,
      t transfer to polo1, c call now, d dial the service desk, q or Ctrl-C quit
`;

interface DemoArgs {
  readonly language: DeskLanguage;
  readonly callAfter: number;
  readonly callEvery: number;
  readonly audio: "auto" | "files" | "card";
  readonly dir: string | undefined;
  readonly install: boolean;
}

/** it_IT.UTF-8 → it; anything the LCD does not speak → en. */
export function languageFromEnv(env: NodeJS.ProcessEnv): DeskLanguage {
  const raw = env["LC_ALL"] || env["LC_MESSAGES"] || env["LANG"] || "";
  const code = raw.slice(0, 2).toLowerCase();
  return (DESK_LANGUAGES as readonly string[]).includes(code) ? (code as DeskLanguage) : "en";
}

function seconds(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new UsageError(`${name} must be a number of seconds, not "${value}"`);
  return n;
}

class UsageError extends Error {}

export function parseDemoArgs(argv: readonly string[], env: NodeJS.ProcessEnv): DemoArgs | "help" {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      language: { type: "string" },
      "call-after": { type: "string" },
      "call-every": { type: "string" },
      audio: { type: "string" },
      dir: { type: "string" },
      "no-install": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: false,
  });
  if (values.help) return "help";
  const language = values.language ?? languageFromEnv(env);
  if (!(DESK_LANGUAGES as readonly string[]).includes(language))
    throw new UsageError(`--language must be one of ${DESK_LANGUAGES.join(", ")}`);
  const audio = values.audio ?? "auto";
  if (audio !== "auto" && audio !== "files" && audio !== "card")
    throw new UsageError("--audio must be auto, files or card");
  return {
    language: language as DeskLanguage,
    callAfter: seconds(values["call-after"] ?? env["CUFFIA_DEMO_CALL_AFTER"], 5, "--call-after"),
    callEvery: seconds(values["call-every"] ?? env["CUFFIA_DEMO_CALL_EVERY"], 15, "--call-every"),
    audio,
    dir: values.dir,
    install: !values["no-install"],
  };
}

/** ALSA playback and capture devices, from /proc/asound/pcm ("00-00: ... : playback 1 : capture 1"). */
async function soundCard(): Promise<{ playback: boolean; capture: boolean }> {
  const pcm = await readFile("/proc/asound/pcm", "utf8").catch(() => "");
  const tools = await missingCommands(["aplay", "arecord"]);
  return {
    playback: /playback \d+/.test(pcm) && !tools.includes("aplay"),
    capture: /capture \d+/.test(pcm) && !tools.includes("arecord"),
  };
}

const out = (s: string): void => {
  process.stdout.write(s);
};

/** Runs the demo until Ctrl-C, q or SIGTERM; resolves with the exit code. */
export async function runDemo(argv: readonly string[]): Promise<number> {
  let args: DemoArgs;
  try {
    const parsed = parseDemoArgs(argv, process.env);
    if (parsed === "help") {
      out(HELP);
      return 0;
    }
    args = parsed;
  } catch (e) {
    process.stderr.write(`cuffia demo: ${(e as Error).message}\n\n${HELP}`);
    return 64;
  }

  out("Cuffia demo — a whole desk on this machine\n");
  // 1. The Debian packages.
  let missing = await missingPackages();
  if (missing.length > 0 && args.install) {
    out(`Installing the lab's Debian packages (missing: ${missing.join(", ")}) with ${INSTALL_SCRIPT}\n`);
    const code = await runInstallScript(INSTALL_SCRIPT);
    if (code !== 0) process.stderr.write(`cuffia demo: ${INSTALL_SCRIPT} failed (exit ${code})\n`);
    missing = await missingPackages();
  }
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map(packageOf))];
    process.stderr.write(
      `cuffia demo: missing ${missing.join(", ")}.\n` +
        (pkgs.length > 0 ? `Install them with: sudo apt-get install -y ${pkgs.join(" ")}\n` : "") +
        `(or run ${INSTALL_SCRIPT} as root), then npm run demo again.\n`,
    );
    return 69;
  }

  const dir = resolve(args.dir ?? (await mkdtemp(join(tmpdir(), "cuffia-demo-"))));
  await mkdir(join(dir, "calls"), { recursive: true });
  await mkdir(join(dir, "voices"), { recursive: true });
  await mkdir(join(dir, "state"), { recursive: true });
  out(`Demo folder: ${dir}\n`);

  const demo = new Demo(args, dir);
  return demo.run();
}

class Demo {
  readonly #args: DemoArgs;
  readonly #dir: string;
  #kamailio: Kamailio | null = null;
  readonly #baresips: Baresip[] = [];
  #app: App | null = null;
  #switchboard: Switchboard | null = null;
  #screen: Screen | null = null;
  #logStream: ReturnType<typeof createWriteStream> | null = null;
  readonly #notes: string[] = [];
  #ticker: NodeJS.Timeout | undefined;
  #drawPending = false;
  #stopping: Promise<void> | null = null;
  #resolveExit: (code: number) => void = () => {};
  #exitCode = 0;
  #startDone: Promise<void> = Promise.resolve();
  #rawSet = false;
  #panelEnd = LCD_ROWS + 1;
  #audioLines: string[] = [];
  #side: string[] = [];
  readonly #onKey = (chunk: Buffer | string) => this.#keys(chunk);
  readonly #onSignal = (signal: NodeJS.Signals) => void this.stop(`${signal}`);
  /** A bug must not leave the terminal raw and the cursor hidden (children die by pid on exit). */
  readonly #onCrash = (e: Error) => {
    this.#restoreTerminal();
    process.stderr.write(`cuffia demo: crashed: ${e.stack ?? e.message}\nLogs are in ${this.#dir}\n`);
    process.exit(1);
  };
  readonly #onResize = () => {
    this.#screen?.invalidate();
    this.#draw();
  };

  constructor(args: DemoArgs, dir: string) {
    this.#args = args;
    this.#dir = dir;
  }

  async run(): Promise<number> {
    const exited = new Promise<number>((r) => {
      this.#resolveExit = r;
    });
    process.on("SIGINT", this.#onSignal);
    process.on("SIGTERM", this.#onSignal);
    process.on("SIGHUP", this.#onSignal);
    process.once("uncaughtException", this.#onCrash);
    this.#startDone = this.#start();
    try {
      await this.#startDone;
    } catch (e) {
      this.#exitCode = 1;
      await this.stop("start failed");
      process.stderr.write(`cuffia demo: could not start: ${(e as Error).message}\n`);
      process.stderr.write(`Logs are in ${this.#dir}\n`);
    }
    return exited;
  }

  async #start(): Promise<void> {
    const dir = this.#dir;
    const lang = this.#args.language;

    out("Making the voices (espeak-ng)...\n");
    const voicesDir = join(dir, "voices");
    const callerVoices = await Promise.all(
      CALLER_LANGUAGES.map((l, i) =>
        makeVoice(voicesDir, `citizen-${l}`, CALLER_TEXT[l], l, 100, 440 + 110 * i),
      ),
    );
    const voices = Object.fromEntries(CALLER_LANGUAGES.map((l, i) => [l, callerVoices[i]!.path])) as Record<
      CallerLanguage,
      string
    >;
    const [operator, serviceDesk] = await Promise.all([
      makeVoice(voicesDir, `operator-${lang}`, OPERATOR_TEXT[lang], lang, 10, 1000),
      makeVoice(voicesDir, `service-desk-${lang}`, SERVICE_DESK_TEXT[lang], lang, 600, 330),
    ]);
    if (this.#stopping) return;

    out("Starting the PBX (Kamailio)...\n");
    this.#kamailio = await startKamailio({ dir: join(dir, "kamailio") });
    const kam = this.#kamailio;
    if (this.#stopping) return;
    out(`  Kamailio pid ${kam.pid}, SIP ws://127.0.0.1:${kam.wsPort}\n`);

    out("Starting the citizens and the service desk (baresip)...\n");
    const started = await Promise.allSettled([
      ...CITIZENS.map(async (user) =>
        startBaresip({
          kamailio: kam,
          user,
          port: await baresipPort(),
          audioFile: voices.it,
          dir: join(dir, `baresip-${user}`),
        }),
      ),
      (async () =>
        startBaresip({
          kamailio: kam,
          user: SERVICE_DESK,
          port: await baresipPort(),
          autoAnswer: true,
          audioFile: serviceDesk.path,
          dir: join(dir, `baresip-${SERVICE_DESK}`),
        }))(),
    ]);
    for (const s of started) if (s.status === "fulfilled") this.#baresips.push(s.value);
    const failed = started.find((s) => s.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    if (this.#stopping) return;
    const citizens = this.#baresips.filter((b) => CITIZENS.includes(b.user));

    // Audio: the sound card when there is one (and --audio allows), else WAV files.
    const card = this.#args.audio === "files" ? { playback: false, capture: false } : await soundCard();
    if (this.#args.audio === "card" && !card.playback)
      out("  --audio card: ALSA has no playback device here; using WAV files\n");
    const callsPattern = join(dir, "calls", "call-{call}.wav");
    const source = card.capture
      ? { type: "microphone", device: "default" }
      : { type: "file", path: operator.path, loop: true };
    const sink = card.playback
      ? { type: "speaker", device: "default" }
      : { type: "file", path: callsPattern };
    this.#audioLines = [
      `Audio      you say: ${card.capture ? "the microphone (ALSA default)" : `${this.#rel(operator.path)} (${describeVoice(operator)}, looped)`}`,
      `           you hear: ${card.playback ? "the speaker (ALSA default)" : `${this.#rel(callsPattern)} (one WAV per call)`}`,
    ];

    const mqttPort = await freePort();
    const socket = join(dir, "control.sock");
    await writeFile(join(dir, "sip.password"), kam.users["1017"] ?? "pw1017", { mode: 0o600 });
    const configFile = join(dir, "config.yaml");
    const configText = stringify({
      agent: { id: AGENT.id, name: AGENT.name, language: lang },
      sip: {
        server: `ws://127.0.0.1:${kam.wsPort}`,
        aor: `sip:1017@${kam.domain}`,
        username: "1017",
        password_file: "sip.password",
        transfer_targets: { polo1: `sip:${SERVICE_DESK}@${kam.domain}` },
        register_expires: 300,
      },
      // Every party is on this machine (loopback), and the demo's citizens speak clear RTP:
      // `off` keeps the LCD's on-call screen free of the UNSECURED mark a teleworking desk needs.
      rtp: {
        address: "127.0.0.1",
        port_min: 22000,
        port_max: 22999,
        codecs: ["pcma", "pcmu"],
        encryption: "off",
      },
      audio: { source, sink },
      headset: { match: "keyboard", ringer: false },
      lcd: { port: "-", driver: "terminal", size: "20x4", charset: "a02" },
      mqtt: {
        url: "embedded",
        embedded_port: mqttPort,
        queues: ["sociale", "casa"],
        client_id: `cuffia-demo-${process.pid}`,
      },
      policy: { wrap_up_seconds: 15, ring_timeout_seconds: 30 },
      control: { socket },
      log: { level: "info" },
      state_dir: join(dir, "state"),
    });
    await writeFile(configFile, `# Written by npm run demo\n${configText}`);
    const { config } = parseConfig(configText, configFile);

    const logFile = join(dir, "cuffia.log");
    this.#logStream = createWriteStream(logFile, { flags: "a" });
    const log = createLogger({ level: config.log.level, destination: this.#logStream });

    await writeFile(
      join(dir, "pids.json"),
      `${JSON.stringify({ demo: process.pid, kamailio: kam.pid, baresip: this.#baresips.map((b) => b.pid) })}\n`,
    );

    this.#side = [
      `desk "${AGENT.id}" · extension 1017 · LCD in ${lang}`,
      `PBX      Kamailio ws://127.0.0.1:${kam.wsPort} (pid ${kam.pid})`,
      `Broker   embedded mqtt://127.0.0.1:${mqttPort}`,
      `Callers  ${CITIZENS.join(" ")} citizens · ${SERVICE_DESK} polo1`,
      `Folder   ${dir}`,
    ];

    // From here on the terminal belongs to the LCD and the panel.
    if (process.stdin.isTTY) this.#rawSet = true;
    out(ansi.clearScreen + ansi.hideCursor);
    this.#screen = new Screen(process.stdout);
    process.stdout.on("resize", this.#onResize);

    const app = await buildApp(config, log, {
      terminal: {
        input: process.stdin,
        output: process.stdout,
        interrupt: () => void this.stop("Ctrl-C"),
      },
    });
    this.#app = app;
    app.runner.subscribe(() => this.#draw());
    await app.start();
    if (this.#stopping) return;

    const sb = new Switchboard({
      brokerUrl: `mqtt://127.0.0.1:${mqttPort}`,
      topicPrefix: config.mqtt?.topic_prefix ?? "cuffia",
      agentId: AGENT.id,
      queues: config.mqtt?.queues ?? [],
      callers: citizens,
      deskUri: `sip:1017@${kam.domain}`,
      voices,
      firstCallAfter: this.#args.callAfter,
      callEvery: this.#args.callEvery,
      giveUpSeconds: 25,
      talkSeconds: [30, 60],
      statsEveryMs: 3000,
      onChange: () => this.#draw(),
      note: (text) => this.#note(text),
    });
    this.#switchboard = sb;
    await sb.start();
    // The demo's operator starts her shift.
    this.#command({ cmd: "login" }, "login");

    process.stdin.on("data", this.#onKey);
    this.#ticker = setInterval(() => this.#draw(), 1000);
    log.info({ dir, config: configFile }, "demo running");
    this.#draw();
  }

  #rel(path: string): string {
    const r = relative(process.cwd(), path);
    return r.length < path.length && !r.startsWith("../..") ? r : path;
  }

  #note(text: string): void {
    const time = new Date().toISOString().slice(11, 19);
    this.#notes.push(/^\d\d:\d\d:\d\d /.test(text) ? text : `${time} ${text}`);
    if (this.#notes.length > 100) this.#notes.splice(0, this.#notes.length - 100);
    this.#draw();
  }

  #command(command: Command, key: string): void {
    const app = this.#app;
    if (!app) return;
    const outcome = app.runner.dispatch({ type: "command", command, origin: "control" });
    if (!outcome.ok) this.#note(`${key}: ${outcome.error.message}`);
  }

  #keys(chunk: Buffer | string): void {
    const text = typeof chunk === "string" ? chunk : chunk.toString("utf8");
    for (const ch of text.toLowerCase()) {
      if (ch === "q") void this.stop("q");
      else if (ch === "t") this.#command({ cmd: "transfer", target: "polo1" }, "t (transfer)");
      else if (ch === "d")
        this.#command({ cmd: "dial", target: `sip:${SERVICE_DESK}@127.0.0.1` }, "d (dial the service desk)");
      else if (ch === "c") this.#switchboard?.callNow();
    }
  }

  /** Redraws at most once per turn of the event loop. */
  #draw(): void {
    if (this.#drawPending || !this.#screen || this.#stopping) return;
    this.#drawPending = true;
    setImmediate(() => {
      this.#drawPending = false;
      if (this.#stopping) return;
      try {
        this.#paint();
      } catch (e) {
        this.#logStream?.write(
          `${JSON.stringify({ level: "error", msg: "demo draw failed", err: String(e) })}\n`,
        );
      }
    });
  }

  #paint(): void {
    const screen = this.#screen;
    const app = this.#app;
    if (!screen || !app) return;
    const cols = process.stdout.columns ?? 80;
    const rows = process.stdout.rows ?? 24;
    const sb = this.#switchboard;
    const socket = app.config.control.socket;
    const model: PanelModel = {
      title: "Cuffia demo",
      side: this.#side,
      desk: app.runner.state,
      presence: sb?.presence ?? null,
      queues: sb?.queues ?? {},
      switchboard: sb?.describe() ?? "starting",
      events: this.#notes,
      audio: this.#audioLines,
      logs: `${this.#rel(join(this.#dir, "cuffia.log"))} (daemon) · ${this.#rel(this.#dir)}/kamailio, baresip-*`,
      ctl: `node ${this.#rel(join(ROOT, "dist", "cli.js"))} ctl status --socket ${socket}`,
      now: Date.now(),
    };
    screen.put(1, LCD_COLS + 3, sideLines(model), cols - LCD_COLS - 3);
    const lines = panelLines(model, rows);
    screen.put(LCD_ROWS + 2, 1, lines, cols);
    this.#panelEnd = LCD_ROWS + 1 + lines.length;
  }

  /** Stops everything that was started, in reverse order; idempotent. A second Ctrl-C exits at once. */
  stop(why: string): Promise<void> {
    if (this.#stopping) {
      if (why === "Ctrl-C" || why === "SIGINT") {
        this.#restoreTerminal();
        process.stderr.write("cuffia demo: second interrupt, exiting now\n");
        process.exit(130); // lab children are killed by pid on exit (test/lab/proc.ts)
      }
      return this.#stopping;
    }
    this.#stopping = (async () => {
      // A stop during the start waits for it (each step bails out early) to stop what it made.
      await this.#startDone.catch(() => undefined);
      clearInterval(this.#ticker);
      process.stdin.off("data", this.#onKey);
      process.stdout.off("resize", this.#onResize);
      if (this.#screen) out(`${this.#belowPanel()}Stopping (${why})...`);
      await this.#switchboard?.stop().catch(() => undefined);
      await this.#app?.stop(5000).catch(() => undefined);
      await Promise.all(this.#baresips.map((b) => b.stop().catch(() => undefined)));
      await this.#kamailio?.stop().catch(() => undefined);
      await new Promise<void>((r) => (this.#logStream ? this.#logStream.end(r) : r()));
      this.#restoreTerminal();
      if (this.#screen) {
        out(`Stopped. Config, logs and call recordings are in ${this.#dir}\n`);
      }
      process.off("SIGINT", this.#onSignal);
      process.off("SIGTERM", this.#onSignal);
      process.off("SIGHUP", this.#onSignal);
      process.off("uncaughtException", this.#onCrash);
      this.#resolveExit(this.#exitCode);
    })();
    return this.#stopping;
  }

  #restoreTerminal(): void {
    const stdin = process.stdin;
    if (stdin.isTTY && this.#rawSet) stdin.setRawMode(false);
    stdin.pause();
    if (this.#screen) out(`${ansi.showCursor}${this.#belowPanel()}`);
  }

  /** Moves to the first row below the panel (scrolling when the panel reaches the bottom), cleared. */
  #belowPanel(): string {
    const rows = process.stdout.rows ?? 24;
    const last = Math.min(this.#panelEnd, rows);
    return `${ansi.goto(last, 1)}\r\n${ansi.eraseBelow}`;
  }
}

function describeVoice(v: Voice): string {
  return v.kind === "speech" ? "espeak-ng" : "a tone: espeak-ng failed";
}
