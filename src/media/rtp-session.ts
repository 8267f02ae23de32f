/**
 * One call's media: the MediaSession the SIP side drives, composed of the layers of
 * ARCHITECTURE § Media, each in its own file:
 *
 * ```
 *  negotiation   negotiation.ts       SDP offer/answer state (sdp.ts: the pure parts)
 *       │ Negotiated (codec, payload types, directions, the far end's addresses)
 *       ▼
 *  transport     packet-transport.ts  the seam; udp-transport.ts: a UDP pair, latching, connect()
 *  protection    protection.ts        the seam; noProtection (plain RTP/AVP), srtp/ (SDES or DTLS keys)
 *  stream        rtp-stream.ts        packet clock, jitter buffer, RTCP, watchdog, statistics
 *     + DTMF     telephone-events.ts  RFC 4733 events sent and received on the stream
 *  codec, audio  audio-bridge.ts      encoder/decoder, source and sink, resampling
 * ```
 * Packets flow transport → protection → stream → codec → audio and back; the session only
 * wires the layers and answers the MediaSession calls. SRTP plugs in as a Protection, ICE with
 * DTLS as a PacketTransport, both chosen here from what the negotiation concluded.
 *
 * Transport choice: a session made with `ice` (an IceTransport the factory gathered because the
 * far end's offer is DTLS-SRTP, or because we offer it) uses it instead of the UDP pair, and its
 * negotiation speaks UDP/TLS/RTP/SAVPF; every exchange on it must conclude DTLS (anything else is
 * refused as incompatible). Such a session has no UDP pair (the factory takes none for it). When
 * the DTLS handshake gives keys the stream's protection is swapped to SRTP (`setProtection`); a lost
 * ICE consent or a failed handshake ends the media like a media timeout.
 */
import type { AudioFaultListener } from "../audio/audio.js";
import type { PcmCache } from "../audio/file-source.js";
import type { AudioOptions } from "../audio/options.js";
import type { AudioXruns, MediaStats } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import { AudioBridge } from "./audio-bridge.js";
import type { CodecName } from "./codecs.js";
import type { IceTransport } from "./ice-transport.js";
import { type MediaDirection, MediaError, type MediaSession } from "./media.js";
import { Negotiation } from "./negotiation.js";
import type { PacketTransport } from "./packet-transport.js";
import type { PortPair } from "./port-allocator.js";
import { noProtection, type Protection } from "./protection.js";
import { FRAME_MS, type MediaCounters, RtpStream } from "./rtp-stream.js";
import { flow, type LocalIceProvider, type Negotiated, type NegotiatedSecurity } from "./sdp.js";
import { sameKeys } from "./sdp-crypto.js";
import { answerSetup, dtlsRole, isIceRestart } from "./sdp-ice.js";
import type { MediaEncryption, MediaSecurity } from "./security-policy.js";
import { realTimers, type TimerDeps } from "./send-clock.js";
import { createSrtpProtection, withReceiveKeys } from "./srtp/index.js";
import { TelephoneEvents } from "./telephone-events.js";
import { UdpTransport } from "./udp-transport.js";
import { XrunWindow } from "./xrun-window.js";

export { FRAME_MS, type MediaCounters };

export interface RtpSessionOptions {
  readonly callId: string;
  /** Address put in c=/o= (the ports are bound by the allocator, possibly to 0.0.0.0). */
  readonly address: string;
  /** The plain call's RTP/RTCP pair (none with `ice`: the media goes on the ICE sockets). */
  readonly ports?: PortPair | undefined;
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
  /** rtp.encryption and whether the SIP signalling is encrypted (default: preferred, clear signalling). */
  readonly security?: MediaSecurity;
  /** ICE + DTLS-SRTP instead of the UDP pair (gathered by the factory; see the file header). */
  readonly ice?: IceTransport | undefined;
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
  private protection: Protection = noProtection;
  private security: NegotiatedSecurity = { kind: "none" };
  private closed: Promise<MediaStats> | null = null;
  private readonly ice: IceTransport | null;
  private readonly timeoutListeners: Array<(detail: string) => void> = [];
  private timedOut = false;

  constructor(o: RtpSessionOptions) {
    this.log = o.log;
    const timers = o.timers ?? realTimers;
    this.ice = o.ice ?? null;
    const ports = o.ports;
    this.negotiation = new Negotiation({
      address: o.address,
      port: this.ice ? this.ice.localPort : (ports?.port ?? 9),
      codecs: o.codecs,
      ...(o.security ? { security: o.security } : {}),
      ice: this.ice ? this.iceProvider(this.ice) : undefined,
    });
    if (this.ice) this.transport = this.ice;
    else if (ports) this.transport = new UdpTransport({ ports, log: o.log, now: () => timers.now() });
    else throw new MediaError("incompatible", "a plain RTP session needs its port pair");
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
    this.stream.onMediaTimeout((detail) => this.mediaEnded(detail));
    if (this.ice) {
      const ice = this.ice;
      ice.onSecured((keys) => {
        this.protection = createSrtpProtection({
          kind: "dtls",
          send: keys.send,
          receive: keys.receive,
          log: o.log,
        });
        this.stream.setProtection(this.protection);
      });
      ice.onFailed((detail) => this.mediaEnded(detail));
    }
  }

