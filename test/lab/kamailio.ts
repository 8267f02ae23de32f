/**
 * The lab's SIP registrar + proxy: Kamailio on 127.0.0.1 with the static config next to this
 * file (kamailio.cfg), ports and paths passed as pre-processor defines.
 *
 * Port layout from one base B (default 25060, bases 100 apart so labs can run side by side):
 *   B      SIP over UDP and TCP
 *   B + 1  SIP over TLS
 *   B + 20 SIP over WebSocket (ws://127.0.0.1:B+20)
 *   B + 23 SIP over secure WebSocket (wss://127.0.0.1:B+23)
 */
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asList, asStruct, type KamStruct, parseKamcmd } from "./kamcmd.js";
import type { HomeNat } from "./netns.js";
import { isPortFree } from "./ports.js";
import {
  execFileAsync,
  repoRoot,
  type Spawned,
  spawnLogged,
  stopProcess,
  tcpAccepts,
  waitUntil,
} from "./proc.js";

export const LAB_DOMAIN = "127.0.0.1";
export const DEFAULT_LAB_BASE = 25060;

export interface LabKamailioInfo {
  readonly pid: number;
  readonly base: number;
  readonly domain: string;
  readonly udpPort: number;
  readonly tcpPort: number;
  readonly tlsPort: number;
  readonly wsPort: number;
  readonly wssPort: number;
  /** CA certificate (PEM) that signed the TLS/WSS server certificate for IP 127.0.0.1. */
  readonly caFile: string;
  readonly users: Readonly<Record<string, string>>;
  readonly dir: string;
  /** kamcmd socket, e.g. unix:/tmp/cuffia-lab-x/kamailio/run/kamailio_ctl */
  readonly ctl: string;
}

/** user => password; must match event_route[htable:mod-init] in kamailio.cfg. */
export const LAB_USERS: Readonly<Record<string, string>> = Object.freeze({
  "1017": "pw1017",
  "1018": "pw1018",
  "2001": "pw2001",
  "2002": "pw2002",
  "2003": "pw2003",
  "3001": "pw3001",
});

/** The lab PBX config, next to this file (found from the repo root: the demo runs a compiled copy). */
export const KAMAILIO_CFG = join(repoRoot(), "test", "lab", "kamailio.cfg");

export interface Registration {
  aor: string;
  contact: string;
  received: string | null;
}

/** A running lab PBX: its facts (the same the integration setup hands to tests) and controls. */
export interface Kamailio extends Omit<LabKamailioInfo, "base"> {
  /** Current registrations (usrloc `ul.dump`). */
  registrations(): Promise<Registration[]>;
  /** TCP/TLS/WS connections (`core.tcp_list`), as parsed structs. */
  tcpConnections(): Promise<unknown>;
  /** Runs a kamcmd RPC command against this instance and returns its raw output. */
  rpc(...args: string[]): Promise<string>;
  /** Stops and starts again on the same ports (usrloc is in memory: registrations are lost). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface KamailioOptions {
  /** Port base (see the layout above); the first free one from 25060 in steps of 100 when absent. */
  base?: number;
  /** Turns the websocket module's server PINGs on (`-A WITH_WSPING`). */
  wsPing?: boolean;
  /** Run directory (config defines, certificate, ctl socket, log); a fresh temp dir when absent. */
  dir?: string;
  /**
   * Media through this rtpengine (`-A WITH_RTPENGINE`): the WebRTC gateway of kamailio.cfg
   * (see startRtpengine() in rtpengine.ts and README § WebRTC gateway).
   */
  rtpengine?: { readonly ngSocket: string };
  /**
   * Run inside a network namespace of netns.ts (e.g. createHomeNat()'s "wan" side), every listener
   * and the lab domain on `address` instead of 127.0.0.1. kamcmd still works (its socket is a
   * file); readiness is judged over it, since the test process cannot reach the namespace's ports.
   */
  netns?: { readonly ns: string; readonly address: string; readonly nat: Pick<HomeNat, "spawn"> };
  /**
   * Every listener and the lab domain on this address of this namespace instead of 127.0.0.1 (e.g.
   * a VethLink's rootAddress, so a peer in the link's namespace reaches it too).
   */
  listen?: string;
}

export function labPorts(base: number): { sip: number; tls: number; ws: number; wss: number } {
  return { sip: base, tls: base + 1, ws: base + 20, wss: base + 23 };
}

async function basePortsFree(base: number): Promise<boolean> {
  for (const port of Object.values(labPorts(base))) {
    if (!(await isPortFree(port))) return false;
  }
  return true;
}

/** The first base from 25060 (steps of 100, up to 29960) whose ports are all free. */
export async function findFreeBase(start = DEFAULT_LAB_BASE): Promise<number> {
  for (let base = start; base <= 29_960; base += 100) {
    if (await basePortsFree(base)) return base;
  }
  throw new Error("no free Kamailio port base between 25060 and 29960");
}

