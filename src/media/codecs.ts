/**
 * The audio codecs Cuffia negotiates, with their RTP numbering (RFC 3551 §6, table 4).
 * G.722's RTP clock is 8000 Hz although it samples at 16 kHz (RFC 3551 §4.5.2).
 */
import { decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw } from "./g711.js";
import { G722Decoder, G722Encoder } from "./g722.js";

export type CodecName = "PCMU" | "PCMA" | "G722";

export interface CodecInfo {
  readonly name: CodecName;
  readonly payloadType: number;
  /** RTP timestamp clock (what goes into a=rtpmap). */
  readonly clockRate: number;
  /** PCM sample rate the codec works on. */
  readonly sampleRate: number;
}

export const CODECS: Readonly<Record<CodecName, CodecInfo>> = {
  PCMU: { name: "PCMU", payloadType: 0, clockRate: 8000, sampleRate: 8000 },
  PCMA: { name: "PCMA", payloadType: 8, clockRate: 8000, sampleRate: 8000 },
  G722: { name: "G722", payloadType: 9, clockRate: 8000, sampleRate: 16000 },
};

export const DEFAULT_CODECS: readonly CodecName[] = ["G722", "PCMU", "PCMA"];

export function codecByName(name: string): CodecInfo | null {
  const key = name.toUpperCase().replace(/[.\s-]/g, "");
  return key === "PCMU" || key === "PCMA" || key === "G722" ? CODECS[key] : null;
}

/** A stateful encoder/decoder pair for one call (G.722's ADPCM keeps state across frames). */
export interface CodecInstance {
  readonly info: CodecInfo;
  /** Encodes one frame; into `out` when given (the payload's length), else into a new array. */
  encode(pcm: Int16Array, out?: Uint8Array): Uint8Array;
  /** Decodes one payload; into `out` when given (its decoded length), else into a new array. */
  decode(payload: Uint8Array, out?: Int16Array): Int16Array;
}

export function createCodec(name: CodecName): CodecInstance {
  const info = CODECS[name];
  switch (name) {
    case "PCMU":
      return { info, encode: (p, o) => encodeMulaw(p, o), decode: (b, o) => decodeMulaw(b, o) };
    case "PCMA":
      return { info, encode: (p, o) => encodeAlaw(p, o), decode: (b, o) => decodeAlaw(b, o) };
    case "G722": {
      const enc = new G722Encoder();
      const dec = new G722Decoder();
      return { info, encode: (p, o) => enc.encode(p, o), decode: (b, o) => dec.decode(b, o) };
    }
  }
}
