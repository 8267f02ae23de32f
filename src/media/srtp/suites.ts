/**
 * The SRTP protection profiles Cuffia speaks (RFC 4568 §6.2 crypto-suites, RFC 5764 §4.1.2
 * DTLS-SRTP profiles, RFC 7714 AEAD), with the lengths each one implies.
 */
export type SrtpProfile = "AES_CM_128_HMAC_SHA1_80" | "AES_CM_128_HMAC_SHA1_32" | "AEAD_AES_128_GCM";

export interface Suite {
  /** Master and session encryption key, bytes. */
  readonly keyLength: number;
  /** Master and session salt, bytes (112 bits for AES-CM, 96 for GCM). */
  readonly saltLength: number;
  /** Session authentication key, bytes (HMAC-SHA1); 0 for AEAD. */
  readonly authKeyLength: number;
  /** SRTP authentication tag, bytes. */
  readonly rtpTag: number;
  /** SRTCP authentication tag, bytes: 80 bits for both HMAC suites (RFC 4568 §6.2.1/6.2.2). */
  readonly rtcpTag: number;
  readonly aead: boolean;
}

export const SUITES: Readonly<Record<SrtpProfile, Suite>> = {
  AES_CM_128_HMAC_SHA1_80: {
    keyLength: 16,
    saltLength: 14,
    authKeyLength: 20,
    rtpTag: 10,
    rtcpTag: 10,
    aead: false,
  },
  AES_CM_128_HMAC_SHA1_32: {
    keyLength: 16,
    saltLength: 14,
    authKeyLength: 20,
    rtpTag: 4,
    rtcpTag: 10,
    aead: false,
  },
  AEAD_AES_128_GCM: { keyLength: 16, saltLength: 12, authKeyLength: 0, rtpTag: 16, rtcpTag: 16, aead: true },
};

export const SRTP_PROFILES = Object.keys(SUITES) as SrtpProfile[];

export function isSrtpProfile(s: string): s is SrtpProfile {
  return Object.hasOwn(SUITES, s);
}
