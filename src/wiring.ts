/**
 * Where each side's construction from the config lives, and the CLI commands a side brings
 * (`headset inspect`, `lcd preview`, `devices`, `doctor`). main.ts and app.ts stay free of
 * side-specific code.
 */

import { accessSync, constants, readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { sideFactories } from "./app.js";
import { cardDevice } from "./audio/card.js";
import { deviceLatency } from "./audio/latency.js";
import type { AudioOptions } from "./audio/options.js";
import type { Config } from "./config/schema.js";
import type { Side } from "./core/side.js";
import type { HeadsetOptions } from "./headset/options.js";
import type { Logger } from "./log/logger.js";
import { localAddressToward } from "./net-route.js";

// Each side (and each CLI command's module) is imported when it is built, not at start: a desk
// without an LCD never loads serialport, one without presence never loads MQTT.js and aedes, and
// `cuffia check` loads none of them. It keeps the daemon's memory and start time small on a Pi.

export interface CliResult {
  readonly code: number;
  readonly stdout?: string;
  readonly stderr?: string;
}

export const cliCommands: Record<string, (args: string[]) => Promise<CliResult>> = {
  async headset(args) {
    const [sub, ...rest] = args;
    if (sub !== "inspect")
      return {
        code: 64,
        stderr: "usage: cuffia headset inspect --descriptor FILE | --hidraw /dev/hidrawN\n",
      };
    const { values } = parseArgs({
      args: rest,
      options: { descriptor: { type: "string" }, hidraw: { type: "string" } },
    });
    const { headsetInspect } = await import("./headset/inspect.js");
    return headsetInspect({
      ...(values.descriptor !== undefined ? { descriptor: values.descriptor } : {}),
      ...(values.hidraw !== undefined ? { hidraw: values.hidraw } : {}),
    });
  },
  async lcd(args) {
    const [sub, ...rest] = args;
    if (sub !== "preview")
      return {
        code: 64,
        stderr:
          "usage: cuffia lcd preview [--size 20x4] [--language it] [--charset a02] [--situation NAME]\n",
      };
    const { values } = parseArgs({
      args: rest,
      options: {
        size: { type: "string" },
        language: { type: "string" },
        charset: { type: "string" },
        situation: { type: "string" },
        gallery: { type: "boolean" },
      },
    });
    const { lcdGallery, lcdPreview } = await import("./lcd/preview.js");
    if (values.gallery) return { code: 0, stdout: lcdGallery() };
    const r = lcdPreview({
      size: values.size ?? "20x4",
      language: values.language ?? "it",
      ...(values.charset !== undefined ? { charset: values.charset } : {}),
      ...(values.situation !== undefined ? { situation: values.situation } : {}),
    });
    return r.code === 0 ? { code: 0, stdout: r.stdout } : { code: r.code, stderr: r.stdout };
  },
  doctor: async (args) => (await import("./cli/doctor.js")).doctorCommand(args),
  async devices() {
    const { devicesReport } = await import("./cli/devices.js");
    return { code: 0, stdout: `${JSON.stringify(await devicesReport(), null, 2)}\n` };
  },
};

sideFactories.headset = async (config, log, options) => {
  const h = config.headset;
  if (!h) return undefined;
  if (h.match === "keyboard") {
    const { KeyboardHeadset } = await import("./headset/keyboard-headset.js");
    const input = options.terminal?.input ?? process.stdin;
    const tty = input as Readable & { isTTY?: boolean; setRawMode?: (on: boolean) => void };
    const interrupt = options.terminal?.interrupt;
    const side = new KeyboardHeadset({
      input,
      log: log.child("headset"),
      ringer: h.ringer,
      ...(interrupt ? { onInterrupt: interrupt } : {}),
    });
    // Single key presses need a raw terminal; Ctrl-C then arrives as a key (onInterrupt).
    const start = side.start.bind(side);
    const stop = side.stop.bind(side);
    side.start = async (emit) => {
      if (tty.isTTY && tty.setRawMode) tty.setRawMode(true);
      input.resume();
      await start(emit);
    };
    side.stop = async () => {
      await stop();
      if (tty.isTTY && tty.setRawMode) tty.setRawMode(false);
      input.pause();
    };
    return side;
  }
  const match: HeadsetOptions["match"] =
    h.match === "auto"
      ? "auto"
      : "path" in h.match
        ? { path: h.match.path }
        : { vendorId: h.match.vendor_id, productId: h.match.product_id };
  const { HidHeadset } = await import("./headset/hid-headset.js");
  return new HidHeadset({
    options: { match, ringer: h.ringer },
    log: log.child("headset"),
    ...(options.hidBackend ? { devices: options.hidBackend } : {}),
  });
};

sideFactories.lcd = async (config, log, options) => {
  const l = config.lcd;
  if (!l) return undefined;
  const { parseSize } = await import("./lcd/options.js");
  const { SerialLcd } = await import("./lcd/serial-lcd.js");
  const size = parseSize(l.size);
  if (!size) throw new Error(`lcd.size ${l.size} is not a geometry`);
  const toTerminal = l.driver === "terminal" && (l.port === "-" || l.port === "stdout");
  return new SerialLcd({
    options: {
      port: l.port,
      driver: l.driver,
      baud: l.baud,
      cols: size.cols,
      rows: size.rows,
      charset: l.charset,
      language: config.agent.language,
      ...(l.backlight !== undefined ? { backlight: { level: l.backlight } } : {}),
      ...(l.contrast !== undefined ? { contrast: l.contrast } : {}),
      ...(l.refresh_seconds > 0 ? { refreshSeconds: l.refresh_seconds } : {}),
      ...(l.model !== undefined ? { model: l.model } : {}),
    },
    log: log.child("lcd"),
    agentName: config.agent.name,
    ...(toTerminal ? { stream: options.terminal?.output ?? process.stdout } : {}),
  });
};

/** `device: headset` means the ALSA card that shares the matched headset's USB device. */
async function headsetCard(config: Config, log: Logger): Promise<string | undefined> {
  const m = config.headset?.match;
  if (!m || m === "keyboard") return undefined;
  try {
    const { listHeadsets } = await import("./headset/list-headsets.js");
    const found = (await listHeadsets()).filter(
      (h) =>
        m === "auto" ||
        ("path" in m ? h.path === m.path : h.vendorId === m.vendor_id && h.productId === m.product_id),
    );
    const card = found.find((h) => h.alsaCard)?.alsaCard;
    // By the card's id, not its number: a replugged headset may come back as another card.
    if (card) return cardDevice(card.id);
  } catch (e) {
    log.warn({ err: e instanceof Error ? e.message : String(e) }, "cannot look for the headset's sound card");
  }
  return undefined;
}

async function audioOptions(config: Config, log: Logger): Promise<AudioOptions> {
  const { source, sink } = config.audio;
  const wantsCard =
    (source.type === "microphone" && source.device === "headset") ||
    (sink.type === "speaker" && sink.device === "headset");
  let card: string | undefined;
  if (wantsCard) {
    card = await headsetCard(config, log);
    if (!card)
      log.warn('audio device "headset": no headset sound card found now, using the ALSA default device');
  }
  const dev = (d: string) => (d === "headset" ? (card ?? "default") : d);
  const driving = {
    latency: deviceLatency(config.audio.latency),
    ...(config.audio.device_rate !== undefined ? { deviceRate: config.audio.device_rate } : {}),
  };
  return {
    source:
      source.type === "microphone" ? { type: "microphone", device: dev(source.device), ...driving } : source,
    sink: sink.type === "speaker" ? { type: "speaker", device: dev(sink.device), ...driving } : sink,
  };
}

function version(): string {
  try {
    const url = new URL("../package.json", import.meta.url);
    return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
  } catch {
    return "0";
  }
}

sideFactories.sip = async (config, log, _options, desk) => {
  const sip = config.sip;
  if (!sip) return undefined;
  const server = new URL(sip.server);
  const announce =
    config.rtp.advertise ??
    (config.rtp.address !== "0.0.0.0"
      ? config.rtp.address
      : await localAddressToward(server.hostname, Number(server.port) || 5060));
  const { createMediaFactory } = await import("./media/factory.js");
  const { SipAgent } = await import("./sip/sip-agent.js");
  const media = createMediaFactory({
    audio: await audioOptions(config, log),
    rtp: {
      address: config.rtp.address,
      announce,
      portMin: config.rtp.port_min,
      portMax: config.rtp.port_max,
      codecs: config.rtp.codecs,
      mediaTimeoutMs: config.rtp.media_timeout * 1000,
      holdMediaTimeoutMs: config.rtp.hold_media_timeout * 1000,
    },
    log: log.child("media"),
    onAudioFault: (callId, fault) => {
      log
        .child("audio")
        .warn({ call: callId, device: fault.device, retry_ms: fault.retryInMs }, fault.message);
      desk.dispatch({ type: "health", side: "audio", fault: `${fault.device}: ${fault.message}` });
    },
  });
  const agent = new SipAgent({
    options: {
      servers: [sip.server, ...sip.fallback_servers],
      aor: sip.aor,
      username: sip.username,
      password: sip.password,
      ...(sip.display_name !== undefined ? { displayName: sip.display_name } : {}),
      ...(sip.ca_file !== undefined ? { caFile: sip.ca_file } : {}),
      rejectUnauthorized: sip.tls_verify,
      registerExpires: sip.register_expires,
      keepAliveSeconds: sip.keepalive_seconds,
      livenessSeconds: sip.liveness_seconds,
      callInfoHeaders: sip.call_info_headers,
      userAgent: `${sip.user_agent}/${version()}`,
      acceptRefer: sip.accept_refer,
    },
    media,
    log: log.child("sip"),
  });
  return withStartReason(agent, sip.ca_file);
};

/**
 * A SIP side that cannot start says why in `sip_reason` (presence, ctl status, the LCD), not only
 * in a side fault: e.g. a ca_file that `check` saw but that vanished before the daemon read it.
 */
function withStartReason<S extends Side>(side: S, caFile: string | undefined): S {
  const start = side.start.bind(side);
  side.start = async (emit) => {
    try {
      await start(emit);
    } catch (e) {
      let reason = `cannot start: ${e instanceof Error ? e.message : String(e)}`;
      if (caFile !== undefined) {
        try {
          accessSync(caFile, constants.R_OK);
        } catch (err) {
          reason = `sip.ca_file ${caFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`;
        }
      }
      emit({ type: "health", side: "sip", sip: "failed", reason });
      throw e;
    }
  };
  return side;
}

sideFactories.mqtt = async (config, log) => {
  const m = config.mqtt;
  if (!m) return undefined;
  const { MqttPresence } = await import("./presence/mqtt-presence.js");
  return new MqttPresence({
    options: {
      url: m.url,
      ...(m.username !== undefined ? { username: m.username } : {}),
      ...(m.password !== undefined ? { password: m.password } : {}),
      topicPrefix: m.topic_prefix,
      queues: m.queues,
      protocolVersion: m.protocol_version,
      ...(m.client_id !== undefined ? { clientId: m.client_id } : {}),
      keepaliveSeconds: m.keepalive_seconds,
      ...(m.ca_file !== undefined ? { caFile: m.ca_file } : {}),
      ...(m.cert_file !== undefined ? { certFile: m.cert_file } : {}),
      ...(m.key_file !== undefined ? { keyFile: m.key_file } : {}),
      statsStaleSeconds: m.stats_stale_seconds,
      outboxMaxBytes: Math.round(m.outbox_max_mb * 1024 * 1024),
      maxClockSkewSeconds: m.max_clock_skew_seconds,
      ...(m.response_topic_prefix !== undefined ? { responseTopicPrefix: m.response_topic_prefix } : {}),
      embeddedPort: m.embedded_port,
    },
    agent: { id: config.agent.id, name: config.agent.name },
    stateDir: config.state_dir,
    log: log.child("presence"),
  });
};
