/**
 * One call's media: the MediaSession the SIP side drives, composed of the layers of
 * ARCHITECTURE § Media, each in its own file:
 *
 * ```
 *  negotiation   negotiation.ts       SDP offer/answer state (sdp.ts: the pure parts)
 *       │ Negotiated (codec, payload types, directions, the far end's addresses)
 *       ▼
 *  transport     packet-transport.ts  the seam; udp-transport.ts: a UDP pair, latching, connect()
 *  protection    protection.ts        the seam; noProtection (plain RTP/AVP)
 *  stream        rtp-stream.ts        packet clock, jitter buffer, RTCP, watchdog, statistics
 *     + DTMF     telephone-events.ts  RFC 4733 events sent and received on the stream
 *  codec, audio  audio-bridge.ts      encoder/decoder, source and sink, resampling
 * ```
 * Packets flow transport → protection → stream → codec → audio and back; the session only
 * wires the layers and answers the MediaSession calls. SRTP plugs in as a Protection, ICE with
 * DTLS as a PacketTransport, both chosen here from what the negotiation concluded.
 */
import type { AudioFaultListener } from "../audio/audio.js";
import type { PcmCache } from "../audio/file-source.js";
import type { AudioOptions } from "../audio/options.js";
import type { AudioXruns, MediaStats } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import { AudioBridge } from "./audio-bridge.js";
import type { CodecName } from "./codecs.js";
import { type MediaDirection, MediaError, type MediaSession } from "./media.js";
import { Negotiation } from "./negotiation.js";
import type { PacketTransport } from "./packet-transport.js";
import type { PortPair } from "./port-allocator.js";
import { noProtection } from "./protection.js";
import { FRAME_MS, type MediaCounters, RtpStream } from "./rtp-stream.js";
import { flow, type Negotiated } from "./sdp.js";
import { realTimers, type TimerDeps } from "./send-clock.js";
import { TelephoneEvents } from "./telephone-events.js";
import { UdpTransport } from "./udp-transport.js";
import { XrunWindow } from "./xrun-window.js";

export { FRAME_MS, type MediaCounters };

export interface RtpSessionOptions {
  readonly callId: string;
  /** Address put in c=/o= (the ports are bound by the allocator, possibly to 0.0.0.0). */
  readonly address: string;
  readonly ports: PortPair;
  readonly codecs: readonly CodecName[];
  readonly audio: AudioOptions;
  readonly log: Logger;
  readonly onAudioFault?: AudioFaultListener | undefined;
  /** Mean RTCP interval (RFC 3550 §6.2: 5 s minimum for a two-party call). */
  readonly rtcpIntervalMs?: number;
  readonly timers?: TimerDeps;
  /** DTMF tone length and gap, ms. */
  readonly dtmfDurationMs?: number;
  /** Decoded audio files shared between calls (the factory's). */
  readonly pcmCache?: PcmCache;
  /** Nothing heard from the far end this long ends its media (onMediaTimeout), ms; 0 = off. Default 30 s. */
  readonly mediaTimeoutMs?: number;
  /** The same while either side holds, ms; 0 = off. Default 300 s. */
  readonly holdMediaTimeoutMs?: number;
  /** ICMP port-unreachable on our sends this long, nothing heard meanwhile, ends it sooner. Default 5 s. */
  readonly unreachableTimeoutMs?: number;
  /** The call's sound card xruns, when they change (null: the card closed with the call). */
  readonly onAudioXruns?: ((x: AudioXruns | null) => void) | undefined;
}

export const DEFAULT_MEDIA_TIMEOUT_MS = 30_000;
export const DEFAULT_HOLD_MEDIA_TIMEOUT_MS = 300_000;
export const DEFAULT_UNREACHABLE_TIMEOUT_MS = 5_000;

export class RtpMediaSession implements MediaSession {
  private readonly log: Logger;
  private readonly negotiation: Negotiation;
  private readonly transport: PacketTransport;
  private readonly bridge: AudioBridge;
  private readonly dtmf: TelephoneEvents;
  private readonly stream: RtpStream;
  private closed: Promise<MediaStats> | null = null;

