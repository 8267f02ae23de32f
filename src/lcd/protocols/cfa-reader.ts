/**
 * Crystalfontz packets coming back (replies 0x40|cmd, reports 0x80, errors 0xC0|cmd), parsed
 * from a byte stream that may split or join packets; a bad CRC drops one byte and resyncs.
 */
import { CFA_MAX_DATA, cfaCrc } from "./crystalfontz.js";

export interface CfaPacket {
  readonly type: number;
  readonly data: Buffer;
}

export class CfaReader {
  #buf: Buffer = Buffer.alloc(0);

  push(bytes: Buffer): CfaPacket[] {
    this.#buf = Buffer.concat([this.#buf, bytes]);
    const out: CfaPacket[] = [];
    for (;;) {
      if (this.#buf.length < 4) break;
      const len = this.#buf[1] ?? 0;
      if (len > CFA_MAX_DATA) {
        this.#buf = this.#buf.subarray(1);
        continue;
      }
      if (this.#buf.length < len + 4) break;
      const crc = cfaCrc(this.#buf.subarray(0, len + 2));
      const got = (this.#buf[len + 2] ?? 0) | ((this.#buf[len + 3] ?? 0) << 8);
      if (crc !== got) {
        this.#buf = this.#buf.subarray(1);
        continue;
      }
      out.push({ type: this.#buf[0] ?? 0, data: Buffer.from(this.#buf.subarray(2, len + 2)) });
      this.#buf = this.#buf.subarray(len + 4);
    }
    // Never hold more than one maximal packet of junk.
    if (this.#buf.length > CFA_MAX_DATA + 4)
      this.#buf = this.#buf.subarray(this.#buf.length - (CFA_MAX_DATA + 4));
    return out;
  }
}
