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
 * and a pluggable "headset" in front of the same sinks, for hotplug tests: `cuffia_lab_headset_mic`
 * and `cuffia_lab_headset_speaker` reach a remap source (of the mic sink's monitor) and a remap
 * sink (into the speaker sink) that `unplugHeadset()` unloads and `plugHeadset()` loads again
 * under the same names, while the test's feed and ear (on the sinks themselves) stay.
 *
 * Processes that should see these names get `alsaEnv` (ALSA_CONFIG_PATH with the system
 * alsa.conf first). Started and stopped by pid, like the lab's Kamailio.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AudioFault } from "../../src/audio/audio.js";
import type { DeviceLatency } from "../../src/audio/latency.js";
import { DEFAULT_REALTIME_PRIORITY, decideRealtime, ownPermission } from "../../src/audio/realtime.js";
import type { AudioXruns } from "../../src/core/types.js";
import { type Logger, silentLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { SipAgent } from "../../src/sip/sip-agent.js";
import { Inputs, testSipOptions } from "../sip/harness.js";
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
    readonly headsetMic: string;
    readonly headsetSpeaker: string;
  };
  /** Removes the headset's source and sink (arecord/aplay on them fail, as on a real unplug). */
  unplugHeadset(): Promise<void>;
  /** Adds them back under the same names. */
  plugHeadset(): Promise<void>;
  /** Rate of the null sinks (the "card's" native rate). */
  readonly rate: number;
  /** pactl against this server. */
  pactl(...args: string[]): Promise<string>;
  /** SCHED_RR priority of every PulseAudio thread, or null when not permitted (normal priority). */
  readonly realtimePriority: number | null;
  stop(): Promise<void>;
}

/** Runs one command on PulseAudio's CLI socket; resolves with what it answered. */
function cli(path: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    const s = createConnection(path);
    s.setEncoding("utf8");
    s.once("connect", () => s.end(`${command}\n`));
    s.on("data", (d: string) => {
      out += d;
    });
    s.once("error", reject);
    s.once("close", () => resolve(out));
  });
}

export const SYSTEM_ALSA_CONF = "/usr/share/alsa/alsa.conf";

/**
 * The card's real-time priority: above the audio processes' (audio.realtime_priority, 10 by
 * default), as a hardware card's interrupt and DMA are above every process. PulseAudio makes
 * only its sinks' I/O threads real-time; its main thread, which reads the clients' audio off
 * their sockets (there is no shared memory here: --disable-shm), would stay at normal priority
 * and, on a loaded machine, deliver aplay's periods to the sink late: the stream underruns with
 * aplay on time, something a hardware card never does. So all its threads are put at SCHED_RR
 * once it runs (`chrt -a -r -p`), with a private daemon.conf giving the same priority to the
 * threads it makes real-time itself, not whatever /etc/pulse says on this machine.
 */
