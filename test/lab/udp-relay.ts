/**
 * A media relay on 127.0.0.1 between two RTP endpoints (RTP on an even port, RTCP on the next):
 * what the wire carries is seen here, and may be tampered with on the way. SRTP tests use it to
 * prove that no clear audio crosses (`clearToneShare`) and that damaged packets are dropped while
 * the call goes on. The SDP each side gets must name the relay's ports (`rewriteSdpPort`).
 */
import { createSocket, type Socket } from "node:dgram";

export type Direction = "toA" | "toB";

interface Pair {
  readonly rtp: Socket;
  readonly rtcp: Socket;
  readonly port: number;
}

async function bindPair(): Promise<Pair> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const rtp = createSocket("udp4");
    const port = await new Promise<number>((resolve) =>
      rtp.bind(0, "127.0.0.1", () => resolve(rtp.address().port)),
    );
    if (port % 2 !== 0) {
      rtp.close();
      continue;
    }
    const rtcp = createSocket("udp4");
    const ok = await new Promise<boolean>((resolve) => {
      rtcp.once("error", () => resolve(false));
      rtcp.bind(port + 1, "127.0.0.1", () => resolve(true));
    });
    if (ok) return { rtp, rtcp, port };
    rtp.close();
    rtcp.close();
  }
  throw new Error("no free even/odd UDP port pair on 127.0.0.1");
}

export class UdpRelay {
  /** The RTP datagrams relayed, per direction (the RTCP ones in `rtcp`). */
  readonly rtp: Record<Direction, Buffer[]> = { toA: [], toB: [] };
  readonly rtcp: Record<Direction, Buffer[]> = { toA: [], toB: [] };
  /** Called on every RTP datagram before it is forwarded: may change it in place; false drops it. */
  tamper: ((packet: Buffer, direction: Direction) => boolean | undefined) | null = null;
  private a: { port: number } | null = null;
  private b: { port: number } | null = null;

  private constructor(
    /** A sends here (the port put in the SDP A receives). */
    private readonly facingA: Pair,
    /** B sends here. */
    private readonly facingB: Pair,
  ) {
    this.wire(facingA, facingB, "toB");
    this.wire(facingB, facingA, "toA");
  }

  static async open(): Promise<UdpRelay> {
    return new UdpRelay(await bindPair(), await bindPair());
  }

  /** Where A must send (put in the SDP given to A). */
  get portForA(): number {
    return this.facingA.port;
  }

  /** Where B must send (put in the SDP given to B). */
  get portForB(): number {
    return this.facingB.port;
  }

  /** The endpoints' own RTP ports (from their SDP). */
  connect(aPort: number, bPort: number): void {
    this.a = { port: aPort };
    this.b = { port: bPort };
  }

  private wire(from: Pair, to: Pair, direction: Direction): void {
    const target = () => (direction === "toB" ? this.b : this.a);
    from.rtp.on("message", (msg) => {
      const t = target();
      if (!t) return;
      this.rtp[direction].push(Buffer.from(msg));
      if (this.tamper && this.tamper(msg, direction) === false) return;
      to.rtp.send(msg, t.port, "127.0.0.1");
    });
    from.rtcp.on("message", (msg) => {
      const t = target();
      if (!t) return;
      this.rtcp[direction].push(Buffer.from(msg));
      to.rtcp.send(msg, t.port + 1, "127.0.0.1");
    });
  }

  close(): void {
    for (const s of [this.facingA.rtp, this.facingA.rtcp, this.facingB.rtp, this.facingB.rtcp]) s.close();
  }
}

/** The SDP's audio port (m=audio) and its a=rtcp port replaced: RTP at `port`, RTCP at port + 1. */
export function rewriteSdpPort(sdp: string, port: number): string {
  return sdp.replace(/^m=audio \d+ /m, `m=audio ${port} `).replace(/^a=rtcp:\d+/m, `a=rtcp:${port + 1}`);
}

/** The audio port of an SDP (m=audio). */
export function sdpAudioPort(sdp: string): number {
  const m = /^m=audio (\d+) /m.exec(sdp);
  if (!m) throw new Error("no m=audio line");
  return Number(m[1]);
}

/**
 * The share of the payloads' power, read as 8 kHz G.711 µ-law, that is at `freq`: about 0.5 for a
 * clear tone of that frequency, about 1/N (N samples) for ciphertext, which is noise.
 */
export function clearToneShare(
  packets: readonly Buffer[],
  freq: number,
  decode: (b: Uint8Array) => Int16Array,
  goertzel: (x: Int16Array, rate: number, f: number) => number,
): number {
  const payloads = packets
    .filter((p) => p.length > 12 && ((p[1] as number) & 0x7f) <= 8)
    .map((p) => p.subarray(12));
  const pcm = decode(Buffer.concat(payloads.slice(0, 50)));
  let power = 0;
  for (const v of pcm) power += v * v;
  power /= Math.max(pcm.length, 1);
  return power === 0 ? 0 : goertzel(pcm, 8000, freq) / power;
}

/**
 * A relay in front of one endpoint: it takes the endpoint's SDP address and port (127.0.0.1:P,
 * P + 1) while the endpoint itself is bound to another loopback address on the same ports
 * (`backAddress`:P); what the far end sends to P is relayed to the endpoint, and what the endpoint
 * sends back (it latches onto the relay, a NAT-like source: same IP, another port) goes to the far
 * end. No SDP needs rewriting: the endpoint announces 127.0.0.1 and binds `backAddress`.
 */
export class FrontRelay {
  /** RTP datagrams from the far end (before tampering), and those from the endpoint. */
  readonly fromFar: Buffer[] = [];
  readonly fromEndpoint: Buffer[] = [];
  /** Called on every RTP datagram toward the endpoint: may change it in place. */
  tamper: ((packet: Buffer) => void) | null = null;
  private farRtp: { address: string; port: number } | null = null;
  private farRtcp: { address: string; port: number } | null = null;

  private constructor(
    private readonly pub: Pair,
    private readonly inner: Pair,
    private readonly backAddress: string,
  ) {
    pub.rtp.on("message", (msg, from) => {
      this.farRtp = { address: from.address, port: from.port };
      this.fromFar.push(Buffer.from(msg));
      this.tamper?.(msg);
      inner.rtp.send(msg, pub.port, this.backAddress);
    });
    pub.rtcp.on("message", (msg, from) => {
      this.farRtcp = { address: from.address, port: from.port };
      inner.rtcp.send(msg, pub.port + 1, this.backAddress);
    });
    inner.rtp.on("message", (msg) => {
      this.fromEndpoint.push(Buffer.from(msg));
      if (this.farRtp) pub.rtp.send(msg, this.farRtp.port, this.farRtp.address);
    });
    inner.rtcp.on("message", (msg) => {
      const to = this.farRtcp ?? (this.farRtp ? { ...this.farRtp, port: this.farRtp.port + 1 } : null);
      if (to) pub.rtcp.send(msg, to.port, to.address);
    });
  }

  /** Binds 127.0.0.1:P and P + 1 (P even, free) and a pair toward the endpoint. */
  static async open(backAddress = "127.0.0.2"): Promise<FrontRelay> {
    return new FrontRelay(await bindPair(), await bindPair(), backAddress);
  }

  /** The endpoint's RTP port: bind it on `backAddress`, announce 127.0.0.1. */
  get port(): number {
    return this.pub.port;
  }

  close(): void {
    for (const s of [this.pub.rtp, this.pub.rtcp, this.inner.rtp, this.inner.rtcp]) s.close();
  }
}
