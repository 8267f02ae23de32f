/**
 * The ICE and DTLS-SRTP attributes of an audio m= line, read and written (pure, no sockets):
 *  - ICE (RFC 8445, RFC 8839): a=ice-ufrag, a=ice-pwd, a=candidate, a=end-of-candidates,
 *    a=ice-lite. Trickle ICE (RFC 8838) is not done: our candidates are all in the description.
 *  - DTLS-SRTP (RFC 5763, RFC 8842): a=fingerprint (sha-256), a=setup (RFC 4145 roles).
 *  - rtcp-mux (RFC 5761), a=mid and a BUNDLE group with one audio m= line (RFC 8843, mirrored).
 *
 * The profile `UDP/TLS/RTP/SAVPF` (RFC 5764 §8, RFC 5124) is what carries them; sdp.ts decides
 * when it applies and calls here for the attributes only.
 */
import type * as sdpTransform from "sdp-transform";
import { MediaError } from "./media.js";

/** The profiles DTLS-SRTP comes in (RFC 5764 §8): we answer both, we offer SAVPF. */
export const DTLS_PROFILES: ReadonlySet<string> = new Set(["UDP/TLS/RTP/SAVPF", "UDP/TLS/RTP/SAVP"]);
export const DTLS_OFFER_PROFILE = "UDP/TLS/RTP/SAVPF";

/** a=setup values (RFC 4145 §4). */
export type SetupRole = "active" | "passive" | "actpass" | "holdconn";

export interface Fingerprint {
  /** Hash function name, lower case (RFC 8122 §5: "sha-256"). */
  readonly algorithm: string;
  /** Upper-case hex pairs separated by colons. */
  readonly value: string;
}

export interface IceCandidateLine {
  readonly foundation: string;
  readonly component: number;
  readonly transport: string;
  readonly priority: number;
  readonly address: string;
  readonly port: number;
  readonly type: string;
  readonly relatedAddress?: string;
  readonly relatedPort?: number;
}

/** The ICE and DTLS attributes of one audio stream, either side's. */
interface IceDtlsAttributes {
  readonly ufrag: string;
  readonly pwd: string;
  /** UDP candidates of component 1 (RTP, and RTCP too with rtcp-mux). */
  readonly candidates: readonly IceCandidateLine[];
  readonly fingerprint: Fingerprint;
  readonly setup: SetupRole;
  readonly rtcpMux: boolean;
  readonly mid: string | null;
  /** The BUNDLE group naming this stream's mid, if any (mirrored in the answer). */
  readonly bundle: boolean;
}

/** What the far end said about ICE and DTLS for its audio stream. */
export interface RemoteIceDtls extends IceDtlsAttributes {
  readonly iceLite: boolean;
}

/**
 * Our side of it, as put in an offer or answer; `source` is our RTP stream's SSRC and CNAME
 * (RFC 5576 a=ssrc): a WebRTC stack may route received RTP by signalled SSRC only (werift's
 * RTCPeerConnection drops a packet whose SSRC no SDP announced; RFC 8843 §9.2 lets it).
 */
export type LocalIceDtls = IceDtlsAttributes & {
  readonly source?: { readonly ssrc: number; readonly cname: string };
};

function incompatible(message: string): MediaError {
  return new MediaError("incompatible", message);
}

function asSetup(v: unknown): SetupRole | null {
  return v === "active" || v === "passive" || v === "actpass" || v === "holdconn" ? v : null;
}

/**
 * Our a=setup in an answer (RFC 5763 §5: active or passive, the opposite of a side that chose).
 * To `actpass` we answer `passive`: the desk is the DTLS server and the far end opens the
 * association. (Chosen when werift-dtls as the client stalled in about a third of its handshakes
 * with rtpengine; that was its one-datagram-per-record flights and byte-for-byte retransmissions,
 * corrected in dtls-datagrams.ts, and both roles now complete: media-webrtc-gateway-outgoing.)
 */
export function answerSetup(offered: SetupRole): "active" | "passive" {
  if (offered === "holdconn") throw incompatible("a=setup:holdconn: the far end holds the DTLS connection");
  return offered === "passive" ? "active" : "passive";
}

/** Which end of the DTLS handshake we are, from our a=setup and the far end's. */
export function dtlsRole(local: SetupRole, remote: SetupRole): "client" | "server" {
  if (local === "active") return "client";
  if (local === "passive") return "server";
  // We offered actpass: the answer chose (RFC 4145 §4.1).
  if (remote === "active") return "server";
  if (remote === "passive") return "client";
  throw incompatible(`a=setup:${remote} in an answer to actpass`);
}

/**
 * Reads the ICE and DTLS attributes of `m` (media level first, then session level, RFC 8839
 * §5.4 and RFC 8122 §5). Throws MediaError("incompatible") when DTLS-SRTP cannot run on it.
 */
