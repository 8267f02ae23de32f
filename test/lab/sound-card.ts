/**
 * The lab's paced virtual sound card: a private PulseAudio (its own socket and runtime dir under
 * a temporary directory, never the system's or the user's) with two null sinks, reached from
 * arecord/aplay through the ALSA pulse plugin (libasound2-plugins) by PCM names defined in an
 * ALSA config file this module writes. The kernel here has no sound card and no snd-aloop;
 * PulseAudio's null sinks consume and produce audio on PulseAudio's own clock, so the PCMs are
 * paced like a real card (unlike ALSA's `type file` plugin, which runs as fast as it can).
 *
 *   the daemon's microphone  = `cuffia_lab_mic`      captures the "mic" sink's monitor
 *   a test's voice into it   = `cuffia_lab_mic_feed` plays into the "mic" sink
 *   the daemon's speaker     = `cuffia_lab_speaker`  plays into the "speaker" sink
 *   a test's ear on it       = `cuffia_lab_ear`      captures the "speaker" sink's monitor
 *
 * Processes that should see these names get `alsaEnv` (ALSA_CONFIG_PATH with the system
 * alsa.conf first). Started and stopped by pid, like the lab's Kamailio.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileAsync, type Spawned, spawnLogged, stopProcess, waitUntil } from "./proc.js";

export interface VirtualCard {
  readonly dir: string;
  readonly pid: number;
  /** `unix:<socket>` of this PulseAudio. */
  readonly server: string;
  /** The generated ALSA config (the PCMs below). */
  readonly alsaConfig: string;
  /** Environment for processes that use the PCMs: ALSA_CONFIG_PATH (system alsa.conf first). */
  readonly alsaEnv: { readonly ALSA_CONFIG_PATH: string };
  readonly pcm: {
    readonly mic: string;
    readonly micFeed: string;
    readonly speaker: string;
    readonly ear: string;
  };
  /** Rate of the null sinks (the "card's" native rate). */
  readonly rate: number;
  /** pactl against this server. */
  pactl(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export const SYSTEM_ALSA_CONF = "/usr/share/alsa/alsa.conf";

export async function startVirtualCard(options: { rate?: number } = {}): Promise<VirtualCard> {
  const rate = options.rate ?? 48000;
  const dir = await mkdtemp(join(tmpdir(), "cuffia-card-"));
  const runtime = join(dir, "run");
  await mkdir(runtime, { mode: 0o700 });
  await mkdir(join(dir, "state"));
  const socket = join(runtime, "native");
  const server = `unix:${socket}`;
  // Everything PulseAudio could look at points into dir: no system or user instance is touched.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_RUNTIME_DIR: runtime,
    XDG_CONFIG_HOME: join(dir, "config"),
    XDG_STATE_HOME: join(dir, "state"),
    PULSE_RUNTIME_PATH: runtime,
    PULSE_STATE_PATH: join(dir, "state"),
    PULSE_SERVER: server,
  };
  const sink = (name: string) => `module-null-sink sink_name=${name} rate=${rate} channels=1`;
  const args = [
    "-n", // no default.pa: only the modules below
    "--daemonize=no",
    "--use-pid-file=no",
    "--exit-idle-time=-1",
    "--disable-shm=yes",
    "--log-target=stderr",
    "--log-level=notice",
    `--load=module-native-protocol-unix socket=${socket} auth-anonymous=1`,
    `--load=${sink("mic")}`,
    `--load=${sink("speaker")}`,
  ];
  const proc: Spawned = spawnLogged("pulseaudio", args, join(dir, "pulseaudio.log"), { env });
  const pactl = async (...a: string[]): Promise<string> =>
    (await execFileAsync("pactl", ["--server", server, ...a], { env, timeout: 5000 })).stdout;
  try {
    await waitUntil(
      "the lab's PulseAudio to answer",
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`pulseaudio exited (${proc.child.exitCode})`);
        const sinks = await pactl("list", "short", "sinks");
        return sinks.includes("speaker") && sinks.includes("mic");
      },
      10_000,
      50,
    );
  } catch (e) {
    await stopProcess(proc, 2000);
    throw e;
  }
  // handle_underrun: report xruns like a hardware card does (the plugin hides them by default).
  const pcm = (name: string, device: string, underrun: boolean) =>
    `pcm.${name} { type pulse server "${server}" device "${device}"${underrun ? " handle_underrun true" : ""} }`;
  const alsaConfig = join(dir, "asound.conf");
  await writeFile(
    alsaConfig,
    [
      pcm("cuffia_lab_mic", "mic.monitor", false),
      pcm("cuffia_lab_mic_feed", "mic", true),
      pcm("cuffia_lab_speaker", "speaker", true),
      pcm("cuffia_lab_ear", "speaker.monitor", false),
      `ctl.cuffia_lab { type pulse server "${server}" }`,
      "",
    ].join("\n"),
  );
  // A null sink with no stream asking for low latency sleeps up to 2 s between renders, and a
  // new stream's request does not cut that sleep short: aplay then blocks for up to ~1.8 s
  // (seen every time here). A silent stream at 5 ms latency on each sink keeps them rendering
  // every few ms, like a card's interrupts. Zeros mixed in change nothing.
  const keepAlive: Spawned[] = [];
  try {
    for (const sinkName of ["speaker", "mic"]) {
      keepAlive.push(
        spawnLogged(
          "pacat",
          [
            `--server=${server}`,
            "--playback",
            `--device=${sinkName}`,
            "--latency-msec=5",
            "--raw",
            "--format=s16le",
            "--rate=8000",
            "--channels=1",
            "--client-name=cuffia-lab-keepalive",
            "/dev/zero",
          ],
          join(dir, `keepalive-${sinkName}.log`),
          { env },
        ),
      );
    }
    await waitUntil(
      "the keep-alive streams",
      async () => (await pactl("list", "short", "sink-inputs")).trim().split("\n").length >= 2,
      10_000,
      50,
    );
    // The sinks may still be in their long sleep: wait until a 0.1 s sound plays promptly.
    const blip = join(dir, "blip.raw");
    await writeFile(blip, Buffer.alloc(1600));
    const env2 = { ...process.env, ALSA_CONFIG_PATH: `${SYSTEM_ALSA_CONF}:${alsaConfig}` };
    await waitUntil(
      "the virtual card to play in real time",
      async () => {
        const t0 = performance.now();
        await Promise.all(
          ["cuffia_lab_speaker", "cuffia_lab_mic_feed"].map((pcm) =>
            execFileAsync("aplay", ["-q", "-t", "raw", "-f", "S16_LE", "-r", "8000", "-D", pcm, blip], {
              env: env2,
              timeout: 5000,
            }),
          ),
        );
        return performance.now() - t0 < 500;
      },
      15_000,
      0,
    );
  } catch (e) {
    for (const k of keepAlive) await stopProcess(k, 1000);
    await stopProcess(proc, 2000);
    throw e;
  }
  const alsaEnv = { ALSA_CONFIG_PATH: `${SYSTEM_ALSA_CONF}:${alsaConfig}` };
  return {
    dir,
    pid: proc.pid,
    server,
    alsaConfig,
    alsaEnv,
    pcm: {
      mic: "cuffia_lab_mic",
      micFeed: "cuffia_lab_mic_feed",
      speaker: "cuffia_lab_speaker",
      ear: "cuffia_lab_ear",
    },
    rate,
    pactl,
    async stop() {
      for (const k of keepAlive) await stopProcess(k, 1000);
      await stopProcess(proc, 3000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
