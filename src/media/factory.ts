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
import { IceAgents } from "./ice-host-sockets.js";
import type { IceTransport, TurnServer } from "./ice-transport.js";
import { type MediaCreateOptions, MediaError, type MediaSessionFactory } from "./media.js";
import { Negotiation } from "./negotiation.js";
import { preloadOpus } from "./opus-codec.js";
import { PortAllocator } from "./port-allocator.js";
import { RtpMediaSession } from "./rtp-session.js";
import { parseRemote } from "./sdp.js";
import { answerSetup, type RemoteIceDtls } from "./sdp-ice.js";
import { DEFAULT_ENCRYPTION, type EncryptionPolicy, type MediaSecurity } from "./security-policy.js";

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
    /** rtp.encryption (default preferred). */
    readonly encryption?: EncryptionPolicy;
    /**
     * Our calls offer DTLS-SRTP with ICE (UDP/TLS/RTP/SAVPF): signalling over wss://, or
     * rtp.encryption required over unencrypted signalling (options.ts decides).
     */
    readonly offerDtls?: boolean;
    /** ICE for DTLS-SRTP calls (rtp.ice); absent: DTLS-SRTP offers are refused (488). */
    readonly ice?: {
      readonly hostAddresses: readonly string[];
      readonly stunServer?: { readonly host: string; readonly port: number };
      readonly turnServer?: TurnServer;
      /** Only the relay's candidate (rtp.ice.relay_only). */
      readonly relayOnly?: boolean;
    };
  };
  /**
   * The SIP signalling is encrypted (tls://, wss://): SDES keys may travel in its SDP. Default
   * false: a=crypto is then neither sent nor accepted.
   */
  readonly signallingSecure?: boolean;
  readonly log: Logger;
  /** A call's audio device died or could not be opened (the call goes on). */
  readonly onAudioFault?: (callId: string, fault: AudioFault) => void;
  /** A call's sound card xruns changed (null: its card closed with the call): for health. */
  readonly onAudioXruns?: (callId: string, xruns: AudioXruns | null) => void;
  /** Mean RTCP report interval, ms (default 5000). */
  readonly rtcpIntervalMs?: number;
}

