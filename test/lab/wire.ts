/**
 * What crossed the wire: capture UDP on `lo` with tshark (to a file, with a capture filter, nothing
 * dissected while the call runs), then read each datagram's payload and judge whether RTP audio
 * went in the clear. Used to prove "no clear G.711 crosses the wire when the call is encrypted".
 *
 * SRTP keeps the RTP header in the clear and encrypts the payload, so the header alone says
 * nothing; the judge is the byte entropy of the RTP payloads: G.711 audio (speech, tones,
 * silence) stays well below 7.5 bits per byte, an AES-CM/GCM payload is uniformly random (≈ 7.97
 * bits over 8 kB or more). Datagrams that are not RTP (STUN, DTLS, RTCP) are classified apart
 * (RFC 7983 first-byte ranges).
 */
import { createSocket } from "node:dgram";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { freePort, LOOPBACK } from "./ports.js";
import { execFileAsync, type Spawned, spawnLogged, stopProcess, waitUntil } from "./proc.js";

export interface WireCapture {
  readonly file: string;
  readonly pid: number;
  /** The port the readiness probes were sent to (their datagrams are in the file too). */
  readonly probePort: number;
  /** Stops tshark (SIGINT, by pid) and waits until the file is complete. */
  stop(): Promise<void>;
  /** The captured datagrams without the readiness probes (call after stop()). */
  datagrams(): Promise<Datagram[]>;
}

/**
 * Starts `tshark -i IFACE -f FILTER -w FILE` (IFACE: lo unless told, e.g. "any") and resolves once packets matching FILTER are really
 * being written: tshark's "Capturing on" comes before that under load (a DTLS handshake right
 * after it was missed), so probe datagrams to a free port, also let through by the filter, are
 * sent until the file grows.
 */
export async function startWireCapture(file: string, filter: string, iface = "lo"): Promise<WireCapture> {
  const logFile = `${file}.log`;
  const probePort = await freePort();
  const fullFilter = `(${filter}) or (udp and dst host ${LOOPBACK} and dst port ${probePort})`;
  const proc: Spawned = spawnLogged("tshark", ["-i", iface, "-f", fullFilter, "-w", file, "-q"], logFile);
  const alive = async (): Promise<void> => {
    if (proc.child.exitCode !== null) throw new Error(`tshark exited: ${await readFile(logFile, "utf8")}`);
  };
  try {
    await waitUntil(
      `tshark capturing (${filter})`,
      async () => {
        await alive();
        return (await readFile(logFile, "utf8").catch(() => "")).includes("Capturing on");
      },
      10_000,
    );
    const before = (await stat(file).catch(() => ({ size: 0 }))).size;
    const probe = createSocket("udp4");
    await new Promise<void>((resolve) => probe.bind(0, LOOPBACK, () => resolve()));
    try {
      await waitUntil(
        "the capture file to record a probe",
        async () => {
          await alive();
          probe.send("cuffia-capture-probe", probePort, LOOPBACK);
          return (await stat(file).catch(() => ({ size: 0 }))).size > before;
        },
        10_000,
        50,
      );
    } finally {
      probe.close();
    }
  } catch (error) {
    await stopProcess(proc, 5000, ["SIGINT"]);
    throw error;
  }
  return {
    file,
    pid: proc.pid,
    probePort,
    stop: () => stopProcess(proc, 5000, ["SIGINT"]),
    async datagrams() {
      return (await readDatagrams(file)).filter((d) => d.dstPort !== probePort);
    },
  };
}

export type DatagramKind = "stun" | "dtls" | "rtp" | "rtcp" | "other";

export interface Datagram {
  /** IPv4 addresses, dotted. */
  readonly srcAddress: string;
  readonly dstAddress: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload: Buffer;
  readonly kind: DatagramKind;
}

/** RFC 7983 demultiplexing by first byte, then RTP vs RTCP by the payload-type byte (RFC 5761). */
export function classify(payload: Buffer): DatagramKind {
  const b0 = payload[0];
  const b1 = payload[1];
  if (b0 === undefined || b1 === undefined) return "other";
  if (b0 <= 3) return "stun";
  if (b0 >= 20 && b0 <= 63) return "dtls";
  if (b0 >= 128 && b0 <= 191 && payload.length >= 12) {
    return b1 >= 192 && b1 <= 223 ? "rtcp" : "rtp";
  }
  return "other";
}

/** Every UDP datagram in a capture file. */
export async function readDatagrams(file: string): Promise<Datagram[]> {
  const { stdout } = await execFileAsync(
    "tshark",
    [
      "-r",
      file,
      "-T",
      "fields",
      "-E",
      "separator=/t",
      "-e",
      "udp.srcport",
      "-e",
      "udp.dstport",
      "-e",
      "udp.payload",
      "-e",
      "ip.src",
      "-e",
      "ip.dst",
    ],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  return stdout
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => {
      const [src = "0", dst = "0", hex = "", srcAddress = "", dstAddress = ""] = l.split("\t");
      const payload = Buffer.from(hex.replace(/:/g, ""), "hex");
      return {
        srcAddress,
        dstAddress,
        srcPort: Number(src),
        dstPort: Number(dst),
        payload,
        kind: classify(payload),
      };
    });
}

