/**
 * The media side's composition: a MediaSessionFactory that binds a port pair from the
 * configured range for each call and gives the session the call's own audio source and sink.
 */
import type { AudioFault } from "../audio/audio.js";
import { PcmCache } from "../audio/file-source.js";
import type { AudioOptions } from "../audio/options.js";
import type { AudioXruns } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import { type CodecName, codecByName, DEFAULT_CODECS } from "./codecs.js";
import { MediaError, type MediaSessionFactory } from "./media.js";
import { PortAllocator } from "./port-allocator.js";
import { RtpMediaSession } from "./rtp-session.js";
import { answerOffer } from "./sdp.js";

export interface MediaFactoryOptions {
  readonly audio: AudioOptions;
  readonly rtp: {
    /** IPv4 address to bind (0.0.0.0: every interface). */
    readonly address: string;
    /** Address put in SDP (c=, o=); default `address`. Must be set when binding 0.0.0.0. */
    readonly announce?: string;
    readonly portMin: number;
    readonly portMax: number;
    /** Preference order, e.g. ["G722", "PCMU", "PCMA"]; unknown names are ignored (and logged). */
    readonly codecs: readonly string[];
    /** Nothing heard from the far end this long ends the call's media, ms; 0 = off (default 30 s). */
    readonly mediaTimeoutMs?: number;
    /** The same while either side holds, ms; 0 = off (default 300 s). */
    readonly holdMediaTimeoutMs?: number;
  };
  readonly log: Logger;
  /** A call's audio device died or could not be opened (the call goes on). */
  readonly onAudioFault?: (callId: string, fault: AudioFault) => void;
  /** A call's sound card xruns changed (null: its card closed with the call): for health. */
  readonly onAudioXruns?: (callId: string, xruns: AudioXruns | null) => void;
  /** Mean RTCP report interval, ms (default 5000). */
  readonly rtcpIntervalMs?: number;
}

export interface RtpMediaFactory extends MediaSessionFactory {
  create(options: { readonly callId: string }): Promise<RtpMediaSession>;
}

export function createMediaFactory(options: MediaFactoryOptions): RtpMediaFactory {
  const log = options.log;
  const codecs: CodecName[] = [];
  for (const name of options.rtp.codecs) {
    const c = codecByName(name);
    if (!c) log.warn({ codec: name }, "unknown codec in rtp.codecs ignored");
    else if (!codecs.includes(c.name)) codecs.push(c.name);
  }
  if (codecs.length === 0) codecs.push(...DEFAULT_CODECS);
  const ports = new PortAllocator(options.rtp.address, options.rtp.portMin, options.rtp.portMax);
  ports.prepareSpare(); // the first call's ports are bound before it arrives
  // The file source's WAV, decoded once for all calls (re-read only when the file changes).
  const pcmCache = new PcmCache();
  return {
    close: () => ports.close(),
    checkOffer(remoteSdp) {
      // The same negotiation as the answer, on a placeholder address: nothing is bound.
      answerOffer({ address: "127.0.0.1", port: 9, sessionId: "0", version: 0, codecs }, remoteSdp, false);
    },
    async create({ callId }) {
      let pair: Awaited<ReturnType<PortAllocator["allocate"]>>;
      try {
        pair = await ports.allocate();
      } catch (e) {
        throw new MediaError("incompatible", (e as Error).message);
      }
      return new RtpMediaSession({
        callId,
        address: options.rtp.announce ?? options.rtp.address,
        ports: pair,
        codecs,
        audio: options.audio,
        log: log.child(`call:${callId}`),
        onAudioFault: options.onAudioFault ? (f) => options.onAudioFault?.(callId, f) : undefined,
        onAudioXruns: options.onAudioXruns ? (x) => options.onAudioXruns?.(callId, x) : undefined,
        pcmCache,
        ...(options.rtcpIntervalMs !== undefined ? { rtcpIntervalMs: options.rtcpIntervalMs } : {}),
        ...(options.rtp.mediaTimeoutMs !== undefined ? { mediaTimeoutMs: options.rtp.mediaTimeoutMs } : {}),
        ...(options.rtp.holdMediaTimeoutMs !== undefined
          ? { holdMediaTimeoutMs: options.rtp.holdMediaTimeoutMs }
          : {}),
      });
    },
  };
}
