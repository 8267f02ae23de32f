/**
 * The audio codecs Cuffia negotiates, with their RTP numbering (RFC 3551 §6, table 4).
 * G.722's RTP clock is 8000 Hz although it samples at 16 kHz (RFC 3551 §4.5.2). Opus (RFC 7587)
 * has a dynamic payload type (ours when we offer, the far end's when it does), always
 * `opus/48000/2` in SDP whatever it carries, and a 48 kHz RTP clock; its library is loaded only
 * when a call uses it (opus-codec.ts).
 */
import { decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw } from "./g711.js";
import { G722Decoder, G722Encoder } from "./g722.js";
import { OPUS_MAX_DECODED, OpusCodec } from "./opus-codec.js";
import { opusSendParams } from "./opus-sdp.js";

export type CodecName = "PCMU" | "PCMA" | "G722" | "OPUS";

export interface CodecInfo {
  readonly name: CodecName;
  /** Our payload type (the static one, or the dynamic one we offer). */
  readonly payloadType: number;
  /** RTP timestamp clock (what goes into a=rtpmap). */
  readonly clockRate: number;
  /** PCM sample rate the codec works on. */
  readonly sampleRate: number;
  /** The encoding name in a=rtpmap, as the RFC spells it. */
  readonly encodingName: string;
  /** Channels in a=rtpmap, when it must be written (RFC 7587 §7: always 2 for Opus). */
  readonly rtpmapChannels?: number;
}

/** Opus's payload type in our offers (dynamic, RFC 3551 §6; the one WebRTC stacks use). */
export const OPUS_PT = 111;

export const CODECS: Readonly<Record<CodecName, CodecInfo>> = {
  PCMU: { name: "PCMU", payloadType: 0, clockRate: 8000, sampleRate: 8000, encodingName: "PCMU" },
  PCMA: { name: "PCMA", payloadType: 8, clockRate: 8000, sampleRate: 8000, encodingName: "PCMA" },
  G722: { name: "G722", payloadType: 9, clockRate: 8000, sampleRate: 16000, encodingName: "G722" },
  OPUS: {
    name: "OPUS",
    payloadType: OPUS_PT,
    clockRate: 48000,
    sampleRate: 48000,
    encodingName: "opus",
    rtpmapChannels: 2,
  },
};

/** Wideband first (Opus, then G.722), then G.711: what `rtp.codecs` defaults to. */
export const DEFAULT_CODECS: readonly CodecName[] = ["OPUS", "G722", "PCMA", "PCMU"];

export function codecByName(name: string): CodecInfo | null {
  const key = name.toUpperCase().replace(/[.\s-]/g, "");
  return key === "PCMU" || key === "PCMA" || key === "G722" || key === "OPUS" ? CODECS[key] : null;
}

/** A stateful encoder/decoder pair for one call (G.722's ADPCM and Opus keep state across frames). */
export interface CodecInstance {
  readonly info: CodecInfo;
  /** Encodes one frame; into `out` when given (the payload's length), else into a new array. */
  encode(pcm: Int16Array, out?: Uint8Array): Uint8Array;
  /**
   * Decodes one payload into `out` (at least `maxDecoded(payload.length)` long); the decoded
   * samples, a view of `out`; null for a payload the codec refuses (malformed).
   */
  decode(payload: Uint8Array, out: Int16Array): Int16Array | null;
  /** Most samples a payload of `bytes` bytes can decode to. */
  maxDecoded(bytes: number): number;
  /** The codec's own concealment of `samples` lost samples (a codec without one leaves it to the jitter buffer). */
  conceal?(samples: number, out: Int16Array): Int16Array;
  /**
   * The `samples` lost just before payload `next` into `out`, from `next`'s in-band FEC data
   * where it has some (Opus), concealed otherwise; how many samples came from FEC.
   */
  recover?(samples: number, next: Uint8Array, out: Int16Array): number;
  /**
   * False while the codec's library is still loading (Opus created before its preload finished):
   * nothing can be encoded or decoded yet. Absent: always ready.
   */
  ready?(): boolean;
  /** Resolves when ready; rejects if the codec's library cannot be loaded. */
  readonly whenReady?: Promise<void>;
  /** Frees what the codec holds outside the JS heap (Opus's wasm state). Idempotent. */
  close?(): void;
}

/** A codec for one call; `remoteFmtp` is the far end's a=fmtp for it (what it asks of our encoder). */
export function createCodec(name: CodecName, remoteFmtp?: string): CodecInstance {
  const info = CODECS[name];
  switch (name) {
    case "PCMU":
      return {
        info,
        encode: (p, o) => encodeMulaw(p, o),
        decode: (b, o) => decodeMulaw(b, o),
        maxDecoded: (n) => n,
      };
    case "PCMA":
      return {
        info,
        encode: (p, o) => encodeAlaw(p, o),
        decode: (b, o) => decodeAlaw(b, o),
        maxDecoded: (n) => n,
      };
    case "G722": {
      const enc = new G722Encoder();
      const dec = new G722Decoder();
      return {
        info,
        encode: (p, o) => enc.encode(p, o),
        decode: (b, o) => dec.decode(b, o),
        maxDecoded: (n) => 2 * n,
      };
    }
    case "OPUS": {
      const opus = new OpusCodec(opusSendParams(remoteFmtp));
      return {
        info,
        encode: (p) => opus.encode(p),
        decode: (b, o) => {
          const r = opus.decode(b, o);
          return r === "malformed" ? null : r;
        },
        maxDecoded: () => OPUS_MAX_DECODED,
        conceal: (n, o) => opus.conceal(n, o),
        recover: (n, next, o) => opus.recover(n, next, o),
        ready: () => opus.ready,
        whenReady: opus.whenReady,
        close: () => opus.close(),
      };
    }
  }
}