  constructor(o: RtpSessionOptions) {
    this.log = o.log;
    const timers = o.timers ?? realTimers;
    this.negotiation = new Negotiation({ address: o.address, port: o.ports.port, codecs: o.codecs });
    this.transport = new UdpTransport({ ports: o.ports, log: o.log, now: () => timers.now() });
    this.bridge = new AudioBridge({
      callId: o.callId,
      audio: o.audio,
      log: o.log,
      onAudioFault: o.onAudioFault,
      pcmCache: o.pcmCache,
      frameMs: FRAME_MS,
    });
    this.dtmf = new TelephoneEvents({
      log: o.log,
      frameMs: FRAME_MS,
      ...(o.dtmfDurationMs !== undefined ? { durationMs: o.dtmfDurationMs } : {}),
    });
    this.stream = new RtpStream({
      transport: this.transport,
      protection: noProtection,
      bridge: this.bridge,
      dtmf: this.dtmf,
      log: o.log,
      timers,
      rtcpIntervalMs: o.rtcpIntervalMs ?? 5000,
      limits: {
        mediaMs: o.mediaTimeoutMs ?? DEFAULT_MEDIA_TIMEOUT_MS,
        holdMs: o.holdMediaTimeoutMs ?? DEFAULT_HOLD_MEDIA_TIMEOUT_MS,
        unreachableMs: o.unreachableTimeoutMs ?? DEFAULT_UNREACHABLE_TIMEOUT_MS,
      },
      xruns: o.onAudioXruns ? { window: new XrunWindow(o.callId), report: o.onAudioXruns } : undefined,
    });
    this.transport.start(this.stream);
  }

  get localPort(): number {
    return this.transport.localPort;
  }

  get remoteDirection(): MediaDirection {
    return this.negotiation.remoteDirection;
  }

  private assertOpen(): void {
    if (this.closed) throw new MediaError("closed", "media session is closed");
  }

  createOffer(options: { readonly hold: boolean }): string {
    this.assertOpen();
    return this.negotiation.createOffer(options.hold);
  }

  answer(remoteSdp: string, options: { readonly hold: boolean }): string {
    this.assertOpen();
    const { sdp, negotiated } = this.negotiation.answer(remoteSdp, options.hold);
    this.apply(negotiated);
    return sdp;
  }

  acceptAnswer(remoteSdp: string): void {
    this.assertOpen();
    this.apply(this.negotiation.acceptAnswer(remoteSdp));
  }

  /** A concluded exchange, down the layers: where the far end is, then what the stream carries. */
  private apply(n: Negotiated): void {
    this.transport.setRemote({ address: n.remoteAddress, port: n.remotePort }, n.remoteRtcpPort);
    this.stream.apply(n);
    const f = flow(n);
    this.log.debug(
      {
        codec: n.codec.name,
        pt: n.payloadType,
        te: n.telephoneEvent?.payloadType ?? null,
        remote: `${n.remoteAddress}:${n.remotePort}`,
        local: n.localDirection,
        remoteDirection: n.remoteDirection,
        send: f.send,
        receive: f.receive,
      },
      "media negotiated",
    );
  }

  setMuted(muted: boolean): void {
    this.stream.muted = muted;
  }

  onDtmf(listener: (digit: string) => void): void {
    this.dtmf.onDigit(listener);
  }

  onMediaTimeout(listener: (detail: string) => void): void {
    this.stream.onMediaTimeout(listener);
  }

  sendDtmf(digits: string): Promise<void> {
    if (this.closed) return Promise.reject(new MediaError("closed", "media session is closed"));
    const te = this.stream.negotiated?.telephoneEvent;
    if (!te) return Promise.reject(new MediaError("incompatible", "telephone-event was not negotiated"));
    return this.dtmf.send(digits, te);
  }

  stats(): MediaStats {
    return this.stream.stats();
  }

  details(): MediaCounters {
    return this.stream.details();
  }

  close(): Promise<MediaStats> {
    this.closed ??= (async () => {
      this.stream.stop();
      this.transport.stop();
      this.dtmf.abort();
      // RFC 3550 §6.6: BYE in a compound packet when leaving.
      try {
        this.stream.sendRtcp(true);
      } catch (e) {
        this.log.error({ err: (e as Error).message }, "media handler failed");
      }
      const final = this.stream.stats();
      await new Promise((r) => setImmediate(r)); // let the BYE leave before the socket closes
      await this.bridge.close();
      await this.transport.close();
      this.log.debug({ ...final }, "media closed");
      return final;
    })();
    return this.closed;
  }
}
