/**
 * SDP offer/answer (RFC 3264) for one RTP audio stream, written and read with sdp-transform.
 * Pure: no sockets, no clock. Its profile and a=crypto lines are the negotiation layer's
 * (security-policy.ts, sdp-crypto.ts); here they are only read and written.
 *
 * Every failure on remote input is a MediaError: "malformed" for text that is not SDP
 * (RFC 4566 §5 grammar), "incompatible" when there is no usable audio stream or codec
 * (the SIP side answers 488, RFC 3261 §13.3.1.1).
 */
import * as sdpTransform from "sdp-transform";
import { CODECS, type CodecInfo, type CodecName } from "./codecs.js";
import { type MediaDirection, MediaError } from "./media.js";
import { accepts20ms, OPUS_LOCAL_FMTP } from "./opus-sdp.js";
import type { CryptoAttribute } from "./sdp-crypto.js";
import {
  iceDtlsGroups,
  iceDtlsMedia,
  isDtlsProfile,
  type LocalIceDtls,
  parseIceDtls,
  type RemoteIceDtls,
} from "./sdp-ice.js";
import type { SrtpKeys } from "./srtp/index.js";

export interface LocalDescription {
  readonly address: string;
  readonly port: number;
  readonly sessionId: string;
  readonly version: number;
  /** Our codecs, most preferred first. */
  readonly codecs: readonly CodecName[];
  /** The audio stream's transport protocol; default RTP/AVP (an answer mirrors the offer's). */
  readonly protocol?: string;
  /** a=crypto lines of the audio stream (SDES, sdp-crypto.ts). */
  readonly crypto?: readonly CryptoAttribute[];
  /** ICE + DTLS-SRTP (sdp-ice.ts): put in our offer when set; a DTLS offer is answered only when set. */
  readonly ice?: LocalIceProvider | undefined;
}

/** Our ICE/DTLS attributes for an offer, or for the answer to the far end's (sdp-ice.ts). */
export interface LocalIceProvider {
  offer(): LocalIceDtls;
  answer(remote: RemoteIceDtls): LocalIceDtls;
}

export interface TelephoneEventFormat {
  readonly payloadType: number;
  readonly clockRate: number;
}

export interface Negotiated {
  readonly codec: CodecInfo;
  /** Payload type to send (and expect) for the codec. */
  readonly payloadType: number;
  readonly telephoneEvent: TelephoneEventFormat | null;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteRtcpPort: number;
  /** What the far end said (RFC 3264 §6.1). */
  readonly remoteDirection: MediaDirection;
  /** What we said in the description that concluded the exchange. */
  readonly localDirection: MediaDirection;
  /** The far end's a=fmtp for the codec's payload type (Opus: what it asks of our encoder). */
  readonly codecFmtp?: string;
  /** How the media is protected and with which keys (set by the negotiation layer). */
  readonly security?: NegotiatedSecurity;
  /** DTLS-SRTP + ICE: the far end's attributes and our a=setup (null: no ICE). */
  readonly iceDtls: { readonly remote: RemoteIceDtls; readonly localSetup: LocalIceDtls["setup"] } | null;
}

/** The protection the exchange concluded: SDES keys both ways, DTLS (keys from the handshake), or none. */
export type NegotiatedSecurity =
  | { readonly kind: "none" }
  | { readonly kind: "dtls" }
  | { readonly kind: "sdes"; readonly send: SrtpKeys; readonly receive: SrtpKeys };

export const TELEPHONE_EVENT_PT = 101;
/** telephone-event at Opus's 48 kHz clock (RFC 4733 §7.1.1: events use the audio's clock). */
export const TELEPHONE_EVENT_48K_PT = 110;

interface RemoteFormat {
  readonly pt: number;
  readonly name: string;
  readonly rate: number;
  /** Channels from a=rtpmap (1 when absent, RFC 4566 §6). */
  readonly channels: number;
  readonly fmtp: string | undefined;
}

export interface RemoteStream {
  readonly index: number;
  /** The m= line's transport protocol (RTP/AVP, RTP/SAVP, UDP/TLS/RTP/SAVPF, ...). */
  readonly protocol: string;
  /** Its a=crypto lines (SDES), as written. */
  readonly crypto: readonly CryptoAttribute[];
  /** An a=fingerprint at media or session level (DTLS-SRTP). */
  readonly fingerprint: boolean;
  readonly address: string;
  readonly port: number;
  readonly rtcpPort: number;
  readonly formats: readonly RemoteFormat[];
  readonly direction: MediaDirection;
  /** a=maxptime, ms (RFC 4566 §6). */
  readonly maxptime: number | undefined;
  readonly parsed: sdpTransform.SessionDescription;
  /** ICE and DTLS attributes when the profile is UDP/TLS/RTP/SAVP(F), else null. */
  readonly iceDtls: RemoteIceDtls | null;
}

