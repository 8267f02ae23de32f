/**
 * Checks of a valid config against this box: the files it names exist and can be opened, the RTP
 * address is one of the box's own, and settings that work but weaken security are warned about.
 * Run at every load (check, run, reload, doctor), so a missing CA file is a config error with its
 * key path instead of a SIP side that dies at run time.
 */
import { accessSync, constants, statSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { dirname, isAbsolute } from "node:path";
import type { Config } from "./schema.js";
import type { KeyPath } from "./yaml-tree.js";

export interface HostAccess {
  /** Throws (with an errno `code`) when `path` cannot be opened as asked. */
  readonly check: (path: string, need: "read" | "write-dir") => void;
  /** Every address of the box's interfaces. */
  readonly addresses: () => readonly string[];
}

export const realHost: HostAccess = {
  check(path, need) {
    if (need === "read") {
      if (statSync(path).isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
      accessSync(path, constants.R_OK);
    } else {
      if (!statSync(path).isDirectory())
        throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
      accessSync(path, constants.W_OK | constants.X_OK);
    }
  },
  addresses: () =>
    Object.values(networkInterfaces())
      .flat()
      .map((i) => i?.address)
      .filter((a): a is string => a !== undefined),
};

export interface HostFinding {
  readonly path: KeyPath;
  readonly message: string;
}

/** A file the config names, with what the daemon does with it. */
interface NamedFile {
  readonly path: KeyPath;
  readonly file: string;
  readonly need: "read" | "write-dir";
  readonly what: string;
}

/** Every file the config names (passwords are read, hence checked, while loading). */
export function namedFiles(c: Config): NamedFile[] {
  const out: NamedFile[] = [];
  const read = (path: KeyPath, file: string | undefined, what: string) => {
    if (file !== undefined) out.push({ path, file, need: "read", what });
  };
  read(["sip", "ca_file"], c.sip?.ca_file, "the CA certificate for wss:// and tls://");
  read(["mqtt", "ca_file"], c.mqtt?.ca_file, "the broker's CA certificate");
  read(["mqtt", "cert_file"], c.mqtt?.cert_file, "the client certificate");
  read(["mqtt", "key_file"], c.mqtt?.key_file, "the client key");
  if (c.audio.source.type === "file")
    read(["audio", "source", "path"], c.audio.source.path, "the WAV file callers hear");
  if (c.audio.sink.type === "file") {
    // The sink file is created per call ({call}): its folder must exist and be writable.
    const dir = dirname(c.audio.sink.path);
    if (!dir.includes("{call}"))
      out.push({
        path: ["audio", "sink", "path"],
        file: dir,
        need: "write-dir",
        what: "the folder of the WAV files",
      });
  }
  return out;
}

export function fileProblems(c: Config, host: HostAccess): HostFinding[] {
  const out: HostFinding[] = [];
  for (const f of namedFiles(c)) {
    try {
      host.check(f.file, f.need);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      const why =
        code === "ENOENT"
          ? "does not exist"
          : code === "EACCES" || code === "EPERM"
            ? f.need === "read"
              ? "is not readable by this user (run check as the daemon's user: sudo -u cuffia cuffia check)"
              : "is not writable by this user (run check as the daemon's user: sudo -u cuffia cuffia check)"
            : code === "EISDIR"
              ? "is a folder, not a file"
              : code === "ENOTDIR"
                ? "is not a folder"
                : `cannot be opened (${code})`;
      out.push({ path: f.path, message: `${f.file} (${f.what}) ${why}` });
    }
  }
  return out;
}

const ANY = new Set(["0.0.0.0", "::"]);

export function addressProblems(c: Config, host: HostAccess): HostFinding[] {
  const a = c.rtp.address;
  if (ANY.has(a)) return [];
  const own = host.addresses();
  if (own.includes(a)) return [];
  return [
    {
      path: ["rtp", "address"],
      message: `${a} is not an address of this box (it has ${own.join(", ") || "none"}): use 0.0.0.0 or one of them; put a NAT's public address in rtp.advertise`,
    },
  ];
}

/** Settings that work but weaken security: warned by `check` and `doctor`, never refused. */
export function securityWarnings(raw: Record<string, unknown>): HostFinding[] {
  const out: HostFinding[] = [];
  for (const section of ["sip", "mqtt"]) {
    const s = raw[section];
    if (s && typeof s === "object" && (s as Record<string, unknown>)["tls_verify"] === false)
      out.push({
        path: [section, "tls_verify"],
        message: `${section}.tls_verify is false: the ${section === "sip" ? "PBX's" : "broker's"} certificate is not verified, so anyone on the network path can impersonate it and read the credentials; trust a private CA with ${section}.ca_file instead`,
      });
  }
  // rtp.encryption: required over signalling that cannot carry SDES keys (issue 14).
  const rtp = raw["rtp"];
  const sip = raw["sip"];
  if (rtp && typeof rtp === "object" && (rtp as Record<string, unknown>)["encryption"] === "required") {
    const s = sip && typeof sip === "object" ? (sip as Record<string, unknown>) : {};
    const servers = [s["server"], ...(Array.isArray(s["fallback_servers"]) ? s["fallback_servers"] : [])];
    const clear = servers.filter((u): u is string => typeof u === "string" && !/^(tls|wss):/i.test(u));
    if (clear.length > 0)
      out.push({
        path: ["rtp", "encryption"],
        message: `rtp.encryption is required but ${clear.join(", ")} is not tls:// or wss://: SDES-SRTP keys are never sent or accepted there, so only DTLS-SRTP calls can be taken and placed over it`,
      });
  }
  return out;
}

/**
 * The daemon opens these paths as written, relative to its working directory (/ under systemd),
 * while `check` run by hand resolves them against the shell's: the two can disagree.
 */
export function relativePathWarnings(c: Config): HostFinding[] {
  return namedFiles(c)
    .filter((f) => !isAbsolute(f.file))
    .map((f) => ({
      path: f.path,
      message: `${f.path.join(".")} is a relative path (${f.file}): the daemon resolves it against its working directory (/ under systemd), not the config's folder; write it absolute`,
    }));
}
