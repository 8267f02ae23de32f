/**
 * What a call's RTP needs from the config (`rtp:` section), in the shape the media factory takes.
 */
import { networkInterfaces } from "node:os";
import { everyKeyRead } from "../config/every-key-read.js";
import type { Config, TurnServerConfig } from "../config/schema.js";
import type { MediaFactoryOptions } from "./factory.js";
import type { TurnServer } from "./ice-transport.js";

export type RtpOptions = MediaFactoryOptions["rtp"];

/**
 * The `rtp:` section as the media factory takes it. The address put in SDP is `advertise`, else
 * the bound address, else (bound to 0.0.0.0) `localAddress`: the one the caller found toward the
 * registrar when rtpNeedsLocalAddress said so.
 */
export function rtpOptionsFromConfig(config: Config, localAddress: string | undefined): RtpOptions {
  const {
    address,
    advertise,
    port_min,
    port_max,
    codecs,
    media_timeout,
    hold_media_timeout,
    encryption,
    ice,
    ...rest
  } = config.rtp;
  everyKeyRead(rest);
  const announce = advertise ?? (address !== "0.0.0.0" ? address : localAddress);
  return {
    address,
    ...(announce !== undefined ? { announce } : {}),
    portMin: port_min,
    portMax: port_max,
    codecs,
    mediaTimeoutMs: media_timeout * 1000,
    holdMediaTimeoutMs: hold_media_timeout * 1000,
    encryption,
    ice: iceOptionsFromConfig(config),
    offerDtls: offersDtls(config),
  };
}

/**
 * Whether our calls offer DTLS-SRTP with ICE: a WebRTC-style PBX (wss://) expects it (with
 * rtcp-mux), and under rtp.encryption required it is the only SRTP unencrypted signalling
 * (ws://, tcp://) may carry (security-policy.ts: SDES keys never travel there).
 */
export function offersDtls(config: Config): boolean {
  const server = config.sip?.server;
  if (server === undefined || config.rtp.encryption === "off") return false;
  if (/^wss:/i.test(server)) return true;
  return config.rtp.encryption === "required" && /^(ws|tcp):/i.test(server);
}

/**
 * Whether every SIP server is reached over encrypted signalling (tls://, wss://): only then may
 * SDES keys travel in the SDP (a fallback over tcp:// or ws:// would carry them in clear).
 */
export function sipSignallingSecure(config: Config): boolean {
  const sip = config.sip;
  if (!sip) return false;
  return [sip.server, ...sip.fallback_servers].every((s) => /^(tls|wss):/i.test(s));
}

/** Whether the address to announce must be found on the network (no advertise, bound to 0.0.0.0). */
export function rtpNeedsLocalAddress(config: Config): boolean {
  return config.rtp.advertise === undefined && config.rtp.address === "0.0.0.0";
}

/** `rtp.ice` as the media factory takes it: host addresses resolved, servers split. */
export function iceOptionsFromConfig(
  config: Config,
  interfaces: () => ReturnType<typeof networkInterfaces> = networkInterfaces,
): NonNullable<RtpOptions["ice"]> {
  const { host_addresses, stun_servers, turn_servers, relay_only, ...rest } = config.rtp.ice;
  everyKeyRead(rest);
  const hostAddresses =
    host_addresses ??
    (config.rtp.address !== "0.0.0.0"
      ? [config.rtp.address]
      : Object.values(interfaces())
          .flat()
          .filter((a) => a !== undefined && a.family === "IPv4" && !a.internal)
          .map((a) => (a as { address: string }).address));
  const stun = stun_servers[0];
  const turn = turn_servers[0];
  return {
    hostAddresses,
    ...(stun !== undefined ? { stunServer: parseHostPort(stun, 3478) } : {}),
    ...(turn !== undefined ? { turnServer: parseTurnServer(turn) } : {}),
    ...(relay_only ? { relayOnly: true } : {}),
  };
}

/** "host[:port]" (the schema checked the shape). */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } {
  const [host = "", port] = text.split(":");
  return { host, port: port !== undefined ? Number(port) : defaultPort };
}

/** A TURN URI (RFC 7065: "turn:host[:port][?transport=udp|tcp]") and its credentials. */
export function parseTurnServer(t: TurnServerConfig): TurnServer {
  const m = /^turn:([^:?]+)(?::(\d+))?(?:\?transport=(udp|tcp))?$/.exec(t.url);
  if (!m) throw new Error(`rtp.ice.turn_servers: bad url ${t.url}`);
  return {
    host: m[1] ?? "",
    port: m[2] !== undefined ? Number(m[2]) : 3478,
    transport: m[3] === "tcp" ? "tcp" : "udp",
    username: t.username,
    password: t.password,
  };
}
