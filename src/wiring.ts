/**
 * Where each side's construction from the config lives, and the CLI commands a side brings
 * (`headset inspect`, `lcd preview`, `devices`, `doctor`). main.ts and app.ts stay free of
 * side-specific code.
 */
import { parseArgs } from "node:util";
import { sideFactories } from "./app.js";
import { devicesReport } from "./cli/devices.js";
import { HidHeadset } from "./headset/hid-headset.js";
import { headsetInspect } from "./headset/inspect.js";
import { KeyboardHeadset } from "./headset/keyboard-headset.js";
import type { HeadsetOptions } from "./headset/options.js";

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
  async devices() {
    return { code: 0, stdout: `${JSON.stringify(await devicesReport(), null, 2)}\n` };
  },
};

sideFactories.headset = async (config, log, options) => {
  const h = config.headset;
  if (!h) return undefined;
  if (h.match === "keyboard") {
    const input = options.terminal?.input ?? process.stdin;
    return new KeyboardHeadset({ input, log: log.child("headset"), ringer: h.ringer });
  }
  const match: HeadsetOptions["match"] =
    h.match === "auto"
      ? "auto"
      : "path" in h.match
        ? { path: h.match.path }
        : { vendorId: h.match.vendor_id, productId: h.match.product_id };
  return new HidHeadset({ options: { match, ringer: h.ringer }, log: log.child("headset") });
};
