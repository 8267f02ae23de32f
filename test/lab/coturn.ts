/**
 * coturn (Debian `coturn`, `turnserver` 4.6) as the lab's STUN/TURN server: 127.0.0.1 only, UDP
 * and TCP on one free port, relay ports from a free range, long-term credentials for one static
 * user, no TLS/DTLS listener, no CLI, no web admin, no config file (`-n`: never /etc/turnserver.conf),
 * its user database and log in a temp dir; started and stopped by pid.
 *
 * `--allow-loopback-peers` is needed because every peer in the lab is on 127.0.0.1 (coturn refuses
 * loopback peers by default); `--relay-ip=127.0.0.1` keeps relayed addresses on loopback.
 *
 * Also here: `stunBinding()` and `turnAllocate()`, a minimal STUN/TURN client on werift-ice's
 * message codec, for readiness checks and for tests that want to prove the server's answers.
 */
import { createHash } from "node:crypto";
import { createSocket } from "node:dgram";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { classes, Message, methods, parseMessage } from "werift-ice";
import type { HomeNat } from "./netns.js";
import { freePort, freePorts, LOOPBACK } from "./ports.js";
import { type Spawned, spawnLogged, stopProcess, waitStarted } from "./proc.js";

export interface Coturn {
  readonly pid: number;
  readonly host: string;
  /** STUN/TURN port, UDP and TCP. */
  readonly port: number;
  readonly username: string;
  readonly password: string;
  /** A file holding `password` (no newline), for config keys that read the TURN password from a file. */
  readonly passwordFile: string;
  readonly realm: string;
  /** Relay ports coturn allocates from (inclusive). */
  readonly relayPorts: { readonly min: number; readonly max: number };
  /** `stun:127.0.0.1:PORT` and `turn:127.0.0.1:PORT?transport=udp` */
  readonly stunUrl: string;
  readonly turnUrl: string;
  readonly dir: string;
  /** turnserver's log (with `verbose`, one line per allocation, permission and channel). */
  readonly logFile: string;
  stop(): Promise<void>;
}

export interface CoturnOptions {
  /** Default "cuffia". */
  username?: string;
  /** Default a fixed lab password ("cuffia-turn-pw"). */
  password?: string;
  /** Default "cuffia.lab". */
  realm?: string;
  /** How many relay ports (default 20; each allocation takes one, or two with EVEN-PORT). */
  relayPortCount?: number;
  /** turnserver `--verbose` (logs sessions, permissions and channel binds). */
  verbose?: boolean;
  /** Run directory (log, user database, password file); a fresh temp dir when absent. */
  dir?: string;
  /**
   * Run inside a network namespace of netns.ts (e.g. the "wan" side of createHomeNat()),
   * listening and relaying on `address` there instead of 127.0.0.1.
   */
  netns?: {
    readonly ns: string;
    readonly address: string;
    readonly nat: Pick<HomeNat, "spawn" | "probe">;
  };
}

export async function startCoturn(opts: CoturnOptions = {}): Promise<Coturn> {
  const username = opts.username ?? "cuffia";
  const password = opts.password ?? "cuffia-turn-pw";
  const realm = opts.realm ?? "cuffia.lab";
  const relayCount = opts.relayPortCount ?? 20;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), "cuffia-coturn-")));
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const relayMin = await freePorts(relayCount);
  const relayMax = relayMin + relayCount - 1;
  const logFile = join(dir, "turnserver.log");
  const passwordFile = join(dir, "turn-password");
  await writeFile(passwordFile, password, { mode: 0o600 });

  const host = opts.netns?.address ?? LOOPBACK;
  const args = [
    "-n", // no configuration file: everything is on this command line
    `--listening-ip=${host}`,
    `--relay-ip=${host}`,
    `--listening-port=${port}`,
    `--min-port=${relayMin}`,
    `--max-port=${relayMax}`,
    "--lt-cred-mech",
    `--user=${username}:${password}`,
    `--realm=${realm}`,
    "--allow-loopback-peers",
    "--no-tls",
    "--no-dtls",
    "--no-cli",
    "--no-rfc5780", // NAT behaviour discovery needs a second address; the lab has one
    "--no-software-attribute",
    "--fingerprint",
    `--userdb=${join(dir, "turndb")}`,
    `--pidfile=${join(dir, "turnserver.pid")}`,
    "--log-file=stdout",
    "--simple-log",
    ...(opts.verbose ? ["--verbose"] : []),
  ];
  await writeFile(logFile, `--- turnserver ${args.join(" ")}\n`);
  const netns = opts.netns;
  const proc: Spawned = netns
    ? netns.nat.spawn(netns.ns, "turnserver", args, logFile, { cwd: dir })
    : spawnLogged("turnserver", args, logFile, { cwd: dir });
  await waitStarted(proc, {
    name: "turnserver",
    what: `turnserver answering STUN on ${host}:${port}`,
    logFile,
    ready: async () => {
      if (netns) {
        const answer = await netns.nat.probe(netns.ns, ["binding", host, String(port)]);
        return typeof answer.mapped === "string";
      }
      return stunBinding({ host, port }, { timeoutMs: 300 }).then(
        () => true,
        () => false,
      );
    },
  });

  return {
    pid: proc.pid,
    host,
    port,
    username,
    password,
    passwordFile,
    realm,
    relayPorts: { min: relayMin, max: relayMax },
    stunUrl: `stun:${host}:${port}`,
    turnUrl: `turn:${host}:${port}?transport=udp`,
    dir,
    logFile,
    stop: () => stopProcess(proc),
  };
}

export interface StunServer {
  host: string;
  port: number;
}

/** A STUN error response (class ERROR) as an exception: `code` is the ERROR-CODE (401, 438, ...). */
export class StunErrorResponse extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    readonly response: Message,
  ) {
    super(`STUN error ${code} ${reason}`);
  }
}

