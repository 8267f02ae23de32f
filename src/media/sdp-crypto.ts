/**
 * SDES (RFC 4568): the `a=crypto` attribute of an SRTP audio stream, read and written. Pure.
 *
 *   a=crypto:<tag> <crypto-suite> inline:<base64(master key || master salt)>[|<lifetime>][|<MKI>:<length>] [<session params>]
 *
 * Only what we implement is acceptable: one of our suites (srtp/suites.ts), one inline key of the
 * suite's length, a lifetime at least 2^31 packets when given (more than a call can use), no MKI
 * (§6.1: we never run more than one master key per direction), and no session parameters
 * (KDR, UNENCRYPTED_SRTP/SRTCP, UNAUTHENTICATED_SRTP, FEC_ORDER, FEC_KEY, WSH: §6.3, none
 * implemented). A line that asks for any of these is skipped with the reason; the offer's first
 * acceptable line is the one answered (§7.1.1).
 */
import { randomBytes } from "node:crypto";
import type { RemoteStream } from "./sdp.js";
import type { OfferSecurity } from "./security-policy.js";
import { isSrtpProfile, type SrtpKeys, SUITES } from "./srtp/index.js";

/** An a=crypto line as sdp-transform reads and writes it. */
export interface CryptoAttribute {
  readonly id: number;
  readonly suite: string;
  readonly config: string;
  readonly sessionConfig?: string;
}

/** An acceptable a=crypto line: its tag and the keys it carries. */
export interface CryptoLine {
  readonly tag: number;
  readonly keys: SrtpKeys;
}

const LIFETIME_MIN = 2 ** 31;

/** The line's keys, or why it is not acceptable. */
export function parseCryptoLine(a: CryptoAttribute): CryptoLine | { readonly refused: string } {
  const tag = Number(a.id);
  if (!Number.isInteger(tag) || tag < 0 || tag > 999_999_999) return { refused: `bad tag ${String(a.id)}` };
  if (!isSrtpProfile(a.suite)) return { refused: `suite ${a.suite} not supported` };
  if (a.sessionConfig !== undefined && a.sessionConfig.trim() !== "")
    return { refused: `session parameters not supported (${a.sessionConfig.trim().slice(0, 40)})` };
  const params = a.config.trim().split(";");
  if (params.length !== 1) return { refused: "more than one key (MKI) not supported" };
  const m = /^inline:([A-Za-z0-9+/=]+)(?:\|([^|]+))?(?:\|([^|]+))?$/.exec(params[0] ?? "");
  if (!m) return { refused: "key parameter is not inline:<base64>[|lifetime][|MKI:length]" };
  const [, b64, p2, p3] = m;
  let lifetime: string | undefined;
  let mki: string | undefined;
  // The lifetime comes before the MKI; either may be absent (RFC 4568 §9.2 grammar).
  if (p2?.includes(":")) mki = p2;
  else {
    lifetime = p2;
    mki = p3;
  }
  if (mki !== undefined) return { refused: "MKI not supported" };
  if (lifetime !== undefined) {
    const lm = /^(?:2\^(\d+)|(\d+))$/.exec(lifetime);
    const n = lm ? (lm[1] !== undefined ? 2 ** Number(lm[1]) : Number(lm[2])) : Number.NaN;
    if (!(n >= LIFETIME_MIN))
      return { refused: `key lifetime ${lifetime} shorter than 2^31 packets not supported` };
  }
  const suite = SUITES[a.suite];
  const raw = Buffer.from(b64 as string, "base64");
  if (raw.length !== suite.keyLength + suite.saltLength)
    return {
      refused: `${a.suite} key must be ${suite.keyLength + suite.saltLength} bytes, got ${raw.length}`,
    };
  return {
    tag,
    keys: {
      profile: a.suite,
      masterKey: Buffer.from(raw.subarray(0, suite.keyLength)),
      masterSalt: Buffer.from(raw.subarray(suite.keyLength)),
    },
  };
}

/** The acceptable lines of a stream, in the offer's order, and why the others were skipped. */
export function acceptableCrypto(attrs: readonly CryptoAttribute[] | undefined): {
  readonly lines: readonly CryptoLine[];
  readonly skipped: readonly string[];
} {
  const lines: CryptoLine[] = [];
  const skipped: string[] = [];
  for (const a of attrs ?? []) {
    const r = parseCryptoLine(a);
    if ("refused" in r) skipped.push(`crypto:${String(a.id)} ${r.refused}`);
    else lines.push(r);
  }
  return { lines, skipped };
}

/** A fresh master key and salt for a suite (crypto.randomBytes). */
export function freshKeys(profile: SrtpKeys["profile"]): SrtpKeys {
  const s = SUITES[profile];
  return { profile, masterKey: randomBytes(s.keyLength), masterSalt: randomBytes(s.saltLength) };
}

/** The a=crypto attribute carrying our keys under `tag`. */
export function cryptoAttribute(tag: number, keys: SrtpKeys): CryptoAttribute {
  return {
    id: tag,
    suite: keys.profile,
    config: `inline:${Buffer.concat([keys.masterKey, keys.masterSalt]).toString("base64")}`,
  };
}

export function sameKeys(a: SrtpKeys, b: SrtpKeys): boolean {
  return a.profile === b.profile && a.masterKey.equals(b.masterKey) && a.masterSalt.equals(b.masterSalt);
}

/** What a parsed offer says about its security, for the policy (security-policy.ts). */
export function offerSecurity(
  remote: Pick<RemoteStream, "protocol" | "crypto" | "fingerprint">,
): OfferSecurity {
  const { lines, skipped } = acceptableCrypto(remote.crypto);
  return {
    profile: remote.protocol,
    crypto: lines,
    cryptoOffered: remote.crypto.length,
    cryptoSkipped: skipped,
    fingerprint: remote.fingerprint,
  };
}