  /** Our ICE/DTLS attributes for the negotiation: the ICE agent's, with a=setup by RFC 5763. */
  private iceProvider(ice: IceTransport): LocalIceProvider {
    const local = (
      setup: "actpass" | "active" | "passive",
      remote: { rtcpMux: boolean; mid: string | null; bundle: boolean } | null,
    ) => {
      const l = ice.local;
      return {
        ufrag: l.ufrag,
        pwd: l.pwd,
        candidates: l.candidates,
        fingerprint: l.fingerprint,
        setup,
        rtcpMux: remote?.rtcpMux ?? true,
        mid: remote ? remote.mid : "0",
        bundle: remote ? remote.bundle : false,
        source: this.stream.source,
      };
    };
    return {
      offer: () => {
        const role = ice.dtlsRole;
        // Once the association exists, a re-offer keeps our role (RFC 8842 §5.5).
        return local(role === null ? "actpass" : role === "client" ? "active" : "passive", null);
      },
      answer: (remote) => {
        const before = ice.remote;
        if (before !== null && isIceRestart(before, remote)) ice.restartLocal(); // RFC 8445 §9: both sides restart
        const role = ice.dtlsRole;
        const setup = role === null ? answerSetup(remote.setup) : role === "client" ? "active" : "passive";
        return local(setup, remote);
      },
    };
  }

  /** The far end's media is gone (silence, unreachable, ICE consent, DTLS): told once. */
  private mediaEnded(detail: string): void {
    if (this.timedOut) return;
    this.timedOut = true;
    for (const l of this.timeoutListeners) {
      try {
        l(detail);
      } catch (e) {
        this.log.error({ err: (e as Error).message }, "media handler failed");
      }
    }
  }

  get localPort(): number {
    return this.transport.localPort;
  }

  get remoteDirection(): MediaDirection {
    return this.negotiation.remoteDirection;
  }

  /**
   * How the call's media is protected, as negotiated (a DTLS call is "dtls" from its answer on;
   * its keys arrive with the handshake).
   */
  get encryption(): MediaEncryption {
    return this.security.kind;
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
    if (this.ice) {
      if (!n.iceDtls)
        throw new MediaError(
          "incompatible",
          "this call's media is DTLS-SRTP: a plain RTP description is refused",
        );
      const { remote, localSetup } = n.iceDtls;
      // RFC 8445 §6.1.1: the offerer controls (unless the far end is ICE lite, then we always do).
      const controlling = localSetup === "actpass" || remote.iceLite;
      this.ice.connect(remote, dtlsRole(localSetup, remote.setup), controlling);
    }
    this.transport.setRemote({ address: n.remoteAddress, port: n.remotePort }, n.remoteRtcpPort);
    this.protect(n.security ?? { kind: "none" });
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

  /**
   * The protection the exchange concluded, in place before the stream sends under it. Unchanged
   * keys keep the contexts (rollover counters, replay windows); a far end's new key alone gets a
   * new receiving context under our same sending one; anything else a new protection.
   */
  private protect(s: NegotiatedSecurity): void {
    const was = this.security;
    this.security = s;
    let next: Protection = this.protection;
    if (s.kind === "none") next = noProtection;
    else if (s.kind === "sdes") {
      const sameSend = was.kind === "sdes" && sameKeys(was.send, s.send);
      if (sameSend && sameKeys(was.receive, s.receive)) return;
      next = sameSend
        ? withReceiveKeys(this.protection, s.receive)
        : createSrtpProtection({ kind: "sdes", send: s.send, receive: s.receive, log: this.log });
    }
    // DTLS: the ICE transport swaps its protection in when the handshake ends (RtpStream.setProtection).
    if (next === this.protection) return;
    this.protection = next;
    this.stream.setProtection(next);
    this.log.info(
      { encryption: next.kind, suite: s.kind === "sdes" ? s.send.profile : undefined },
      "media protection",
    );
  }

  /**
   * Our next offer restarts ICE (RFC 8445 §9: new ufrag and password; the DTLS association and
   * its keys stay): after the box's network changed, or when the checks failed. No-op on a
   * plain RTP call.
   */
  restartIce(): void {
    this.assertOpen();
    this.ice?.restartLocal();
  }

  setMuted(muted: boolean): void {
    this.stream.muted = muted;
  }

  onDtmf(listener: (digit: string) => void): void {
    this.dtmf.onDigit(listener);
  }

  onMediaTimeout(listener: (detail: string) => void): void {
    this.timeoutListeners.push(listener);
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