/** The payload of an RTP packet (after CSRCs and header extension, before padding). */
export function rtpPayload(packet: Buffer): { payloadType: number; ssrc: number; payload: Buffer } {
  const b0 = packet[0] ?? 0;
  const csrcCount = b0 & 0x0f;
  let offset = 12 + 4 * csrcCount;
  if (b0 & 0x10 && packet.length >= offset + 4) offset += 4 + 4 * packet.readUInt16BE(offset + 2);
  let end = packet.length;
  if (b0 & 0x20) end -= packet[packet.length - 1] ?? 0;
  return {
    payloadType: (packet[1] ?? 0) & 0x7f,
    ssrc: packet.readUInt32BE(8),
    payload: packet.subarray(Math.min(offset, end), Math.max(offset, end)),
  };
}

/** Shannon entropy in bits per byte of all the bytes given. */
export function byteEntropy(chunks: readonly Buffer[]): number {
  const counts = new Array<number>(256).fill(0);
  let total = 0;
  for (const c of chunks) {
    for (const byte of c) counts[byte] = (counts[byte] ?? 0) + 1;
    total += c.length;
  }
  if (total === 0) return 0;
  let h = 0;
  for (const n of counts) {
    if (n > 0) h -= (n / total) * Math.log2(n / total);
  }
  return h;
}

export interface RtpVerdict {
  /** RTP packets seen, and their payload bytes. */
  readonly packets: number;
  readonly payloadBytes: number;
  /** Payload types seen (from the clear RTP header). */
  readonly payloadTypes: number[];
  /** Bits per byte over every RTP payload. */
  readonly entropy: number;
  /** true: the payloads look encrypted; false: clear audio; null: too few bytes to judge. */
  readonly encrypted: boolean | null;
  readonly kinds: Record<DatagramKind, number>;
}

/** Judges the RTP datagrams of `datagrams` (filter them to one leg or direction first). */
export function judgeRtp(datagrams: readonly Datagram[], minBytes = 8000): RtpVerdict {
  const kinds: Record<DatagramKind, number> = { stun: 0, dtls: 0, rtp: 0, rtcp: 0, other: 0 };
  const payloads: Buffer[] = [];
  const types = new Set<number>();
  for (const d of datagrams) {
    kinds[d.kind]++;
    if (d.kind !== "rtp") continue;
    const rtp = rtpPayload(d.payload);
    types.add(rtp.payloadType);
    payloads.push(rtp.payload);
  }
  const payloadBytes = payloads.reduce((n, p) => n + p.length, 0);
  const entropy = byteEntropy(payloads);
  return {
    packets: payloads.length,
    payloadBytes,
    payloadTypes: [...types].sort((a, b) => a - b),
    entropy,
    encrypted: payloadBytes < minBytes ? null : entropy > 7.5,
    kinds,
  };
}

/*
 * The same capture under the API the ice side wrote in parallel (w/ice's test/lab/wire.ts), so
 * that merging both keeps its tests working with this file: `startCapture(dir, filter)` whose
 * `stop()` returns the datagrams, `parsePcap()` for classic pcap files, `looksLikeClearTone()`.
 */

/** A capture whose `stop()` ends it and returns every UDP datagram it saw (probes excluded). */
export interface Capture {
  stop(): Promise<Datagram[]>;
}

/** startWireCapture() into `dir` (file `wire-<time>.pcap`), returning the datagrams on stop(). */
export async function startCapture(dir: string, filter: string, iface = "lo"): Promise<Capture> {
  const capture = await startWireCapture(join(dir, `wire-${Date.now()}.pcap`), filter, iface);
  return {
    async stop() {
      await capture.stop();
      return capture.datagrams();
    },
  };
}

/** UDP datagrams of a classic pcap file (IPv4 only; link types Ethernet, Linux cooked, null). */
export function parsePcap(buf: Buffer): Datagram[] {
  if (buf.length < 24) return [];
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linkType = u32(20);
  const linkLen = linkType === 1 ? 14 : linkType === 113 ? 16 : linkType === 0 ? 4 : -1;
  if (linkLen < 0) throw new Error(`pcap link type ${linkType} not supported`);
  const out: Datagram[] = [];
  for (let o = 24; o + 16 <= buf.length; ) {
    const caplen = u32(o + 8);
    const frame = buf.subarray(o + 16, o + 16 + caplen);
    o += 16 + caplen;
    const ip4 = frame.subarray(linkLen);
    if (ip4.length < 28 || ip4[0] === undefined || ip4[0] >> 4 !== 4 || ip4[9] !== 17) continue;
    const udp = ip4.subarray((ip4[0] & 0x0f) * 4);
    if (udp.length < 8) continue;
    const payload = udp.subarray(8, udp.readUInt16BE(4));
    out.push({
      srcAddress: ip4.subarray(12, 16).join("."),
      dstAddress: ip4.subarray(16, 20).join("."),
      srcPort: udp.readUInt16BE(0),
      dstPort: udp.readUInt16BE(2),
      payload,
      kind: classify(payload),
    });
  }
  return out;
}

/**
 * Whether an RTP datagram's payload is a clear G.711 tone of period `periodSamples` (at 8 kHz): a
 * pure tone repeats its encoded bytes every period, which SRTP's keystream destroys. True when at
 * least 90 % of the payload's bytes equal the byte one period later.
 */
export function looksLikeClearTone(datagram: Buffer, periodSamples: number): boolean {
  if (datagram.length < 12 + 2 * periodSamples || ((datagram[0] ?? 0) & 0xc0) !== 0x80) return false;
  const payload = rtpPayload(datagram).payload;
  let same = 0;
  let total = 0;
  for (let i = 0; i + periodSamples < payload.length; i++) {
    total++;
    if (payload[i] === payload[i + periodSamples]) same++;
  }
  return total > 0 && same / total >= 0.9;
}