/** One UDP socket on an ephemeral loopback port talking STUN to one server. */
export interface StunClient {
  /**
   * Sends `request` and resolves with the response of the same transaction (retransmitted every
   * 250 ms until `timeoutMs`, default 2 s). An error response rejects with StunErrorResponse.
   * With `integrityKey`, a success response must carry a valid MESSAGE-INTEGRITY.
   */
  request(request: Message, timeoutMs?: number, integrityKey?: Buffer): Promise<Message>;
  close(): void;
}

export async function openStunClient(server: StunServer): Promise<StunClient> {
  const socket = createSocket("udp4");
  const pending = new Map<string, (message: Message, data: Buffer) => void>();
  socket.on("message", (data) => {
    const message = parseMessage(data);
    if (!message) return;
    pending.get(message.transactionIdHex)?.(message, data);
  });
  socket.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, LOOPBACK, () => {
      socket.removeListener("error", reject);
      resolve();
    });
  });
  return {
    request(request, timeoutMs = 2000, integrityKey) {
      return new Promise((resolve, reject) => {
        const id = request.transactionIdHex;
        const bytes = request.bytes;
        const send = (): void => socket.send(bytes, server.port, server.host);
        const resend = setInterval(send, 250);
        const finish = (outcome: () => void): void => {
          clearTimeout(timer);
          clearInterval(resend);
          pending.delete(id);
          outcome();
        };
        const timer = setTimeout(
          () =>
            finish(() =>
              reject(new Error(`no STUN answer from ${server.host}:${server.port} within ${timeoutMs} ms`)),
            ),
          timeoutMs,
        );
        pending.set(id, (message, data) => {
          if (message.messageClass === classes.ERROR) {
            const [code, reason] = message.getAttributeValue("ERROR-CODE") as [number, string];
            finish(() => reject(new StunErrorResponse(code, reason, message)));
          } else if (integrityKey && !parseMessage(data, integrityKey)) {
            finish(() => reject(new Error("STUN success response with a missing or bad MESSAGE-INTEGRITY")));
          } else {
            finish(() => resolve(message));
          }
        });
        send();
      });
    },
    close() {
      socket.close();
    },
  };
}

/** A Binding request; resolves with the XOR-MAPPED-ADDRESS the server saw. */
export async function stunBinding(
  server: StunServer,
  opts: { timeoutMs?: number } = {},
): Promise<{ host: string; port: number }> {
  const client = await openStunClient(server);
  try {
    const response = await client.request(new Message(methods.BINDING, classes.REQUEST), opts.timeoutMs);
    const mapped = response.getAttributeValue("XOR-MAPPED-ADDRESS") as [string, number] | undefined;
    if (!mapped) throw new Error("STUN Binding response without XOR-MAPPED-ADDRESS");
    return { host: mapped[0], port: mapped[1] };
  } finally {
    client.close();
  }
}

/** The long-term credential key (RFC 5389 §15.4): MD5(username:realm:password). */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash("md5").update(`${username}:${realm}:${password}`).digest();
}

const REQUESTED_TRANSPORT_UDP = 0x11000000;

/**
 * A TURN Allocate with long-term credentials (RFC 8656 §7.2), all from one socket (coturn ties
 * the nonce and the allocation to the 5-tuple): the first request carries no credentials and gets
 * 401 with REALM and NONCE; the second is signed with MESSAGE-INTEGRITY. Resolves with the relayed
 * and mapped addresses after releasing the allocation (Refresh, LIFETIME 0); rejects with
 * StunErrorResponse (401 for wrong credentials).
 */
export async function turnAllocate(
  server: StunServer,
  username: string,
  password: string,
  opts: { timeoutMs?: number } = {},
): Promise<{
  relayed: { host: string; port: number };
  mapped: { host: string; port: number };
  lifetime: number;
}> {
  const client = await openStunClient(server);
  try {
    let challenge: Message;
    try {
      await client.request(
        new Message(methods.ALLOCATE, classes.REQUEST)
          .setAttribute("REQUESTED-TRANSPORT", REQUESTED_TRANSPORT_UDP)
          .addFingerprint(),
        opts.timeoutMs,
      );
      throw new Error("TURN server allocated without asking for credentials");
    } catch (error) {
      if (!(error instanceof StunErrorResponse) || error.code !== 401) throw error;
      challenge = error.response;
    }
    const realm = challenge.getAttributeValue("REALM") as string;
    const nonce = challenge.getAttributeValue("NONCE") as Buffer;
    const key = longTermKey(username, realm, password);
    const signed = (method: methods, lifetime: number): Message => {
      const m = new Message(method, classes.REQUEST);
      if (method === methods.ALLOCATE) m.setAttribute("REQUESTED-TRANSPORT", REQUESTED_TRANSPORT_UDP);
      return m
        .setAttribute("LIFETIME", lifetime)
        .setAttribute("USERNAME", username)
        .setAttribute("REALM", realm)
        .setAttribute("NONCE", nonce)
        .addMessageIntegrity(key)
        .addFingerprint();
    };
    const response = await client.request(signed(methods.ALLOCATE, 60), opts.timeoutMs, key);
    await client.request(signed(methods.REFRESH, 0), opts.timeoutMs, key);
    const relayed = response.getAttributeValue("XOR-RELAYED-ADDRESS") as [string, number];
    const mapped = response.getAttributeValue("XOR-MAPPED-ADDRESS") as [string, number];
    return {
      relayed: { host: relayed[0], port: relayed[1] },
      mapped: { host: mapped[0], port: mapped[1] },
      lifetime: response.getAttributeValue("LIFETIME") as number,
    };
  } finally {
    client.close();
  }
}
