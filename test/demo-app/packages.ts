/**
 * What the demo needs from Debian, and installing it with the lab's own script
 * (test/lab/install.sh: apt-get, with sudo when not root).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { execFileAsync, missingCommands } from "../lab/proc.js";

/** Package → a command it provides (checked where dpkg is not the package manager). */
export const DEMO_PACKAGES: Readonly<Record<string, string | null>> = {
  kamailio: "kamailio",
  "kamailio-websocket-modules": null,
  "kamailio-tls-modules": null,
  "kamailio-extra-modules": null,
  "baresip-core": "baresip",
  "espeak-ng": "espeak-ng",
  sox: "sox",
  openssl: "openssl",
};

/** The Debian package that provides a command (or is named so). */
export function packageOf(name: string): string {
  if (name in DEMO_PACKAGES) return name;
  if (name === "kamcmd") return "kamailio";
  return Object.entries(DEMO_PACKAGES).find(([, command]) => command === name)?.[0] ?? name;
}

/** Commands the demo runs (kamcmd comes with kamailio). */
const COMMANDS = ["kamailio", "kamcmd", "baresip", "espeak-ng", "sox", "openssl"];

/** The demo's packages (or, without dpkg, commands) that are missing. */
export async function missingPackages(): Promise<string[]> {
  let dpkg = true;
  try {
    await execFileAsync("sh", ["-c", "command -v dpkg-query"]);
  } catch {
    dpkg = false;
  }
  if (!dpkg) return missingCommands(COMMANDS);
  const missing: string[] = [];
  for (const pkg of Object.keys(DEMO_PACKAGES)) {
    const status = await execFileAsync("dpkg-query", ["-W", "-f=${db:Status-Abbrev}", pkg]).then(
      (r) => r.stdout,
      () => "",
    );
    if (!status.startsWith("ii")) missing.push(pkg);
  }
  const commands = await missingCommands(COMMANDS);
  return [...missing, ...commands.filter((c) => !Object.values(DEMO_PACKAGES).includes(c))];
}

/** Runs the lab's install script with the terminal attached (sudo may ask for a password). */
export function runInstallScript(script: string): Promise<number> {
  if (!existsSync(script)) return Promise.resolve(127);
  return new Promise((resolve) => {
    const child = spawn("bash", [script], { stdio: "inherit" });
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    child.once("error", () => resolve(127));
  });
}
