/**
 * rtpengine (Debian `rtpengine-daemon`, 10.5) as the lab's media relay and WebRTC gateway, behind
 * Kamailio's `rtpengine` module (kamailio.cfg, `-A WITH_RTPENGINE`; see startKamailio's
 * `rtpengine` option and README § WebRTC gateway).
 *
 * Userspace forwarding only: `--table=-1` (no kernel module, no iptables rules), `--config-file=none`
 * (never /etc/rtpengine/rtpengine.conf), `--interface=127.0.0.1` (or the `address` a test made, e.g. a
 * VethLink's rootAddress), the ng control protocol on a free loopback UDP port, RTP ports from a free range, in the foreground, logging to a file; stopped by
 * pid. `ng()` speaks the ng protocol (bencode over UDP) so a test can ask rtpengine about a call
 * (`query`: per-leg protocol, crypto suite, ICE, packet counters) or list calls.
 */
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, freePorts, LOOPBACK } from "./ports.js";
import { type Spawned, spawnLogged, stopProcess, waitStarted } from "./proc.js";

/** A decoded bencode value: byte strings come back as text (rtpengine's are ASCII/UTF-8). */
export type Bencoded = string | number | Bencoded[] | { [key: string]: Bencoded };

export interface Rtpengine {
  readonly pid: number;
  /** The ng control address (loopback). */
  readonly host: string;
  /** The media address (`--interface`): 127.0.0.1 unless `address` was given. */
  readonly mediaAddress: string;
  /** ng control port (UDP). */
  readonly ngPort: number;
  /** The same as Kamailio's rtpengine_sock wants it: `udp:127.0.0.1:PORT`. */
  readonly ngSocket: string;
  /** RTP/RTCP ports rtpengine allocates from (inclusive). */
  readonly portMin: number;
  readonly portMax: number;
  readonly dir: string;
  readonly logFile: string;
  /** Sends one ng command (`{ command: "query", "call-id": ... }`) and resolves with the reply. */
  ng(message: Record<string, Bencoded>, timeoutMs?: number): Promise<{ [key: string]: Bencoded }>;
  /** Call-IDs rtpengine currently holds (`list`). */
  calls(): Promise<string[]>;
  stop(): Promise<void>;
}

export interface RtpengineOptions {
  /** How many media ports (default 60: 2 per stream without rtcp-mux, 2 legs per call). */
  portCount?: number;
  /** rtpengine `--log-level` (default 6, info: one line per offer/answer/delete and per stream). */
  logLevel?: number;
  /** Run directory (log, pid file); a fresh temp dir when absent. */
  dir?: string;
  /**
   * The ng port and media port range of an earlier instance, to start rtpengine again where
   * Kamailio knows it (a media relay restarted mid-call); free ones when absent.
   */
  ngPort?: number;
  ports?: { readonly min: number; readonly max: number };
  /**
   * The media address (`--interface`) instead of 127.0.0.1: an address the test made, e.g. a
   * VethLink's rootAddress, so a far end in the link's namespace reaches rtpengine and rtpengine's
   * ICE offers that address only. The ng control port stays on loopback.
   */
  address?: string;
}

