/**
 * How each side is built from the config: one plain function per side, called by the composition
 * root (app.ts) and by `cuffia doctor` (which builds SIP exactly as `run` does). The mapping from
 * config keys to a side's options lives next to that side's options type (`…OptionsFromConfig`);
 * here is only what needs the outside world: the terminal, the headset's sound card, the local
 * address toward the registrar, the package version.
 */

import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { cardDevice } from "./audio/card.js";
import { audioOptionsFromConfig, wantsHeadsetCard } from "./audio/options.js";
import type { Config } from "./config/schema.js";
import type { Emit, Side } from "./core/side.js";
import type { HidBackend } from "./headset/hid-device.js";
import { headsetOptionsFromConfig } from "./headset/options.js";
import { lcdOptionsFromConfig } from "./lcd/options.js";
import type { Logger } from "./log/logger.js";
import { rtpNeedsLocalAddress, rtpOptionsFromConfig, sipSignallingSecure } from "./media/options.js";
import { localAddressToward } from "./net/route.js";
import { presenceOptionsFromConfig } from "./presence/options.js";
import { sipOptionsFromConfig } from "./sip/options.js";

// Each side's implementation is imported when it is built, not at start: a desk without an LCD
// never loads serialport, one without presence never loads MQTT.js and aedes, and `cuffia check`
// loads none of them. It keeps the daemon's memory and start time small on a Pi.

/** What a side may need besides its config: the terminal, a HID backend (tests), the desk. */
export interface SideEnv {
  /** The terminal the keyboard headset reads and the terminal LCD draws on (default stdin/stdout). */
  readonly terminal?: {
    readonly input: Readable;
    readonly output: Writable;
    readonly interrupt?: () => void;
  };
  /** The HID backend under the headset side (tests put a fake device with a real descriptor here). */
  readonly hidBackend?: HidBackend;
  /** The desk's input, for what a side reports outside its own events (audio faults). */
  readonly dispatch?: Emit;
}

/** Builds one side from the config, or none when its section is absent. */
export type BuildSide = (config: Config, log: Logger, env: SideEnv) => Promise<Side | undefined>;

export async function buildHeadset(config: Config, log: Logger, env: SideEnv): Promise<Side | undefined> {
  const h = config.headset;
  if (!h) return undefined;
  if (h.match === "keyboard") return buildKeyboardHeadset(h.ringer, log, env);
  const options = headsetOptionsFromConfig(config);
  if (!options) return undefined;
  const { HidHeadset } = await import("./headset/hid-headset.js");
  return new HidHeadset({
    options,
    log: log.child("headset"),
    ...(env.hidBackend ? { devices: env.hidBackend } : {}),
  });
}

async function buildKeyboardHeadset(ringer: boolean, log: Logger, env: SideEnv): Promise<Side> {
  const { KeyboardHeadset } = await import("./headset/keyboard-headset.js");
  const input = env.terminal?.input ?? process.stdin;
  const tty = input as Readable & { isTTY?: boolean; setRawMode?: (on: boolean) => void };
  const interrupt = env.terminal?.interrupt;
  const side = new KeyboardHeadset({
    input,
    log: log.child("headset"),
    ringer,
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

export async function buildLcd(config: Config, log: Logger, env: SideEnv): Promise<Side | undefined> {
  const options = lcdOptionsFromConfig(config);
  if (!options) return undefined;
  const { SerialLcd } = await import("./lcd/serial-lcd.js");
  const toTerminal = options.driver === "terminal" && (options.port === "-" || options.port === "stdout");
  return new SerialLcd({
    options,
    log: log.child("lcd"),
    agentName: config.agent.name,
    ...(toTerminal ? { stream: env.terminal?.output ?? process.stdout } : {}),
  });
}

export async function buildSip(config: Config, log: Logger, env: SideEnv): Promise<Side | undefined> {
  const options = sipOptionsFromConfig(config, version());
  if (!options) return undefined;
  const server = new URL(options.servers[0] ?? "");
  const localAddress = rtpNeedsLocalAddress(config)
    ? await localAddressToward(server.hostname, Number(server.port) || 5060)
    : undefined;
  const { createMediaFactory } = await import("./media/factory.js");
  const { SipAgent } = await import("./sip/sip-agent.js");
  let card: string | undefined;
  if (wantsHeadsetCard(config)) {
    card = await headsetCard(config, log);
    if (!card)
      log.warn('audio device "headset": no headset sound card found now, using the ALSA default device');
  }
  const media = createMediaFactory({
    audio: audioOptionsFromConfig(config, card),
    rtp: rtpOptionsFromConfig(config, localAddress),
    signallingSecure: sipSignallingSecure(config),
    log: log.child("media"),
    onAudioFault: (callId, fault) => {
      log
        .child("audio")
        .warn({ call: callId, device: fault.device, retry_ms: fault.retryInMs }, fault.message);
      env.dispatch?.({ type: "health", side: "audio", fault: `${fault.device}: ${fault.message}` });
    },
    onAudioXruns: (callId, xruns) => env.dispatch?.({ type: "health", side: "audio", xruns, callId }),
  });
  const agent = new SipAgent({ options, media, log: log.child("sip") });
  return withStartReason(agent, options.caFile);
}

export async function buildPresence(config: Config, log: Logger): Promise<Side | undefined> {
  const options = presenceOptionsFromConfig(config);
  if (!options) return undefined;
  const { MqttPresence } = await import("./presence/mqtt-presence.js");
  return new MqttPresence({
    options,
    agent: { id: config.agent.id, name: config.agent.name },
    stateDir: config.state_dir,
    log: log.child("presence"),
  });
}

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

/** The package's version (its package.json, found upward: dist/ and the demo's build differ in depth). */
function version(): string {
  try {
    let dir = dirname(fileURLToPath(import.meta.url));
    while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
    return (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "0";
  }
}

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
