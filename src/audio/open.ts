/** Opens a call's source and sink from the config (the factory's only entry into this folder). */
import type { Logger } from "../log/logger.js";
import {
  type AudioFaultListener,
  type AudioSink,
  type AudioSource,
  DiscardSink,
  SilenceSource,
} from "./audio.js";
import { FileSink, sinkPath } from "./file-sink.js";
import { FileSource, type PcmCache } from "./file-source.js";
import { Microphone } from "./microphone.js";
import type { AudioSinkOptions, AudioSourceOptions } from "./options.js";
import { DEFAULT_REALTIME_PRIORITY, realtimePriority } from "./realtime.js";
import { Speaker } from "./speaker.js";

export interface OpenContext {
  readonly rate: number;
  readonly callId: string;
  readonly log: Logger;
  readonly onFault?: AudioFaultListener | undefined;
  /** Decoded WAV files shared between calls (the media factory's). */
  readonly pcmCache?: PcmCache | undefined;
}

/**
 * What the microphone and the speaker both take: the card, the call's rate, the latency profile,
 * the real-time priority of aplay/arecord.
 */
function cardOptions(
  o: Extract<AudioSourceOptions, { type: "microphone" }> | Extract<AudioSinkOptions, { type: "speaker" }>,
  ctx: OpenContext,
) {
  return {
    device: o.device,
    rate: ctx.rate,
    log: ctx.log,
    onFault: ctx.onFault,
    realtime: realtimePriority(o.realtimePriority ?? DEFAULT_REALTIME_PRIORITY, ctx.log),
    ...(o.latency ? { latency: o.latency } : {}),
    ...(o.deviceRate ? { deviceRate: o.deviceRate } : {}),
  };
}

export async function openSource(o: AudioSourceOptions, ctx: OpenContext): Promise<AudioSource> {
  switch (o.type) {
    case "microphone":
      return new Microphone(cardOptions(o, ctx));
    case "file":
      return FileSource.open(o.path, ctx.rate, o.loop, ctx.pcmCache);
    case "none":
      return new SilenceSource(ctx.rate);
  }
}

export async function openSink(o: AudioSinkOptions, ctx: OpenContext): Promise<AudioSink> {
  switch (o.type) {
    case "speaker":
      return new Speaker(cardOptions(o, ctx));
    case "file":
      return FileSink.open(sinkPath(o.path, ctx.callId), ctx.rate);
    case "none":
      return new DiscardSink(ctx.rate);
  }
}
