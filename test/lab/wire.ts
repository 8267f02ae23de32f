/**
 * What crosses the loopback wire: dumpcap (Wireshark's capture engine, Debian `tshark`) on `lo`
 * with a BPF filter, written to a pcap file and read back here as UDP datagrams. Used to prove
 * that an encrypted call carries no clear G.711 (`looksLikeClearTone`).
 *
 * Capturing needs CAP_NET_RAW (root in the lab and in CI). The pcap is read with a tiny parser
 * (classic pcap, link types 1 Ethernet and 113 Linux cooked; IPv4/UDP only): nothing to install.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type Spawned, spawnLogged, stopProcess, waitUntil } from "./proc.js";

export interface Datagram {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload: Buffer;
}

export interface Capture {
  /** Ends the capture and returns every UDP datagram it saw. */
  stop(): Promise<Datagram[]>;
}

/** Starts dumpcap on lo with `filter` (BPF, e.g. "udp portrange 23400-23499"); resolves once it captures. */
export async function startCapture(dir: string, filter: string): Promise<Capture> {
  const file = join(dir, `wire-${Date.now()}.pcap`);
  const logFile = join(dir, "dumpcap.log");
  // -P: classic pcap (not pcapng), which the parser below reads.
  const proc: Spawned = spawnLogged("dumpcap", ["-q", "-i", "lo", "-P", "-f", filter, "-w", file], logFile);
  await waitUntil(
    "dumpcap capturing",
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`dumpcap exited: ${await readFile(logFile, "utf8")}`);
      const log = await readFile(logFile, "utf8").catch(() => "");
      return /Capturing on/i.test(log) ? true : undefined;
    },
    10_000,
  );
  return {
    async stop() {
      await stopProcess(proc, 3000, ["SIGINT"]);
      return parsePcap(await readFile(file));
    },
  };
}

/** UDP datagrams of a classic pcap file (IPv4 only). */
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
    const ip = frame.subarray(linkLen);
    if (ip.length < 28 || ip[0] === undefined || ip[0] >> 4 !== 4 || ip[9] !== 17) continue;
    const ihl = (ip[0] & 0x0f) * 4;
    const udp = ip.subarray(ihl);
    if (udp.length < 8) continue;
    out.push({
      srcPort: udp.readUInt16BE(0),
      dstPort: udp.readUInt16BE(2),
      payload: udp.subarray(8, udp.readUInt16BE(4)),
    });
  }
  return out;
}

/**
 * Whether an RTP datagram's payload is a clear G.711 tone of period `periodSamples` (at 8 kHz): a
 * pure tone repeats its encoded bytes every period, which SRTP's keystream destroys. True when
 * at least 90 % of the payload's bytes equal the byte one period later.
 */
export function looksLikeClearTone(datagram: Buffer, periodSamples: number): boolean {
  if (datagram.length < 12 + 2 * periodSamples || ((datagram[0] ?? 0) & 0xc0) !== 0x80) return false;
  const cc = (datagram[0] ?? 0) & 0x0f;
  const payload = datagram.subarray(12 + 4 * cc);
  let same = 0;
  let total = 0;
  for (let i = 0; i + periodSamples < payload.length; i++) {
    total++;
    if (payload[i] === payload[i + periodSamples]) same++;
  }
  return total > 0 && same / total >= 0.9;
}
