/**
 * SRTP key derivation (RFC 3711 §4.3) with the AES-CM PRF (§4.3.3), key derivation rate 0 (the
 * only rate SDES without a KDR parameter and DTLS-SRTP use): every session key is
 * AES-CM(master key, IV = (master salt XOR label·2^48)·2^16) over zeros, one label per key.
 * RFC 7714 §11 uses the same PRF for AEAD_AES_128_GCM with a 96-bit master salt, which the
 * 112-bit x is padded to with zero bits on the right (as libsrtp and libre do).
 */
import { AesCm, BLOCK } from "./aes-cm.js";

/** Labels of RFC 3711 §4.3.1 / §4.3.2. */
export const LABEL = {
  rtpEncryption: 0x00,
  rtpAuth: 0x01,
  rtpSalt: 0x02,
  rtcpEncryption: 0x03,
  rtcpAuth: 0x04,
  rtcpSalt: 0x05,
} as const;

export class KeyDerivation {
  private readonly prf: AesCm;
  private readonly salt: Buffer;

  constructor(masterKey: Buffer, masterSalt: Buffer) {
    if (masterSalt.length > 14)
      throw new Error(`master salt longer than 112 bits (${masterSalt.length} bytes)`);
    this.prf = new AesCm(masterKey);
    this.salt = Buffer.alloc(14);
    masterSalt.copy(this.salt);
  }

  /** The session key of `label`, `length` bytes (index 0: the key derivation rate is 0). */
  derive(label: number, length: number): Buffer {
    const iv = Buffer.alloc(BLOCK);
    this.salt.copy(iv);
    // key_id = label || r (r = 0, 48 bits): the label lands on the 8th byte of the 112-bit x.
    iv[7] = (iv[7] as number) ^ label;
    return Buffer.from(this.prf.keystream(iv, length).subarray(0, length));
  }
}
