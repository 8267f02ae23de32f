/**
 * `cuffia check` time against the file's size (issue 11: a 40k-key mapping took 41 s, quadratic).
 * For growing mappings of unknown keys (each reported with its position) and of valid transfer
 * targets, the time to load and check, and the time per key: flat when the check is linear.
 */
import { ConfigError, parseConfig } from "../../src/config/load.js";

export interface Figure {
  readonly shape: string;
  readonly keys: number;
  readonly bytes: number;
  readonly ms: number;
  readonly usPerKey: number;
}

const SHAPES: Record<string, (n: number) => string> = {
  "unknown keys": (n) => `policy:\n${Array.from({ length: n }, (_, i) => `  k${i}: 1\n`).join("")}`,
  "transfer targets": (n) =>
    `sip:\n  server: tcp://pbx:5060\n  aor: sip:1@pbx\n  password: \${P}\n  transfer_targets:\n${Array.from(
      { length: n },
      (_, i) => `    t${i}: sip:${i}@pbx\n`,
    ).join("")}`,
};

function time(text: string): number {
  const t0 = performance.now();
  try {
    parseConfig(text, "bench.yaml", { env: { P: "x" } });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
  }
  return performance.now() - t0;
}

export function measure(sizes = [5_000, 10_000, 20_000, 40_000]): Figure[] {
  const out: Figure[] = [];
  for (const [shape, make] of Object.entries(SHAPES)) {
    time(make(1000)); // warm-up: JIT and zod's first parse
    for (const keys of sizes) {
      const text = make(keys);
      const ms = Math.min(time(text), time(text));
      out.push({ shape, keys, bytes: Buffer.byteLength(text), ms, usPerKey: (ms * 1000) / keys });
    }
  }
  return out;
}

export function report(figures: readonly Figure[]): string {
  const rows = figures.map(
    (f) =>
      `| ${f.shape} | ${f.keys} | ${(f.bytes / 1024).toFixed(0)} KiB | ${f.ms.toFixed(0)} ms | ${f.usPerKey.toFixed(1)} µs |`,
  );
  return ["| mapping | keys | file | check | per key |", "|---|---|---|---|---|", ...rows, ""].join("\n");
}