export async function startRtpengine(opts: RtpengineOptions = {}): Promise<Rtpengine> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), "cuffia-rtpengine-")));
  await mkdir(dir, { recursive: true });
  const ngPort = opts.ngPort ?? (await freePort());
  // RTP ports are allocated in even/odd pairs: start the range on an even port.
  const count = Math.max(8, opts.portCount ?? 60);
  const first = opts.ports?.min ?? (await freePorts(count + 1));
  const portMin = first % 2 === 0 ? first : first + 1;
  const portMax = opts.ports?.max ?? portMin + count - 1;
  const logFile = join(dir, "rtpengine.log");
  const mediaAddress = opts.address ?? LOOPBACK;
  const args = [
    "--config-file=none",
    "--table=-1",
    `--interface=${mediaAddress}`,
    `--listen-ng=${LOOPBACK}:${ngPort}`,
    `--port-min=${portMin}`,
    `--port-max=${portMax}`,
    "--foreground",
    "--log-stderr",
    `--log-level=${opts.logLevel ?? 6}`,
    `--pidfile=${join(dir, "rtpengine.pid")}`,
    "--delete-delay=0",
    "--timeout=60",
    "--num-threads=2",
    "--media-num-threads=1",
  ];
  await writeFile(logFile, `--- rtpengine ${args.join(" ")}\n`);
  const proc: Spawned = spawnLogged("rtpengine", args, logFile, { cwd: dir });
  const ng = (message: Record<string, Bencoded>, timeoutMs = 2000) => ngRequest(ngPort, message, timeoutMs);

  await waitStarted(proc, {
    name: "rtpengine",
    what: `rtpengine answering ng ping on ${LOOPBACK}:${ngPort}`,
    logFile,
    ready: async () => {
      const reply = await ng({ command: "ping" }, 300).catch(() => null);
      return reply?.result === "pong";
    },
  });

  return {
    pid: proc.pid,
    host: LOOPBACK,
    mediaAddress,
    ngPort,
    ngSocket: `udp:${LOOPBACK}:${ngPort}`,
    portMin,
    portMax,
    dir,
    logFile,
    ng,
    async calls() {
      const reply = await ng({ command: "list" });
      return Array.isArray(reply.calls) ? reply.calls.map(String) : [];
    },
    stop: () => stopProcess(proc),
  };
}

/** One ng request: `<cookie> <bencoded dict>` over UDP, the reply carries the same cookie. */
export function ngRequest(
  port: number,
  message: Record<string, Bencoded>,
  timeoutMs = 2000,
): Promise<{ [key: string]: Bencoded }> {
  return new Promise((resolve, reject) => {
    const cookie = randomBytes(6).toString("hex");
    const socket = createSocket("udp4");
    const finish = (outcome: () => void): void => {
      clearTimeout(timer);
      socket.close();
      outcome();
    };
    const timer = setTimeout(
      () => finish(() => reject(new Error(`no ng reply from ${LOOPBACK}:${port} within ${timeoutMs} ms`))),
      timeoutMs,
    );
    socket.on("message", (data) => {
      const space = data.indexOf(0x20);
      if (space < 0 || data.subarray(0, space).toString("latin1") !== cookie) return;
      try {
        const reply = bdecode(data.subarray(space + 1));
        if (typeof reply !== "object" || Array.isArray(reply))
          throw new Error("ng reply is not a dictionary");
        if (reply.result === "error") throw new Error(`rtpengine: ${String(reply["error-reason"])}`);
        finish(() => resolve(reply));
      } catch (error) {
        finish(() => reject(error));
      }
    });
    socket.once("error", (error) => finish(() => reject(error)));
    socket.bind(0, LOOPBACK, () => {
      socket.send(Buffer.concat([Buffer.from(`${cookie} `), bencode(message)]), port, LOOPBACK);
    });
  });
}

export function bencode(value: Bencoded): Buffer {
  if (typeof value === "number") return Buffer.from(`i${Math.trunc(value)}e`);
  if (typeof value === "string") {
    const bytes = Buffer.from(value, "utf8");
    return Buffer.concat([Buffer.from(`${bytes.length}:`), bytes]);
  }
  if (Array.isArray(value)) return Buffer.concat([Buffer.from("l"), ...value.map(bencode), Buffer.from("e")]);
  const keys = Object.keys(value).sort();
  return Buffer.concat([
    Buffer.from("d"),
    ...keys.flatMap((k) => [bencode(k), bencode(value[k] as Bencoded)]),
    Buffer.from("e"),
  ]);
}