const STATIC: Readonly<Record<number, { name: string; rate: number }>> = {
  0: { name: "PCMU", rate: 8000 },
  8: { name: "PCMA", rate: 8000 },
  9: { name: "G722", rate: 8000 },
};

const LINE = /^[a-zA-Z]=/;
const PROFILES = new Set([
  "RTP/AVP",
  "RTP/AVPF",
  "RTP/SAVP",
  "RTP/SAVPF",
  "UDP/TLS/RTP/SAVP",
  "UDP/TLS/RTP/SAVPF",
]);
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function malformed(message: string): MediaError {
  return new MediaError("malformed", message);
}

function incompatible(message: string): MediaError {
  return new MediaError("incompatible", message);
}

function isIpv4(address: string): boolean {
  const m = IPV4.exec(address);
  return m?.slice(1).every((o) => Number(o) <= 255) === true;
}

function asDirection(value: unknown): MediaDirection | null {
  return value === "sendrecv" || value === "sendonly" || value === "recvonly" || value === "inactive"
    ? value
    : null;
}

/**
 * The last description parsed, and what it gave: an INVITE's offer is parsed when it is checked
 * (before the desk rings) and again when it is answered, on the answer's critical path. The
 * result is only read, never changed, so the same text gets the same object back.
 */
let lastParsed: { readonly text: string; readonly stream: RemoteStream } | null = null;

/** Parses the first audio stream of a remote description. Throws MediaError only. */
export function parseRemote(text: unknown): RemoteStream {
  if (lastParsed !== null && lastParsed.text === text) return lastParsed.stream;
  const stream = parseRemoteText(text);
  lastParsed = { text: text as string, stream };
  return stream;
}

