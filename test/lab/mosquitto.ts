/**
 * A throwaway Mosquitto broker for tests: its own config, password file and (optionally) TLS
 * material in a temp dir, listening on loopback only, run in the foreground so we own its pid.
 *
 * Authentication: `allow_anonymous true` together with a `password_file`. Mosquitto 2 then
 * accepts clients that send no username, and checks the password of any client that does send
 * one — so the same broker serves plain tests and auth tests (`desk`/`deskpw` accepted, a wrong
 * password refused with CONNACK "not authorized").
 *
 * TLS (`tls: true`): a CA and a server certificate for 127.0.0.1/localhost are made with
 * openssl; a client certificate signed by the same CA is left in the dir (`client.crt`,
 * `client.key`) for mutual-TLS tests. Clients are not required to present one.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Mosquitto {
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  readonly tlsPort: number | null;
  readonly caFile: string | null;
  readonly dir: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface MosquittoOptions {
  /** Plain listener port; a free one is picked when absent. */
  port?: number;
  /** Adds a TLS listener (free port) with an openssl-made CA and server certificate. */
  tls?: boolean;
  /** Where config, passwords, certificates and the log go; a fresh temp dir when absent. */
  dir?: string;
  /** Keep retained messages and sessions across restart(); off by default. */
  persistence?: boolean;
}

export const MOSQUITTO_USER = "desk";
export const MOSQUITTO_PASSWORD = "deskpw";

const HOST = "127.0.0.1";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const p = (name: string): string => join(dir, name);
  const ssl = (args: string[]): Promise<unknown> => run("openssl", args, { cwd: dir });
  await ssl(
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"].concat([
      "-keyout",
      p("ca.key"),
      "-out",
      p("ca.crt"),
      "-subj",
      "/CN=cuffia-test-ca",
    ]),
  );
  // The server certificate names the loopback address: clients verify it (no rejectUnauthorized off).
  await writeFile(p("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  await ssl(
    ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", p("server.key")].concat([
      "-out",
      p("server.csr"),
      "-subj",
      "/CN=localhost",
    ]),
  );
  await ssl(
    ["x509", "-req", "-in", p("server.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key")].concat([
      "-CAcreateserial",
      "-days",
      "2",
      "-out",
      p("server.crt"),
      "-extfile",
      p("server.ext"),
    ]),
  );
  await ssl(
    ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", p("client.key")].concat([
      "-out",
      p("client.csr"),
      "-subj",
      "/CN=cuffia-desk",
    ]),
  );
  await ssl(
    ["x509", "-req", "-in", p("client.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key")].concat([
      "-CAcreateserial",
      "-days",
      "2",
      "-out",
      p("client.crt"),
    ]),
  );
  return { ca: p("ca.crt"), cert: p("server.crt"), key: p("server.key") };
}

class MosquittoProcess implements Mosquitto {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private stderr = "";

  constructor(
    readonly dir: string,
    private readonly conf: string,
    readonly port: number,
    readonly tlsPort: number | null,
    readonly caFile: string | null,
  ) {}

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  get url(): string {
    return `mqtt://${HOST}:${this.port}`;
  }

  async start(): Promise<void> {
    this.stderr = "";
    const child = spawn("mosquitto", ["-c", this.conf], { stdio: ["ignore", "ignore", "pipe"] });
    this.child = child;
    let exitCode: number | null | undefined;
    this.exited = new Promise((resolve) => {
      child.once("exit", (code) => {
        exitCode = code;
        resolve();
      });
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (exitCode !== undefined) {
        throw new Error(`mosquitto exited (${exitCode}) while starting: ${this.stderr}`);
      }
      const plain = await accepts(this.port);
      const tls = this.tlsPort === null || (await accepts(this.tlsPort));
      if (plain && tls) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`mosquitto did not listen on ${this.port} within 10 s: ${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === null || child.pid === undefined) return;
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, "SIGTERM");
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          process.kill(child.pid, "SIGKILL");
        }
      }, 5_000);
      await this.exited;
      clearTimeout(timer);
    }
    this.child = null;
  }
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), "cuffia-mosquitto-")));
  await mkdir(dir, { recursive: true });
  const port = opts.port ?? (await freePort());
  const tlsPort = opts.tls === true ? await freePort() : null;

  const passwd = join(dir, "passwd");
  await writeFile(passwd, "");
  await run("mosquitto_passwd", ["-b", passwd, MOSQUITTO_USER, MOSQUITTO_PASSWORD]);

  const lines = [
    // We run as root in CI containers; without this Mosquitto drops to user `mosquitto`,
    // which cannot read the 0700 temp dir.
    "user root",
    "per_listener_settings false",
    "allow_anonymous true",
    `password_file ${passwd}`,
    `persistence ${opts.persistence === true ? "true" : "false"}`,
    `persistence_location ${dir}/`,
    "log_dest stderr",
    "log_type error",
    "log_type warning",
    `listener ${port} ${HOST}`,
  ];
  let caFile: string | null = null;
  if (tlsPort !== null) {
    const certs = await makeCertificates(dir);
    caFile = certs.ca;
    lines.push(
      `listener ${tlsPort} ${HOST}`,
      `cafile ${certs.ca}`,
      `certfile ${certs.cert}`,
      `keyfile ${certs.key}`,
      "require_certificate false",
    );
  }
  const conf = join(dir, "mosquitto.conf");
  await writeFile(conf, lines.join("\n") + "\n");
  const broker = new MosquittoProcess(dir, conf, port, tlsPort, caFile);
  await broker.start();
  return broker;
}