export interface RtpMediaFactory extends MediaSessionFactory {
  create(options: MediaCreateOptions): Promise<RtpMediaSession>;
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
  // DTLS calls' ICE agents: sockets bound (host-only: agents gathered) ahead from the first DTLS
  // call on, or from prepare() (a plain desk binds none).
  const ice = options.rtp.ice;
  const iceAgents = ice
    ? new IceAgents(
        {
          hostAddresses: ice.hostAddresses,
          stunServer: ice.stunServer,
          turnServer: ice.turnServer,
          relayOnly: ice.relayOnly,
          portRange: [options.rtp.portMin, options.rtp.portMax],
        },
        log.child("ice"),
      )
    : null;
  // The file source's WAV, decoded once for all calls (re-read only when the file changes).
  const pcmCache = new PcmCache();
  let prepared = false;
  const security: MediaSecurity = {
    encryption: options.rtp.encryption ?? DEFAULT_ENCRYPTION,
    signallingSecure: options.signallingSecure ?? false,
  };
  return {
    prepare() {
      // Only a desk whose own offers are DTLS (wss://, or required over ws:// or tcp://): a plain
      // desk answers a DTLS offer too, but must not hold werift for it (start-modules test).
      if (!options.rtp.offerDtls || !ice || prepared) return;
      prepared = true;
      void (async () => {
        const [, { deskCertificate }] = await Promise.all([
          import("./ice-transport.js"),
          import("./dtls-certificate.js"),
        ]);
        await deskCertificate();
        iceAgents?.prepare();
        if (codecs.includes("OPUS")) await preloadOpus();
        log.info({}, "DTLS-SRTP, ICE and the codecs loaded ahead of the first call");
      })().catch((e: unknown) => {
        prepared = false;
        log.warn({ err: (e as Error).message }, "cannot load DTLS-SRTP ahead: the first call will");
      });
    },
    close: async () => {
      await Promise.all([ports.close(), iceAgents?.close()]);
    },
    checkOffer(remoteSdp) {
      // The same negotiation as the answer (policy included), on a placeholder address: nothing is bound.
      const ice = options.rtp.ice && isDtlsOffer(remoteSdp) ? PLACEHOLDER_ICE : undefined;
      const { negotiated } = new Negotiation({ address: "127.0.0.1", port: 9, codecs, security, ice }).answer(
        remoteSdp,
        false,
      );
      // The answer will use Opus: its library loads while the desk rings, not when answering.
      if (negotiated.codec.name === "OPUS") {
        preloadOpus().catch((e: Error) => log.error({ err: e.message }, "cannot load the Opus codec"));
      }
    },
    async create({ callId, offer }) {
      // ICE + DTLS-SRTP when the far end offers it, or when we offer it (the file header of
      // rtp-session.ts): its candidates must be gathered before the description is written.
      let ice: IceTransport | undefined;
      const dtls = offer === undefined ? options.rtp.offerDtls === true : isDtlsOffer(offer);
      if (iceAgents && dtls) {
        try {
          // werift is loaded at the first DTLS call (or by prepare()): a plain RTP desk never
          // holds it (start-modules test).
          ice = await iceAgents.take(log.child(`call:${callId}`));
        } catch (e) {
          throw new MediaError("incompatible", `ICE: ${(e as Error).message}`);
        }
      }
      // A DTLS call carries its media on the ICE sockets: it takes no plain RTP pair.
      let pair: Awaited<ReturnType<PortAllocator["allocate"]>> | undefined;
      if (ice === undefined) {
        try {
          pair = await ports.allocate();
        } catch (e) {
          throw new MediaError("incompatible", (e as Error).message);
        }
      }
      try {
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
          security,
          ice,
          ...(options.rtcpIntervalMs !== undefined ? { rtcpIntervalMs: options.rtcpIntervalMs } : {}),
          ...(options.rtp.mediaTimeoutMs !== undefined ? { mediaTimeoutMs: options.rtp.mediaTimeoutMs } : {}),
          ...(options.rtp.holdMediaTimeoutMs !== undefined
            ? { holdMediaTimeoutMs: options.rtp.holdMediaTimeoutMs }
            : {}),
        });
      } catch (e) {
        // No session owns them: freed here, not left bound until the process ends.
        await Promise.all([pair?.release(), ice?.close()]);
        throw e;
      }
    },
  };
}

/** The last offer judged: checkOffer (ringing) and create (answering) ask about the same one. */
let lastOffer: { readonly sdp: string; readonly dtls: boolean } | null = null;

/** Whether a far end's offer asks for DTLS-SRTP (its audio stream's profile). */
function isDtlsOffer(sdp: string): boolean {
  if (lastOffer?.sdp === sdp) return lastOffer.dtls;
  let dtls = false;
  try {
    dtls = parseRemote(sdp).iceDtls !== null;
  } catch {
    // the answer reports what is wrong with it
  }
  lastOffer = { sdp, dtls };
  return dtls;
}

/** checkOffer's stand-in for a call's ICE agent: the same attributes, no socket. */
const PLACEHOLDER_ICE = {
  offer: () => {
    throw new Error("checkOffer never offers");
  },
  answer: (remote: RemoteIceDtls) => ({
    ufrag: "xxxx",
    pwd: "xxxxxxxxxxxxxxxxxxxxxx",
    candidates: [],
    fingerprint: { algorithm: "sha-256", value: "00:00" },
    setup: answerSetup(remote.setup),
    rtcpMux: remote.rtcpMux,
    mid: remote.mid,
    bundle: remote.bundle,
  }),
};
