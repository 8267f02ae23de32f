/** `cuffia headset inspect --descriptor FILE | --hidraw /dev/hidrawN`: decode a HID report descriptor. */
import { parseArgs } from "node:util";
import type { CliResult } from "./io.js";

export async function headsetCommand(args: string[]): Promise<CliResult> {
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
  const { headsetInspect } = await import("../headset/inspect.js");
  return headsetInspect({
    ...(values.descriptor !== undefined ? { descriptor: values.descriptor } : {}),
    ...(values.hidraw !== undefined ? { hidraw: values.hidraw } : {}),
  });
}
