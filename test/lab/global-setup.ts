/**
 * vitest globalSetup of the `integration` project: one Kamailio and one Mosquitto for the whole
 * run, their facts provided to tests as `inject("lab")` (see context.ts), everything stopped by
 * pid at teardown (also when tests failed, and on an abrupt exit of this process).
 *
 * CUFFIA_LAB_BASE fixes Kamailio's port base; otherwise the first free base from 25060 in steps
 * of 100 is used, so several developers' runs do not collide.
 */
import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import type { LabInfo } from "./context.js";
import { type Kamailio, startKamailio } from "./kamailio.js";
import { type Mosquitto, startMosquitto } from "./mosquitto.js";
import { missingCommands } from "./proc.js";

/** The programs the integration tests run. */
export const LAB_COMMANDS = [
  "kamailio",
  "kamcmd",
  "baresip",
  "sipp",
  "mosquitto",
  "sox",
  "espeak-ng",
  "openssl",
  "socat",
  "turnserver",
  "rtpengine",
  "tshark",
] as const;

function labBase(): number | undefined {
  const raw = process.env.CUFFIA_LAB_BASE;
  if (raw === undefined || raw === "") return undefined;
  const base = Number(raw);
  if (!Number.isInteger(base) || base < 1024 || base > 65_000) {
    throw new Error(`CUFFIA_LAB_BASE must be a port number, got ${raw}`);
  }
  return base;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const missing = await missingCommands(LAB_COMMANDS);
  if (missing.length > 0) {
    throw new Error(`the integration lab needs ${missing.join(", ")}: run test/lab/install.sh`);
  }
  const dir = await mkdtemp(join(tmpdir(), "cuffia-lab-"));
  let kamailio: Kamailio | null = null;
  let mosquitto: Mosquitto | null = null;

  // Last resort if vitest dies without running the teardown: no process outlives the run.
  const killAll = (): void => {
    for (const pid of [kamailio?.pid, mosquitto?.pid]) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
  };
  process.once("exit", killAll);

  const teardown = async (): Promise<void> => {
    const results = await Promise.allSettled([kamailio?.stop(), mosquitto?.stop()]);
    process.removeListener("exit", killAll);
    const failed = results.filter((r) => r.status === "rejected");
    if (failed.length > 0) throw new Error(`lab teardown: ${failed.map((f) => String(f.reason)).join("; ")}`);
  };

  try {
    const kamDir = join(dir, "kamailio");
    await mkdir(kamDir);
    kamailio = await startKamailio({ base: labBase(), dir: kamDir }).catch((error: Error) => {
      throw new Error(`${error.message}\n(if a Kamailio module is missing: run test/lab/install.sh)`);
    });
    const mqDir = join(dir, "mosquitto");
    await mkdir(mqDir);
    mosquitto = await startMosquitto({ tls: true, dir: mqDir });
  } catch (error) {
    await teardown().catch(() => {});
    throw error;
  }

  const k = kamailio;
  const m = mosquitto;
  const lab: LabInfo = {
    dir,
    kamailio: {
      pid: k.pid,
      base: k.udpPort,
      domain: k.domain,
      udpPort: k.udpPort,
      tcpPort: k.tcpPort,
      tlsPort: k.tlsPort,
      wsPort: k.wsPort,
      wssPort: k.wssPort,
      caFile: k.caFile,
      users: k.users,
      dir: k.dir,
      ctl: k.ctl,
    },
    mosquitto: {
      pid: m.pid,
      port: m.port,
      url: m.url,
      tlsPort: m.tlsPort,
      caFile: m.caFile,
      dir: m.dir,
    },
  };
  project.provide("lab", lab);
  return teardown;
}