export const LAB_CARD_PRIORITY = DEFAULT_REALTIME_PRIORITY + 10;

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
  const rt = decideRealtime(LAB_CARD_PRIORITY, ownPermission());
  const daemonConf = join(dir, "daemon.conf");
  await writeFile(
    daemonConf,
    rt.use
      ? `high-priority = yes\nnice-level = -11\nrealtime-scheduling = yes\nrealtime-priority = ${rt.priority}\nrlimit-rtprio = ${rt.priority}\n`
      : "realtime-scheduling = no\n",
  );
  env.PULSE_CONFIG = daemonConf;
  const args = [
    "-n", // no default.pa: only the modules below
    "--daemonize=no",
    "--use-pid-file=no",
    "--exit-idle-time=-1",
    "--disable-shm=yes",
    "--log-target=stderr",
    "--log-level=notice",
    `--load=module-native-protocol-unix socket=${socket} auth-anonymous=1`,
    // pactl cannot kill a stream; the CLI protocol can (unplugHeadset).
    `--load=module-cli-protocol-unix socket=${join(runtime, "cli")}`,
    `--load=${sink("mic")}`,
    `--load=${sink("speaker")}`,
    // Where PulseAudio moves the streams of an unplugged headset (see unplugHeadset).
    `--load=${sink("limbo")}`,
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
        return sinks.includes("speaker") && sinks.includes("mic") && sinks.includes("limbo");
      },
      10_000,
      50,
    );
    // PulseAudio puts its main thread back to normal priority when it starts (only its I/O
    // threads follow daemon.conf): once it is up, all its threads go to SCHED_RR. Threads it
    // makes later (a plugged headset's remap sink) inherit it or take daemon.conf's priority.
    if (rt.use) await execFileAsync("chrt", ["-a", "-r", "-p", String(rt.priority), String(proc.pid)]);
    // Before any stream exists: a change of default moves the streams that named no device.
    await pactl("set-default-sink", "limbo");
    await pactl("set-default-source", "limbo.monitor");
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
      pcm("cuffia_lab_headset_mic", "headset_mic", false),
      pcm("cuffia_lab_headset_speaker", "headset_speaker", true),
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
  let headsetModules: string[] = [];
  const plugHeadset = async (): Promise<void> => {
    if (headsetModules.length > 0) return;
    const common = ["channels=1", "channel_map=mono", `rate=${rate}`];
    headsetModules = [
      (
        await pactl(
          "load-module",
          "module-remap-source",
          "source_name=headset_mic",
          "master=mic.monitor",
          ...common,
        )
      ).trim(),
      (
        await pactl(
          "load-module",
          "module-remap-sink",
          "sink_name=headset_speaker",
          "master=speaker",
          ...common,
        )
      ).trim(),
    ];
  };
  const unplugHeadset = async (): Promise<void> => {
    // A real card's streams fail when it goes; PulseAudio moves them to the default sink and
    // source instead (an empty "limbo" null sink here), so they are killed there by index.
    const ids = (await pactl("list", "short", "sinks")) + (await pactl("list", "short", "sources"));
    const idOf = (name: string) => new RegExp(`^(\\d+)\\s+${name}\\s`, "m").exec(ids)?.[1];
    const doomed: string[] = [];
    for (const [kind, kill, dev] of [
      ["sink-inputs", "kill-sink-input", idOf("headset_speaker")],
      ["source-outputs", "kill-source-output", idOf("headset_mic")],
    ] as const) {
      for (const line of (await pactl("list", "short", kind)).split("\n")) {
        const [stream, on] = line.split("\t");
        if (stream && on === dev) doomed.push(`${kill} ${stream}`);
      }
    }
    for (const m of headsetModules) await pactl("unload-module", m);
    headsetModules = [];
    for (const command of doomed) await cli(join(runtime, "cli"), command);
  };
  try {
    await plugHeadset();
  } catch (e) {
    for (const k of keepAlive) await stopProcess(k, 1000);
    await stopProcess(proc, 2000);
    throw e;
  }
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
      headsetMic: "cuffia_lab_headset_mic",
      headsetSpeaker: "cuffia_lab_headset_speaker",
    },
    unplugHeadset,
    plugHeadset,
    rate,
    pactl,
    realtimePriority: rt.use ? rt.priority : null,
    async stop() {
      for (const k of keepAlive) await stopProcess(k, 1000);
      await stopProcess(proc, 3000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The desk's SIP side as extension 1018 on the lab Kamailio (ws://), its audio on the card's
 * `mic` and `speaker` PCMs: started and registered. Shared by the card's call tests and the
 * mouth-to-ear benchmark.
 */
export async function startDeskOnCard(o: {
  readonly wsPort: number;
  readonly mic: string;
  readonly speaker: string;
  readonly latency: DeviceLatency;
  readonly rtp: { readonly portMin: number; readonly portMax: number; readonly codecs: readonly string[] };
  readonly log?: Logger;
  readonly onAudioFault?: (callId: string, fault: AudioFault) => void;
  readonly onAudioXruns?: (callId: string, xruns: AudioXruns | null) => void;
}): Promise<{ agent: SipAgent; inputs: Inputs }> {
  const log = o.log ?? silentLogger;
  const agent = new SipAgent({
    options: testSipOptions(`ws://127.0.0.1:${o.wsPort}`, {
      aor: "sip:1018@127.0.0.1",
      username: "1018",
      password: "pw1018",
    }),
    media: createMediaFactory({
      audio: {
        source: { type: "microphone", device: o.mic, latency: o.latency },
        sink: { type: "speaker", device: o.speaker, latency: o.latency },
      },
      rtp: { address: "127.0.0.1", ...o.rtp },
      log,
      ...(o.onAudioFault ? { onAudioFault: o.onAudioFault } : {}),
      ...(o.onAudioXruns ? { onAudioXruns: o.onAudioXruns } : {}),
    }),
    log,
  });
  const inputs = new Inputs();
  await agent.start(inputs.emit);
  await inputs.waitForSip((i) => i.sip === "registered");
  return { agent, inputs };
}