function parseRemoteText(text: unknown): RemoteStream {
  if (typeof text !== "string" || text.trim() === "") throw malformed("empty session description");
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  if (lines[0]?.trim() !== "v=0") throw malformed("session description does not start with v=0");
  const bad = lines.find((l) => !LINE.test(l));
  if (bad !== undefined) throw malformed(`not an SDP line: ${JSON.stringify(bad.slice(0, 40))}`);
  let parsed: sdpTransform.SessionDescription;
  try {
    parsed = sdpTransform.parse(text);
  } catch (e) {
    throw malformed(`unparsable session description: ${(e as Error).message}`);
  }
  if (!parsed.origin || typeof parsed.origin.address !== "string") throw malformed("no o= line");
  const media = parsed.media ?? [];
  if (media.length === 0) throw malformed("no m= line");
  for (const m of media) {
    if (!Number.isInteger(m.port) || m.port < 0 || m.port > 65535) throw malformed("bad m= port");
  }
  const index = media.findIndex((m) => m.type === "audio" && m.port !== 0);
  const m = media[index];
  if (!m) throw incompatible("no active audio stream");
  // Which of these profiles is acceptable is the security policy's call (security-policy.ts).
  if (!PROFILES.has(m.protocol))
    throw incompatible(`transport ${m.protocol} not supported (RTP/AVP, RTP/SAVP, UDP/TLS/RTP/SAVPF)`);
  const fingerprinted = m.fingerprint !== undefined || parsed.fingerprint !== undefined;
  // Without a=fingerprint the policy refuses the offer and says why (security-policy.ts).
  const iceDtls = isDtlsProfile(m.protocol) && fingerprinted ? parseIceDtls(parsed, m) : null;
  const connection = m.connection ?? parsed.connection;
  if (!connection) throw malformed("no c= line for the audio stream");
  if (connection.version !== 4 || !isIpv4(connection.ip)) {
    throw incompatible(`connection address ${connection.ip} is not IPv4`);
  }
  const pts = String(m.payloads ?? "")
    .trim()
    .split(/\s+/)
    .filter((p) => p !== "")
    .map(Number);
  if (pts.length === 0 || pts.some((p) => !Number.isInteger(p) || p < 0 || p > 127)) {
    throw malformed("bad payload type list");
  }
  const formats: RemoteFormat[] = [];
  for (const pt of pts) {
    const map = (m.rtp ?? []).find((r) => r.payload === pt);
    const fmtp = (m.fmtp ?? []).find((f) => f.payload === pt)?.config;
    if (map) {
      const channels = Number(map.encoding ?? 1);
      formats.push({ pt, name: map.codec.toUpperCase(), rate: map.rate ?? 0, channels, fmtp });
    } else {
      const s = STATIC[pt];
      if (s) formats.push({ pt, name: s.name, rate: s.rate, channels: 1, fmtp });
    }
  }
  const maxptime = typeof m.maxptime === "number" && m.maxptime > 0 ? m.maxptime : undefined;
  let direction = asDirection(m.direction) ?? asDirection(parsed.direction) ?? "sendrecv";
  // RFC 3264 §8.4: c=0.0.0.0 is the old (RFC 2543) way to put a stream on hold. Not with ICE:
  // there c=IN IP4 0.0.0.0 and port 9 say only that no default candidate was chosen (RFC 8839
  // §4.2.1.1 via RFC 8840 §4.1.1.1, JSEP's offers before gathering), as werift's RTCPeerConnection
  // always writes them; the candidates carry the address, and the direction attribute the hold.
  const iceDefaultUnset = iceDtls !== null && connection.ip === "0.0.0.0";
  if (connection.ip === "0.0.0.0" && !iceDefaultUnset) {
    direction = direction === "sendrecv" || direction === "sendonly" ? "sendonly" : "inactive";
  }
  const rtcpPort = m.rtcp?.port ?? m.port + 1; // RFC 3605 a=rtcp, else port + 1 (RFC 3550 §11)
  const crypto = (m.crypto ?? []).map((c) => ({
    id: c.id,
    suite: c.suite,
    config: c.config,
    ...(c.sessionConfig !== undefined ? { sessionConfig: c.sessionConfig } : {}),
  }));
  const fingerprint = m.fingerprint !== undefined || parsed.fingerprint !== undefined;
  return {
    index,
    protocol: m.protocol,
    crypto,
    fingerprint,
    // an ICE stream's media goes where ICE selects; this address is only for logs and the
    // 0.0.0.0 hold checks, so it is a candidate's then
    address: iceDefaultUnset ? (iceDtls.candidates[0]?.address ?? connection.ip) : connection.ip,
    port: m.port,
    rtcpPort,
    formats,
    direction,
    maxptime,
    parsed,
    iceDtls,
  };
}

function pickTelephoneEvent(
  formats: readonly RemoteFormat[],
  clockRate: number,
): TelephoneEventFormat | null {
  const te = formats.filter((f) => f.name === "TELEPHONE-EVENT");
  // RFC 4733 §7.1.1: the event clock should match the audio's. Accept 16000 too (G.722 phones),
  // and 8000 with Opus: baresip and older PBXs offer only telephone-event/8000 beside
  // opus/48000. The events' RTP timestamps then stay the stream's (one SSRC, one clock) and only
  // their durations count in the event clock (telephone-events.ts).
  const match =
    te.find((f) => f.rate === clockRate) ??
    te.find((f) => f.rate === 8000) ??
    te.find((f) => f.rate === 16000);
  return match ? { payloadType: match.pt, clockRate: match.rate } : null;
}

function findCodec(
  f: RemoteFormat,
  ours: readonly CodecName[],
  maxptime: number | undefined,
): CodecInfo | null {
  for (const name of ours) {
    const c = CODECS[name];
    if (f.name !== c.name) continue;
    // RFC 7587 §7: opus/48000/2 always; and we send 20 ms packets, which it must accept.
    if (c.name === "OPUS") {
      if (f.rate === 48000 && f.channels === 2 && accepts20ms(f.fmtp, maxptime)) return c;
    } else if (f.rate === c.clockRate || f.rate === 0) return c;
  }
  return null;
}

interface FormatOut {
  readonly pt: number;
  readonly name: string;
  readonly rate: number;
  readonly channels?: number | undefined;
  readonly fmtp?: string | undefined;
}

/** Our a=rtpmap/a=fmtp entry for a codec at payload type `pt`. */
function codecFormat(c: CodecInfo, pt: number): FormatOut {
  return {
    pt,
    name: c.encodingName,
    rate: c.clockRate,
    channels: c.rtpmapChannels,
    fmtp: c.name === "OPUS" ? OPUS_LOCAL_FMTP : undefined,
  };
}

