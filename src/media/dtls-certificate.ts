/**
 * The desk's DTLS certificate (RFC 5763 §5): one self-signed ECDSA P-256 certificate per process,
 * made on first use and kept in memory only; its SHA-256 fingerprint goes in every a=fingerprint.
 * A far end's certificate is judged only by the fingerprint in its SDP (RFC 8122 §5), never by a
 * CA: `fingerprintOf` computes it from the DER werift-dtls received.
 */
import { createHash, X509Certificate } from "node:crypto";
import {
  CipherContext,
  HashAlgorithm,
  NamedCurveAlgorithm,
  SignatureAlgorithm,
} from "werift-dtls/lib/dtls/src/index.js";
import type { Fingerprint } from "./sdp-ice.js";

export interface DtlsCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  readonly fingerprint: Fingerprint;
}

/** ECDSA with SHA-256, the signature every WebRTC stack accepts (RFC 8827 §6.5). */
export const DTLS_SIGNATURE = {
  signature: SignatureAlgorithm.ecdsa_3,
  hash: HashAlgorithm.sha256_4,
} as const;

let shared: Promise<DtlsCertificate> | null = null;

/** The process's certificate, made once (≈5 ms) and then shared by every call. */
export function deskCertificate(): Promise<DtlsCertificate> {
  shared ??= makeCertificate().catch((e: unknown) => {
    shared = null;
    throw e;
  });
  return shared;
}

export async function makeCertificate(): Promise<DtlsCertificate> {
  const { certPem, keyPem } = await CipherContext.createSelfSignedCertificateWithKey(
    DTLS_SIGNATURE,
    NamedCurveAlgorithm.secp256r1_23,
  );
  const der = new X509Certificate(certPem).raw;
  return { certPem, keyPem, fingerprint: fingerprintOf(der, "sha-256") };
}

/** The fingerprint of a DER certificate with the named hash (RFC 8122 §5: "sha-256", ...). */
export function fingerprintOf(der: Buffer, algorithm: string): Fingerprint {
  const hex = createHash(algorithm.replace("-", "").toLowerCase()).update(der).digest("hex").toUpperCase();
  return { algorithm: algorithm.toLowerCase(), value: hex.match(/../g)?.join(":") ?? "" };
}

/** Whether `der` is the certificate `expected` names (constant per call, not per packet). */
export function matchesFingerprint(der: Buffer, expected: Fingerprint): boolean {
  return fingerprintOf(der, expected.algorithm).value === expected.value.toUpperCase();
}
