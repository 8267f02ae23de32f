/** `cuffia check [-c FILE]`: validate a config file (exit 0 valid, 78 invalid). */
import { parseArgs } from "node:util";
import { configPath, EXIT, err, load, out } from "./io.js";

export async function checkCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: "string", short: "c" } },
    allowPositionals: false,
  });
  const file = configPath(values.config);
  const loaded = load(file);
  if (!loaded) return EXIT.config;
  for (const w of loaded.warnings) err(`warning: ${w}`);
  const c = loaded.config;
  const sides = ["sip", "headset", "lcd", "mqtt"].filter((k) => c[k as keyof typeof c] !== undefined);
  out(`${file}: valid (agent ${c.agent.id}; sides: ${sides.join(", ") || "none"})`);
  return EXIT.ok;
}
