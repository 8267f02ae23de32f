/**
 * Opus in SDP (RFC 7587 §6-7): the format parameters we write, and what the far end's mean for
 * our encoder. Pure: no libopus.
 *
 * The far end's parameters describe its decoder (what it wants to receive):
 *  - maxplaybackrate: no point coding audio above half of it (we cap the encoder's bandwidth);
 *  - maxaveragebitrate: our encoder's average bitrate stays below it;
 *  - stereo: it prefers stereo; we send mono voice, which every Opus decoder plays (§7.1);
 *  - useinbandfec=1: it can use in-band FEC, so our encoder adds it;
 *  - cbr=1: it wants constant bitrate;
 *  - ptime/minptime/maxptime: packet durations; we send 20 ms, which every value a voice
 *    offer carries allows (a minptime above 20 is refused as incompatible, see below).
 * sprop-stereo describes what it sends: our decoder is mono and libopus downmixes stereo
 * packets, so both are played.
 */

/**
 * What we write in a=fmtp for Opus: we send and prefer mono (RFC 7587 §7.1: both default to 0),
 * and our decoder uses in-band FEC (useinbandfec=1, §6.1: a lost packet is recovered from the
 * next one's FEC data, so the far end's encoder should add it).
 */
export const OPUS_LOCAL_FMTP = "stereo=0;sprop-stereo=0;useinbandfec=1";

/** Our encoder's average bitrate unless the far end asks for less: wideband voice with FEC room. */
export const OPUS_DEFAULT_BITRATE = 32_000;

export interface OpusSendParams {
  /** Highest audio bandwidth worth coding, Hz of sample rate (8000-48000). */
  readonly maxPlaybackRate: number;
  /** Average bitrate, bit/s (6000-510000, RFC 7587 §6.1). */
  readonly bitrate: number;
  readonly inbandFec: boolean;
  readonly cbr: boolean;
  readonly stereoPreferred: boolean;
}

export const OPUS_DEFAULT_PARAMS: OpusSendParams = {
  maxPlaybackRate: 48_000,
  bitrate: OPUS_DEFAULT_BITRATE,
  inbandFec: false,
  cbr: false,
  stereoPreferred: false,
};

/** `a=fmtp` text into lower-cased keys (RFC 7587 §6.1: `key=value` separated by `;`). */
export function parseFmtp(config: string | undefined): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  for (const part of (config ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    out.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  return out;
}

function intParam(m: ReadonlyMap<string, string>, key: string): number | null {
  const v = m.get(key);
  if (v === undefined || !/^\d{1,7}$/.test(v)) return null;
  return Number(v);
}

/** What the far end's Opus fmtp asks of our encoder; anything unreadable keeps its default. */
export function opusSendParams(fmtp: string | undefined): OpusSendParams {
  const m = parseFmtp(fmtp);
  const rate = intParam(m, "maxplaybackrate");
  const max = intParam(m, "maxaveragebitrate");
  return {
    maxPlaybackRate: rate !== null && rate >= 8000 ? Math.min(48_000, rate) : 48_000,
    bitrate: max !== null && max >= 6000 ? Math.min(max, OPUS_DEFAULT_BITRATE) : OPUS_DEFAULT_BITRATE,
    inbandFec: m.get("useinbandfec") === "1",
    cbr: m.get("cbr") === "1",
    stereoPreferred: m.get("stereo") === "1",
  };
}

/**
 * Whether our 20 ms packets suit the far end: a minptime above 20 ms (fmtp, RFC 7587 §6.1) or a
 * maxptime below it (a=maxptime) would make every packet we send one it asked not to get.
 */
export function accepts20ms(fmtp: string | undefined, maxptime: number | undefined): boolean {
  const minptime = intParam(parseFmtp(fmtp), "minptime");
  return (minptime === null || minptime <= 20) && (maxptime === undefined || maxptime >= 20);
}

/** libopus OPUS_SET_MAX_BANDWIDTH value for a playback rate (RFC 7587 §7.1's mapping). */
export function maxBandwidthFor(rate: number): number {
  if (rate <= 8000) return 1101; // OPUS_BANDWIDTH_NARROWBAND
  if (rate <= 12_000) return 1102; // MEDIUMBAND
  if (rate <= 16_000) return 1103; // WIDEBAND
  if (rate <= 24_000) return 1104; // SUPERWIDEBAND
  return 1105; // FULLBAND
}