/** RFC 3264 §6.1: the answer's direction for an offered one, and our hold wish. */
export function answerDirection(offered: MediaDirection, hold: boolean): MediaDirection {
  switch (offered) {
    case "sendrecv":
      return hold ? "sendonly" : "sendrecv";
    case "sendonly":
      return hold ? "inactive" : "recvonly";
    case "recvonly":
      return "sendonly";
    case "inactive":
      return "inactive";
  }
}

/** Our offer's direction: hold offers sendonly, or inactive when the far end holds us (RFC 3264 §8.4). */
export function offerDirection(hold: boolean, remoteDirection: MediaDirection): MediaDirection {
  if (!hold) return "sendrecv";
  return remoteDirection === "sendonly" || remoteDirection === "inactive" ? "inactive" : "sendonly";
}

function describe(
  local: LocalDescription,
  formats: readonly FormatOut[],
  direction: MediaDirection,
  extra: readonly sdpTransform.MediaDescription[] = [],
  audioIndex = 0,
  ice: LocalIceDtls | null = null,
): string {
  const audio: sdpTransform.MediaDescription = {
    type: "audio",
    port: local.port,
    protocol: local.protocol ?? "RTP/AVP",
    payloads: formats.map((f) => f.pt).join(" "),
    rtp: formats.map((f) => ({
      payload: f.pt,
      codec: f.name,
      rate: f.rate,
      ...(f.channels !== undefined ? { encoding: f.channels } : {}),
    })),
    fmtp: formats.filter((f) => f.fmtp).map((f) => ({ payload: f.pt, config: f.fmtp ?? "" })),
    ptime: 20,
    // With rtcp-mux RTCP shares the RTP port (RFC 5761 §5.1.3); a=rtcp would say the same.
    ...(ice?.rtcpMux ? {} : { rtcp: { port: local.port + 1 } }),
    direction,
    ...(local.crypto && local.crypto.length > 0 ? { crypto: local.crypto.map((c) => ({ ...c })) } : {}),
    ...(ice ? iceDtlsMedia(ice) : {}),
  };
  const groups = ice ? iceDtlsGroups(ice) : undefined;
  const media = [...extra];
  media.splice(audioIndex, 0, audio);
  return sdpTransform.write({
    version: 0,
    origin: {
      username: "cuffia",
      sessionId: local.sessionId,
      sessionVersion: local.version,
      netType: "IN",
      ipVer: 4,
      address: local.address,
    },
    name: "cuffia",
    ...(groups ? { groups } : {}),
    connection: { version: 4, ip: local.address },
    timing: { start: 0, stop: 0 },
    media,
  });
}

export function buildOffer(local: LocalDescription, direction: MediaDirection): string {
  const formats: FormatOut[] = local.codecs.map((n) => codecFormat(CODECS[n], CODECS[n].payloadType));
  // RFC 4733 §7.1.1: events 0-16 (DTMF), at the audio clock: 48000 for Opus, 8000 for the others,
  // and 8000 always (a far end that has only that one still gets our digits with Opus).
  if (local.codecs.includes("OPUS")) {
    formats.push({ pt: TELEPHONE_EVENT_48K_PT, name: "telephone-event", rate: 48000, fmtp: "0-16" });
  }
  formats.push({ pt: TELEPHONE_EVENT_PT, name: "telephone-event", rate: 8000, fmtp: "0-16" });
  return describe(local, formats, direction, [], 0, local.ice?.offer() ?? null);
}