export function bdecode(data: Buffer): Bencoded {
  let pos = 0;
  const fail = (why: string): never => {
    throw new Error(`bad bencode at ${pos}: ${why}`);
  };
  const next = (): Bencoded => {
    const c = data[pos];
    if (c === undefined) return fail("truncated");
    if (c === 0x69 /* i */) {
      const end = data.indexOf(0x65, pos);
      if (end < 0) return fail("unterminated integer");
      const n = Number(data.subarray(pos + 1, end).toString("ascii"));
      pos = end + 1;
      return n;
    }
    if (c === 0x6c /* l */) {
      pos++;
      const list: Bencoded[] = [];
      while (data[pos] !== 0x65) list.push(next());
      pos++;
      return list;
    }
    if (c === 0x64 /* d */) {
      pos++;
      const dict: { [key: string]: Bencoded } = {};
      while (data[pos] !== 0x65) {
        const key = next();
        if (typeof key !== "string") return fail("dictionary key is not a string");
        dict[key] = next();
      }
      pos++;
      return dict;
    }
    const colon = data.indexOf(0x3a, pos);
    if (colon < 0) return fail("string without length");
    const length = Number(data.subarray(pos, colon).toString("ascii"));
    if (!Number.isInteger(length) || colon + 1 + length > data.length) return fail("bad string length");
    const text = data.subarray(colon + 1, colon + 1 + length).toString("utf8");
    pos = colon + 1 + length;
    return text;
  };
  return next();
}

/** One side of a call as rtpengine sees it (`query`), flattened for assertions. */
export interface CallLeg {
  /** The SIP tag of this side ("" until the answer names it). */
  readonly tag: string;
  /** Transport protocol of its (first) audio media, e.g. "RTP/AVP", "UDP/TLS/RTP/SAVPF". */
  readonly protocol: string;
  /** Union of the media's and its streams' flags (e.g. "ICE", "DTLS", "RTCP", "SRTP", "rtcp-mux"). */
  readonly flags: string[];
  /** Packets and bytes rtpengine received from this side (all its streams). */
  readonly packets: number;
  readonly bytes: number;
  /** The address:port this side's media comes from (first stream with an endpoint). */
  readonly endpoint: string | null;
  /** rtpengine's local ports for this side. */
  readonly localPorts: number[];
  /** The raw `tags` entry, for anything else a test wants to read. */
  readonly raw: { [key: string]: Bencoded };
}

const asDict = (v: Bencoded | undefined): { [key: string]: Bencoded } =>
  v !== undefined && typeof v === "object" && !Array.isArray(v) ? v : {};
const asArray = (v: Bencoded | undefined): Bencoded[] => (Array.isArray(v) ? v : []);

/** Each side of `callId` as rtpengine sees it right now. */
export async function callLegs(rtpengine: Rtpengine, callId: string): Promise<CallLeg[]> {
  const reply = await rtpengine.ng({ command: "query", "call-id": callId });
  return Object.values(asDict(reply.tags)).map((t) => {
    const tag = asDict(t);
    const media = asArray(tag.medias).map(asDict);
    const audio = media.find((m) => m.type === "audio") ?? media[0] ?? {};
    const streams = asArray(audio.streams).map(asDict);
    const flags = new Set<string>(asArray(audio.flags).map(String));
    let packets = 0;
    let bytes = 0;
    let endpoint: string | null = null;
    for (const s of streams) {
      for (const f of asArray(s.flags)) flags.add(String(f));
      const stats = asDict(s.stats);
      packets += Number(stats.packets ?? 0);
      bytes += Number(stats.bytes ?? 0);
      const ep = asDict(s.endpoint);
      if (endpoint === null && typeof ep.address === "string") endpoint = `${ep.address}:${String(ep.port)}`;
    }
    return {
      tag: String(tag.tag ?? ""),
      protocol: String(audio.protocol ?? ""),
      flags: [...flags],
      packets,
      bytes,
      endpoint,
      localPorts: streams.map((s) => Number(s["local port"] ?? 0)).filter((p) => p > 0),
      raw: tag,
    };
  });
}

/**
 * Makes Kamailio (started with `rtpengine`) treat every contact of `user` as a WebRTC end, whatever
 * its SIP transport: offers toward it become DTLS-SRTP + ICE + rtcp-mux (`webrtc` htable).
 */
export async function markWebrtcUser(kamailio: { rpc(...args: string[]): Promise<string> }, user: string) {
  await kamailio.rpc("htable.seti", "webrtc", `s:${user}`, "1");
}
