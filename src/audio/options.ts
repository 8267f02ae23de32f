import type { DeviceLatency } from "./latency.js";

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
}