export function parseIceDtls(
  session: sdpTransform.SessionDescription,
  m: sdpTransform.MediaDescription,
): RemoteIceDtls {
  const fp = m.fingerprint ?? session.fingerprint;
  if (!fp) throw incompatible(`${m.protocol} without a=fingerprint`);
  const algorithm = fp.type.toLowerCase();
  if (
    algorithm !== "sha-256" &&
    algorithm !== "sha-384" &&
    algorithm !== "sha-512" &&
    algorithm !== "sha-1"
  ) {
    throw incompatible(`a=fingerprint hash ${fp.type} not supported`);
  }
  if (!/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$/.test(fp.hash))
    throw incompatible("a=fingerprint is not hex pairs");
  const ufrag = m.iceUfrag ?? (session as { iceUfrag?: string }).iceUfrag;
  const pwd = m.icePwd ?? (session as { icePwd?: string }).icePwd;
  if (!ufrag || !pwd) throw incompatible(`${m.protocol} without a=ice-ufrag/a=ice-pwd (ICE is required)`);
  // RFC 8839 §5.4: ufrag at least 4 characters, password at least 22.
  if (ufrag.length < 4 || pwd.length < 22) throw incompatible("a=ice-ufrag or a=ice-pwd too short");
  const setup = asSetup(m.setup ?? (session as { setup?: string }).setup) ?? "active"; // RFC 4145 §4: default active
  const candidates: IceCandidateLine[] = [];
  for (const c of m.candidates ?? []) {
    if (c.component !== 1 || c.transport.toLowerCase() !== "udp") continue;
    candidates.push({
      foundation: c.foundation,
      component: c.component,
      transport: "udp",
      priority: c.priority,
      address: c.ip,
      port: c.port,
      type: c.type,
      ...(c.raddr !== undefined ? { relatedAddress: c.raddr } : {}),
      ...(c.rport !== undefined ? { relatedPort: c.rport } : {}),
    });
  }
  const mid = m.mid !== undefined ? String(m.mid) : null;
  const bundle =
    mid !== null &&
    (session.groups ?? []).some((g) => g.type === "BUNDLE" && String(g.mids).split(/\s+/).includes(mid));
  return {
    ufrag,
    pwd,
    iceLite: session.icelite === "ice-lite",
    candidates,
    fingerprint: { algorithm, value: fp.hash.toUpperCase() },
    setup,
    rtcpMux: m.rtcpMux === "rtcp-mux",
    mid,
    bundle,
  };
}

/** Whether an m= line asks for DTLS-SRTP (its profile, RFC 5764 §8). */
export function isDtlsProfile(protocol: string): boolean {
  return DTLS_PROFILES.has(protocol);
}

/** The attributes to merge into our audio m= line (sdp-transform's shape). */
export function iceDtlsMedia(local: LocalIceDtls): Partial<sdpTransform.MediaDescription> {
  return {
    iceUfrag: local.ufrag,
    icePwd: local.pwd,
    fingerprint: { type: local.fingerprint.algorithm, hash: local.fingerprint.value },
    setup: local.setup,
    ...(local.mid !== null ? { mid: local.mid } : {}),
    ...(local.rtcpMux ? { rtcpMux: "rtcp-mux" as const } : {}),
    candidates: local.candidates.map((c) => ({
      foundation: c.foundation,
      component: c.component,
      transport: c.transport,
      priority: c.priority,
      ip: c.address,
      port: c.port,
      type: c.type,
      ...(c.relatedAddress !== undefined ? { raddr: c.relatedAddress } : {}),
      ...(c.relatedPort !== undefined ? { rport: c.relatedPort } : {}),
    })),
    endOfCandidates: "end-of-candidates",
    ...(local.source
      ? { ssrcs: [{ id: local.source.ssrc, attribute: "cname", value: local.source.cname }] }
      : {}),
  };
}

/** The session-level group to mirror (a BUNDLE of our single audio stream), or none. */
export function iceDtlsGroups(local: LocalIceDtls): sdpTransform.SessionDescription["groups"] {
  return local.bundle && local.mid !== null ? [{ type: "BUNDLE", mids: local.mid }] : undefined;
}

/** A candidate line as werift-ice reads it (RFC 8839 §5.1 grammar, after "a=candidate:"). */
export function candidateToSdp(c: IceCandidateLine): string {
  const related =
    c.relatedAddress !== undefined && c.relatedPort !== undefined
      ? ` raddr ${c.relatedAddress} rport ${c.relatedPort}`
      : "";
  return `${c.foundation} ${c.component} ${c.transport} ${c.priority} ${c.address} ${c.port} typ ${c.type}${related}`;
}

/** Whether an ICE restart is asked for (RFC 8839 §4.4.1.1.1: a new ufrag or password). */
export function isIceRestart(before: RemoteIceDtls, now: RemoteIceDtls): boolean {
  return before.ufrag !== now.ufrag || before.pwd !== now.pwd;
}

/** Whether the DTLS association must be made again (RFC 8842 §5.5: new fingerprint or roles). */
export function needsNewDtls(before: RemoteIceDtls, now: RemoteIceDtls): boolean {
  return (
    before.fingerprint.value !== now.fingerprint.value ||
    before.fingerprint.algorithm !== now.fingerprint.algorithm ||
    (now.setup !== "actpass" && before.setup !== "actpass" && before.setup !== now.setup)
  );
}
