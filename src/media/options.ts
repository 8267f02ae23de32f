/**
 * What a call's RTP needs from the config (`rtp:` section), in the shape the media factory takes.
 */
import { everyKeyRead } from "../config/every-key-read.js";
import type { Config } from "../config/schema.js";
import type { MediaFactoryOptions } from "./factory.js";

export type RtpOptions = MediaFactoryOptions["rtp"];

/**
 * The `rtp:` section as the media factory takes it. `announce` is the address put in SDP: the
 * configured `advertise`, or one found by the caller (rtpAnnounceFromConfig says when it must).
 */
export function rtpOptionsFromConfig(config: Config, announce: string): RtpOptions {
  const {
    address,
    advertise: _advertise,
    port_min,
    port_max,
    codecs,
    media_timeout,
    hold_media_timeout,
    ...rest
  } = config.rtp;
  everyKeyRead(rest);
  return {
    address,
    announce,
    portMin: port_min,
    portMax: port_max,
    codecs,
    mediaTimeoutMs: media_timeout * 1000,
    holdMediaTimeoutMs: hold_media_timeout * 1000,
  };
}

/** The address to announce when the config settles it (advertise, or a bound address); else undefined. */
export function rtpAnnounceFromConfig(config: Config): string | undefined {
  return config.rtp.advertise ?? (config.rtp.address !== "0.0.0.0" ? config.rtp.address : undefined);
}