/** A CA and a server certificate for IP 127.0.0.1 signed by it (EC keys: fast to make). */
async function makeCertificate(
  dir: string,
  ip = LAB_DOMAIN,
): Promise<{ ca: string; cert: string; key: string }> {
  const p = (name: string): string => join(dir, name);
  const ssl = (args: string[]): Promise<unknown> => execFileAsync("openssl", args, { cwd: dir });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await ssl(
    ["req", "-x509", ...ec, "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "30"].concat([
      "-subj",
      "/CN=Cuffia lab CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]),
  );
  await ssl(["req", ...ec, "-keyout", p("key.pem"), "-out", p("server.csr"), "-subj", `/CN=${ip}`]);
  await writeFile(
    p("server.ext"),
    `subjectAltName=IP:${ip}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
  );
  await ssl(
    ["x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key")].concat([
      "-CAcreateserial",
      "-out",
      p("cert.pem"),
      "-days",
      "30",
      "-extfile",
      p("server.ext"),
    ]),
  );
  return { ca: p("ca.pem"), cert: p("cert.pem"), key: p("key.pem") };
}

/** Sends an OPTIONS over UDP and resolves true when any SIP response comes back. */
function udpAnswers(port: number, timeoutMs = 500, host = LAB_DOMAIN): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("message", (msg) => done(msg.toString("latin1").startsWith("SIP/2.0 ")));
    socket.once("error", () => done(false));
    socket.bind(0, host, () => {
      const local = socket.address().port;
      const tag = randomBytes(6).toString("hex");
      const request = [
        `OPTIONS sip:${host}:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${host}:${local};branch=z9hG4bK${tag};rport`,
        "Max-Forwards: 70",
        `From: <sip:probe@${host}>;tag=${tag}`,
        `To: <sip:${host}:${port}>`,
        `Call-ID: probe-${tag}@${host}`,
        "CSeq: 1 OPTIONS",
        "Content-Length: 0",
        "",
        "",
      ].join("\r\n");
      socket.send(request, port, host);
    });
  });
}

/** Starts Kamailio in the foreground and resolves once every listener answers. */
export async function startKamailio(opts: KamailioOptions = {}): Promise<Kamailio> {
  const base = opts.base ?? (await findFreeBase());
  const ports = labPorts(base);
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), "cuffia-kamailio-")));
  await mkdir(dir, { recursive: true });
  const runDir = join(dir, "run");
  await mkdir(runDir, { recursive: true });
  const pidFile = join(runDir, "kamailio.pid");
  const logFile = join(dir, "kamailio.log");
  const ctl = `unix:${join(runDir, "kamailio_ctl")}`;

  const netns = opts.netns;
  const listen = netns?.address ?? opts.listen;
  const domain = listen ?? LAB_DOMAIN;
  const tls = await makeCertificate(dir, domain);
  const tlsCfg = join(dir, "tls.cfg");
  await writeFile(
    tlsCfg,
    [
      "[server:default]",
      "method = TLSv1.2+",
      "verify_certificate = no",
      "require_certificate = no",
      `private_key = ${tls.key}`,
      `certificate = ${tls.cert}`,
      "",
      "[client:default]",
      "method = TLSv1.2+",
      "verify_certificate = no",
      "require_certificate = no",
      "",
    ].join("\n"),
  );

  const defines = [
    `SIP_PORT=${ports.sip}`,
    `TLS_PORT=${ports.tls}`,
    `WS_PORT=${ports.ws}`,
    `WSS_PORT=${ports.wss}`,
    `TLS_CFG="${tlsCfg}"`,
    ...(opts.wsPing ? ["WITH_WSPING"] : []),
    ...(opts.rtpengine ? ["WITH_RTPENGINE", `RTPENGINE_SOCK="${opts.rtpengine.ngSocket}"`] : []),
    ...(listen ? [`LISTEN_IP=${listen}`, `LAB_DOMAIN="${listen}"`] : []),
  ].flatMap((d) => ["-A", d]);
  const args = ["-f", KAMAILIO_CFG, ...defines];

  try {
    await execFileAsync("kamailio", [...args, "-c"], { cwd: dir });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    const lines = (e.stderr ?? e.message).split("\n").filter((l) => /ERROR|CRITICAL|error/.test(l));
    throw new Error(`kamailio -c rejected ${KAMAILIO_CFG}:\n${lines.join("\n") || e.message}`);
  }

  const runArgs = [...args, "-DD", "-E", "-Y", runDir, "-P", pidFile, "-m", "64", "-M", "8"];
  let proc: Spawned | null = null;

  const launch = async (): Promise<void> => {
    await rm(pidFile, { force: true });
    await writeFile(logFile, `--- kamailio ${runArgs.join(" ")}\n`, { flag: "a" });
    const spawned = netns
      ? netns.nat.spawn(netns.ns, "kamailio", runArgs, logFile, { cwd: dir })
      : spawnLogged("kamailio", runArgs, logFile, { cwd: dir });
    proc = spawned;
    let exited: number | string | null = null;
    void spawned.exited.then((code) => {
      exited = code;
    });
    try {
      await waitUntil(
        `kamailio listeners on base ${base}`,
        async () => {
          if (exited !== null) throw new Error(`kamailio exited (${exited}) during start`);
          // In a namespace only the ctl socket (a file) is reachable: it answers once the
          // listeners are bound (they are opened before the workers start).
          if (netns) return rpc("core.uptime").then(() => true);
          return (
            (await tcpAccepts(ports.sip, domain)) &&
            (await tcpAccepts(ports.tls, domain)) &&
            (await tcpAccepts(ports.ws, domain)) &&
            (await tcpAccepts(ports.wss, domain)) &&
            (await udpAnswers(ports.sip, 500, domain))
          );
        },
        15_000,
      );
      await waitUntil("kamailio ctl socket", () => rpc("core.uptime").then(() => true), 5_000);
    } catch (error) {
      await stopProcess(spawned);
      const log = await readFile(logFile, "utf8").catch(() => "");
      const tail = log.split("\n").slice(-30).join("\n");
      throw new Error(`${(error as Error).message}\n--- ${logFile} (tail)\n${tail}`);
    }
  };

  const rpc = (...command: string[]): Promise<string> => kamcmd(ctl, command);

  await launch();

  const current = (): Spawned => {
    if (!proc) throw new Error("kamailio is not running");
    return proc;
  };

  return {
    get pid() {
      return current().pid;
    },
    domain,
    udpPort: ports.sip,
    tcpPort: ports.sip,
    tlsPort: ports.tls,
    wsPort: ports.ws,
    wssPort: ports.wss,
    caFile: tls.ca,
    users: LAB_USERS,
    dir,
    ctl,
    rpc,
    async registrations() {
      return parseRegistrations(await rpc("ul.dump"));
    },
    async tcpConnections() {
      return parseKamcmd(await rpc("core.tcp_list"));
    },
    async restart() {
      if (proc) await stopProcess(proc);
      await launch();
    },
    async stop() {
      if (proc) await stopProcess(proc);
    },
  };
}

/** Runs one kamcmd RPC command; RPC faults (which kamcmd exits 0 on) become errors. */
export async function kamcmd(ctl: string, command: readonly string[]): Promise<string> {
  const { stdout, stderr } = await execFileAsync("kamcmd", ["-s", ctl, ...command], { timeout: 5_000 });
  // kamcmd prints "error: <code> - <reason>".
  const fault = /^error: .*/m.exec(`${stdout}\n${stderr}`);
  if (fault) throw new Error(`kamcmd ${command.join(" ")}: ${fault[0]}`);
  return stdout;
}

/**
 * A handle on a Kamailio started elsewhere (the global setup's), from the facts it provided.
 * Everything but restart() and stop() works; those belong to the process that started it.
 */
export function labKamailio(info: LabKamailioInfo): Kamailio {
  const rpc = (...command: string[]): Promise<string> => kamcmd(info.ctl, command);
  const notOwned = (): Promise<void> =>
    Promise.reject(new Error("the lab Kamailio belongs to the global setup: start your own to restart it"));
  return {
    pid: info.pid,
    domain: info.domain,
    udpPort: info.udpPort,
    tcpPort: info.tcpPort,
    tlsPort: info.tlsPort,
    wsPort: info.wsPort,
    wssPort: info.wssPort,
    caFile: info.caFile,
    users: info.users,
    dir: info.dir,
    ctl: info.ctl,
    rpc,
    async registrations() {
      return parseRegistrations(await rpc("ul.dump"));
    },
    async tcpConnections() {
      return parseKamcmd(await rpc("core.tcp_list"));
    },
    restart: notOwned,
    stop: notOwned,
  };
}

/** Flattens `ul.dump` output into one row per contact. */
export function parseRegistrations(output: string): Registration[] {
  const rows: Registration[] = [];
  for (const top of parseKamcmd(output)) {
    const domains = asList(asStruct(asStruct(top).Domains).Domain);
    for (const domain of domains) {
      for (const info of asList(asStruct(asStruct(domain).AoRs).Info)) {
        const infoStruct = asStruct(info);
        const aor = String(infoStruct.AoR ?? "");
        for (const contact of asList(asStruct(infoStruct.Contacts).Contact)) {
          const c: KamStruct = asStruct(contact);
          rows.push({
            aor,
            contact: String(c.Address ?? ""),
            received: typeof c.Received === "string" ? c.Received : null,
          });
        }
      }
    }
  }
  return rows;
}