/** Answers a remote offer (RFC 3264 §6): one codec (ours by preference), telephone-event if offered. */
export function answerOffer(
  local: LocalDescription,
  remoteSdp: unknown,
  hold: boolean,
): { sdp: string; negotiated: Negotiated } {
  const remote = parseRemote(remoteSdp);
  if (remote.iceDtls && !local.ice)
    throw incompatible("DTLS-SRTP with ICE offered, but this call has no ICE agent");
  // Our preference decides among what both sides support (the offerer's order is a hint only).
  let chosen: { codec: CodecInfo; pt: number; fmtp: string | undefined } | null = null;
  for (const name of local.codecs) {
    const f = remote.formats.find((x) => findCodec(x, [name], remote.maxptime) !== null);
    if (f) {
      chosen = { codec: CODECS[name], pt: f.pt, fmtp: f.fmtp };
      break;
    }
  }
  if (!chosen) {
    throw incompatible(
      `no common codec (offered: ${remote.formats.map((f) => f.name).join(", ") || "none"})`,
    );
  }
  const te = pickTelephoneEvent(remote.formats, chosen.codec.clockRate);
  const direction = answerDirection(remote.direction, hold);
  const formats: FormatOut[] = [codecFormat(chosen.codec, chosen.pt)];
  if (te) formats.push({ pt: te.payloadType, name: "telephone-event", rate: te.clockRate, fmtp: "0-16" });
  // RFC 3264 §6: every offered m= line appears in the answer; the ones we refuse get port 0.
  const others = (remote.parsed.media ?? [])
    .filter((_, i) => i !== remote.index)
    .map(
      (m): sdpTransform.MediaDescription => ({
        type: m.type,
        port: 0,
        protocol: m.protocol,
        payloads: String(m.payloads ?? "0").split(/\s+/)[0] ?? "0",
        rtp: [],
        fmtp: [],
      }),
    );
  const ice = remote.iceDtls && local.ice ? local.ice.answer(remote.iceDtls) : null;
  // Written when first read: the check before ringing (factory.ts checkOffer) needs only the choice.
  let sdp: string | undefined;
  return {
    get sdp() {
      sdp ??= describe(local, formats, direction, others, remote.index, ice);
      return sdp;
    },
    negotiated: {
      codec: chosen.codec,
      payloadType: chosen.pt,
      telephoneEvent: te,
      remoteAddress: remote.address,
      remotePort: remote.port,
      remoteRtcpPort: remote.rtcpPort,
      remoteDirection: remote.direction,
      localDirection: direction,
      ...(chosen.fmtp !== undefined ? { codecFmtp: chosen.fmtp } : {}),
      iceDtls: remote.iceDtls && ice ? { remote: remote.iceDtls, localSetup: ice.setup } : null,
    },
  };
}

/** Applies the answer to our offer (RFC 3264 §7): the first of its codecs that we offered. */
export function acceptAnswer(
  offered: readonly CodecName[],
  offeredDirection: MediaDirection,
  remoteSdp: unknown,
  offeredIce = false,
): Negotiated {
  const remote = parseRemote(remoteSdp);
  // RFC 3264 §6: the answer keeps the offer's transport profile.
  if (offeredIce && !remote.iceDtls)
    throw incompatible("DTLS-SRTP offered, the answer is not UDP/TLS/RTP/SAVPF");
  if (!offeredIce && remote.iceDtls) throw incompatible("the answer is DTLS-SRTP, we did not offer it");
  let chosen: { codec: CodecInfo; pt: number; fmtp: string | undefined } | null = null;
  for (const f of remote.formats) {
    const c = findCodec(f, offered, remote.maxptime);
    if (c) {
      chosen = { codec: c, pt: f.pt, fmtp: f.fmtp };
      break;
    }
  }
  if (!chosen) throw incompatible("the answer has no codec we offered");
  return {
    codec: chosen.codec,
    payloadType: chosen.pt,
    telephoneEvent: pickTelephoneEvent(remote.formats, chosen.codec.clockRate),
    remoteAddress: remote.address,
    remotePort: remote.port,
    remoteRtcpPort: remote.rtcpPort,
    remoteDirection: remote.direction,
    localDirection: intersect(offeredDirection, remote.direction),
    ...(chosen.fmtp !== undefined ? { codecFmtp: chosen.fmtp } : {}),
    iceDtls: remote.iceDtls ? { remote: remote.iceDtls, localSetup: "actpass" } : null,
  };
}

/** What remains of our offered direction given the answer's (RFC 3264 §6.1). */
function intersect(ours: MediaDirection, theirs: MediaDirection): MediaDirection {
  const send =
    (ours === "sendrecv" || ours === "sendonly") && (theirs === "sendrecv" || theirs === "recvonly");
  const recv =
    (ours === "sendrecv" || ours === "recvonly") && (theirs === "sendrecv" || theirs === "sendonly");
  return send && recv ? "sendrecv" : send ? "sendonly" : recv ? "recvonly" : "inactive";
}

/** Whether we may send / should play given the negotiated directions. */
export function flow(n: Pick<Negotiated, "localDirection" | "remoteAddress">): {
  send: boolean;
  receive: boolean;
} {
  const d = n.localDirection;
  return {
    send: (d === "sendrecv" || d === "sendonly") && n.remoteAddress !== "0.0.0.0",
    receive: d === "sendrecv" || d === "recvonly",
  };
}
