import { everyKeyRead } from "../config/every-key-read.js";
import type { Config } from "../config/schema.js";
import { type DeviceLatency, deviceLatency } from "./latency.js";

/**
 * Where a call's audio comes from and goes to (config `audio:`).
 *
 * File sink paths may contain `{call}` (replaced by the call id, made file-name safe): one
 * WAV per call. Without `{call}` each call overwrites the same file (the last call is kept),
 * which suits tests and the demo.
 */
export type AudioSourceOptions =
  | ({ readonly type: "microphone"; readonly device: string } & CardOptions)
  | { readonly type: "file"; readonly path: string; readonly loop: boolean }
  | { readonly type: "none" };

export type AudioSinkOptions =
  | ({ readonly type: "speaker"; readonly device: string } & CardOptions)
  | { readonly type: "file"; readonly path: string }
  | { readonly type: "none" };

export interface AudioOptions {
  readonly source: AudioSourceOptions;
  readonly sink: AudioSinkOptions;
}

/** How a sound card is driven (config `audio.latency`, `audio.device_rate`). */
export interface CardOptions {
  /** Sound card buffering (default: the `normal` profile). */
  readonly latency?: DeviceLatency;
  /** Rate the sound card is opened at (default: the call's rate). */
  readonly deviceRate?: number;
  /** SCHED_FIFO priority of aplay/arecord when permitted, 0 = normal (default 10, realtime.ts). */
  readonly realtimePriority?: number;
}

/**
 * The `audio:` section as a call's media takes it. `headsetCard` is the ALSA device of the
 * headset's own sound card when one was found (`device: headset`); "default" otherwise.
 */
export function audioOptionsFromConfig(config: Config, headsetCard: string | undefined): AudioOptions {
  const { source, sink, latency, device_rate, realtime_priority, ...rest } = config.audio;
  everyKeyRead(rest);
  const dev = (d: string) => (d === "headset" ? (headsetCard ?? "default") : d);
  const driving = {
    latency: deviceLatency(latency),
    realtimePriority: realtime_priority,
    ...(device_rate !== undefined ? { deviceRate: device_rate } : {}),
  };
  return {
    source:
      source.type === "microphone" ? { type: "microphone", device: dev(source.device), ...driving } : source,
    sink: sink.type === "speaker" ? { type: "speaker", device: dev(sink.device), ...driving } : sink,
  };
}

/** Whether the config names the headset's own sound card (`device: headset`). */
export function wantsHeadsetCard(config: Config): boolean {
  const { source, sink } = config.audio;
  return (
    (source.type === "microphone" && source.device === "headset") ||
    (sink.type === "speaker" && sink.device === "headset")
  );
}
