/**
 * The sockets a process has bound, read from /proc (no `ss`/`netstat` needed): lets a test prove
 * that a lab daemon (coturn, rtpengine) listens on loopback only.
 */
import { readdir, readFile, readlink } from "node:fs/promises";

export interface BoundSocket {
  readonly proto: "tcp" | "tcp6" | "udp" | "udp6";
  /** Local address as text: "127.0.0.1" or an IPv6 address in full hex groups. */
  readonly address: string;
  readonly port: number;
  /** TCP state in hex as in /proc (0A = LISTEN); UDP sockets are 07. */
  readonly state: string;
}

function ipv4(hex: string): string {
  // /proc prints the address as a little-endian 32-bit word.
  const bytes = Buffer.from(hex, "hex").reverse();
  return [...bytes].join(".");
}

function ipv6(hex: string): string {
  // Four little-endian 32-bit words.
  const groups: string[] = [];
  for (let w = 0; w < 4; w++) {
    const word = Buffer.from(hex.slice(w * 8, w * 8 + 8), "hex")
      .reverse()
      .toString("hex");
    groups.push(word.slice(0, 4), word.slice(4, 8));
  }
  return groups.join(":");
}

/** Every TCP and UDP socket of `pid` (any thread) with its local address. */
export async function boundSockets(pid: number): Promise<BoundSocket[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m?.[1]) inodes.add(m[1]);
  }
  const found: BoundSocket[] = [];
  for (const proto of ["tcp", "tcp6", "udp", "udp6"] as const) {
    const table = await readFile(`/proc/${pid}/net/${proto}`, "utf8").catch(() => "");
    for (const line of table.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [local, , state] = [cols[1], cols[2], cols[3]];
      const inode = cols[9];
      if (!local || !state || !inode || !inodes.has(inode)) continue;
      const [addrHex, portHex] = local.split(":");
      if (!addrHex || !portHex) continue;
      found.push({
        proto,
        address: proto.endsWith("6") ? ipv6(addrHex) : ipv4(addrHex),
        port: Number.parseInt(portHex, 16),
        state,
      });
    }
  }
  return found;
}

/** The sockets of `pid` bound to anything but 127.0.0.0/8 (or ::1): should be empty in the lab. */
export async function nonLoopbackSockets(pid: number): Promise<BoundSocket[]> {
  const loop6 = "0000:0000:0000:0000:0000:0000:0000:0001";
  return (await boundSockets(pid)).filter((s) => !(s.address.startsWith("127.") || s.address === loop6));
}
