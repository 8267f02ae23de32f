/**
 * What a call's RTP needs from the config (`rtp:` section), in the shape the media factory takes.
 */
import { everyKeyRead } from "../config/every-key-read.js";
import type { Config } from "../config/schema.js";
import type { MediaFactoryOptions } from "./factory.js";

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
  };
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
