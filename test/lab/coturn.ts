/**
 * coturn (Debian `coturn`, `turnserver` 4.6) as the lab's STUN/TURN server: 127.0.0.1 only, UDP
 * and TCP on one free port, relay ports from a free range, long-term credentials for one static
 * user, no TLS/DTLS listener, no CLI, no web admin, no config file (`-n`: never /etc/turnserver.conf),
 * its user database and log in a temp dir; started and stopped by pid.
 *
 * `--allow-loopback-peers` is needed because every peer in the lab is on 127.0.0.1 (coturn refuses
 * loopback peers by default); `--relay-ip=127.0.0.1` keeps relayed addresses on loopback.
 *
 * Also here: `stunBinding()`, `turnAllocate()` and `openStunClient()`, the product's STUN/TURN
 * probe (src/media/stun-probe.ts, `cuffia doctor`'s) with the lab's defaults, for readiness checks
 * and for tests that want to prove the server's answers.
 */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  openStunClient as openProbeClient,
  turnAllocate as probeAllocate,
  stunBinding as probeBinding,
  type StunClient,
} from "../../src/media/stun-probe.js";
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
   * The STUN/TURN port and relay range of an earlier instance, to start coturn again where the
   * desks know it (a TURN server restarted mid-call); free ones when absent.
   */
  port?: number;
  relayPorts?: { readonly min: number; readonly max: number };
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
  const port = opts.port ?? (await freePort());
  const relayMin = opts.relayPorts?.min ?? (await freePorts(relayCount));
  const relayMax = opts.relayPorts?.max ?? relayMin + relayCount - 1;
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

/** baresip's options (startBaresip) for media relayed by `coturn`: medianat=turn, the lab user. */
export function baresipTurn(coturn: Coturn): {
  medianat: "turn";
  stunServer: { url: string; username: string; password: string };
} {
  return {
    medianat: "turn",
    stunServer: {
      url: `turn:${coturn.host}:${coturn.port}`,
      username: coturn.username,
      password: coturn.password,
    },
  };
}

export interface StunServer {
  host: string;
  port: number;
}

/**
 * One UDP socket talking STUN to one server (the product's client): every request is
 * retransmitted every 250 ms and must be answered within `timeoutMs` (default 2 s) of opening.
 */
export function openStunClient(server: StunServer, timeoutMs = 2000): Promise<StunClient> {
  return openProbeClient(server, timeoutMs);
}

/** A Binding request; resolves with the XOR-MAPPED-ADDRESS the server saw. */
export function stunBinding(
  server: StunServer,
  opts: { timeoutMs?: number } = {},
): Promise<{ host: string; port: number }> {
  return probeBinding(server, opts.timeoutMs ?? 2000);
}

/**
 * A TURN Allocate with long-term credentials (RFC 8656 §7.2), the product's check: 401 with REALM
 * and NONCE first, then the signed request, all from one socket (coturn ties the nonce and the
 * allocation to the 5-tuple). Resolves with the relayed and mapped addresses and the lifetime
 * after releasing the allocation; rejects with StunRefused (status 401 for wrong credentials).
 * `timeoutMs` (default 6 s) bounds the three requests together.
 */
export function turnAllocate(
  server: StunServer,
  username: string,
  password: string,
  opts: { timeoutMs?: number } = {},
): Promise<{
  relayed: { host: string; port: number };
  mapped: { host: string; port: number };
  lifetime: number;
}> {
  return probeAllocate(
    { host: server.host, port: server.port, username, password, transport: "udp" },
    opts.timeoutMs ?? 6000,
  );
}

export { type StunClient, StunRefused, StunTimeout } from "../../src/media/stun-probe.js";
