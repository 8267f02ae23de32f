/**
 * How the sound card is driven: ALSA period and buffer sizes for arecord/aplay, and the depth
 * the speaker keeps queued. What the operator hears late is a defect, not a safety margin, so
 * the default is the smallest (`low`: it met 60 ms one way at p95 with no underrun over
 * 10-minute calls, beside a load, in the mouth-to-ear bench); the speaker adds periods by itself
 * when a card runs dry, and `normal`/`safe` trade 20/60 ms for robustness on a busy Pi.
 *
 *   profile  period  buffer (periods)  playback starts after  device delay, one way
 *   low      10 ms   40 ms (4)         20 ms (2 periods)      ~20-30 ms
 *   normal   20 ms   80 ms (4)         40 ms (2 periods)      ~40-60 ms
 *   safe     40 ms   160 ms (4)        80 ms (2 periods)      ~80-120 ms
 */
export type LatencyProfile = "low" | "normal" | "safe";

export interface DeviceLatency {
  /** ALSA period, microseconds (`--period-time`). */
  readonly periodUs: number;
  /** ALSA buffer, in periods (`--buffer-time` = periods × period). */
  readonly periods: number;
  /** Playback starts once this many periods are queued (`--start-delay`). */
  readonly startPeriods: number;
}

export const LATENCY_PROFILES: Readonly<Record<LatencyProfile, DeviceLatency>> = {
  low: { periodUs: 10_000, periods: 4, startPeriods: 2 },
  normal: { periodUs: 20_000, periods: 4, startPeriods: 2 },
  safe: { periodUs: 40_000, periods: 4, startPeriods: 2 },
};

export const DEFAULT_LATENCY: DeviceLatency = LATENCY_PROFILES.low;

/** From config: a profile name, or `{ period_ms, periods }`. */
export function deviceLatency(
  setting: LatencyProfile | { readonly period_ms: number; readonly periods: number } | undefined,
): DeviceLatency {
  if (setting === undefined) return DEFAULT_LATENCY;
  if (typeof setting === "string") return LATENCY_PROFILES[setting];
  return { periodUs: Math.round(setting.period_ms * 1000), periods: setting.periods, startPeriods: 2 };
}

/** The arguments arecord/aplay take for it (period, buffer and, for playback, start threshold). */
export function alsaLatencyArgs(l: DeviceLatency, playback: boolean): string[] {
  const args = [`--period-time=${l.periodUs}`, `--buffer-time=${l.periodUs * l.periods}`];
  if (playback) args.push(`--start-delay=${l.periodUs * Math.min(l.startPeriods, l.periods)}`);
  return args;
}

/**
 * The whole command line of arecord/aplay on the call's stream: raw 16-bit mono at `rate` on
 * `device`, the period/buffer sizes, and `-v` (the setup dump: the parameters in force).
 */
export function alsaStreamArgs(
  o: { readonly rate: number; readonly device: string; readonly latency: DeviceLatency },
  playback: boolean,
): string[] {
  return [
    "-t",
    "raw",
    "-f",
    "S16_LE",
    "-r",
    String(o.rate),
    "-c",
    "1",
    "-D",
    o.device,
    ...alsaLatencyArgs(o.latency, playback),
    "-v",
  ];
}

/** The hw/sw parameters a running arecord/aplay reported (`-v`), in frames at `rate`. */
export interface AlsaParams {
  readonly rate: number;
  readonly periodSize: number;
  readonly bufferSize: number;
  readonly startThreshold: number;
}

/** Reads the setup dump that `aplay -v` / `arecord -v` print; null until it is complete. */
export function parseAlsaSetup(text: string): AlsaParams | null {
  const num = (key: string): number | null => {
    const m = new RegExp(`^\\s*${key}\\s*:\\s*(\\d+)`, "m").exec(text);
    return m ? Number(m[1]) : null;
  };
  const rate = num("rate");
  const periodSize = num("period_size");
  const bufferSize = num("buffer_size");
  const startThreshold = num("start_threshold");
  if (rate === null || periodSize === null || bufferSize === null || startThreshold === null) return null;
  return { rate, periodSize, bufferSize, startThreshold };
}
