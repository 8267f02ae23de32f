/**
 * Where each side's construction from the config lives, and the CLI commands a side brings
 * (`headset inspect`, `lcd preview`, `devices`, `doctor`). main.ts and app.ts stay free of
 * side-specific code.
 */
import type { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { sideFactories } from "./app.js";
import { devicesReport } from "./cli/devices.js";
import { HidHeadset } from "./headset/hid-headset.js";
import { headsetInspect } from "./headset/inspect.js";
import { KeyboardHeadset } from "./headset/keyboard-headset.js";
import type { HeadsetOptions } from "./headset/options.js";
import { parseSize } from "./lcd/options.js";
import { lcdPreview } from "./lcd/preview.js";
import { SerialLcd } from "./lcd/serial-lcd.js";

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
      },
    });
    const r = lcdPreview({
      size: values.size ?? "20x4",
      language: values.language ?? "it",
      ...(values.charset !== undefined ? { charset: values.charset } : {}),
      ...(values.situation !== undefined ? { situation: values.situation } : {}),
    });
    return r.code === 0 ? { code: 0, stdout: r.stdout } : { code: r.code, stderr: r.stdout };
  },
  async devices() {
    return { code: 0, stdout: `${JSON.stringify(await devicesReport(), null, 2)}\n` };
  },
};

sideFactories.headset = async (config, log, options) => {
  const h = config.headset;
  if (!h) return undefined;
  if (h.match === "keyboard") {
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
  return new HidHeadset({ options: { match, ringer: h.ringer }, log: log.child("headset") });
};

sideFactories.lcd = async (config, log, options) => {
  const l = config.lcd;
  if (!l) return undefined;
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
