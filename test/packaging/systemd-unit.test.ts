// The systemd unit: systemd's own verifier accepts it, and the directives the daemon relies on
// (sd_notify from a child, the watchdog, exit 78, device access) are there.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const REPO = resolve(import.meta.dirname, "..", "..");
const UNIT_FILE = join(REPO, "config", "systemd", "cuffia.service");
const UNIT = readFileSync(UNIT_FILE, "utf8");
const EXEC_START = "ExecStart=/usr/bin/cuffia run -c /etc/cuffia/config.yaml";

const work = mkdtempSync(join(tmpdir(), "cuffia-unit-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The unit with only its ExecStart line replaced, written as cuffia.service in a fresh folder. */
function unitWithExecStart(execStart: string): string {
  const dir = mkdtempSync(join(work, "u-"));
  const file = join(dir, "cuffia.service");
  writeFileSync(file, UNIT.replace(EXEC_START, execStart));
  return file;
}

function verify(file: string): { status: number | null; output: string } {
  const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Directive → values, [Section] prefixed, comments and blank lines dropped. */
function directives(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      section = head[1]!;
      continue;
    }
    const eq = line.indexOf("=");
    const key = `${section}.${line.slice(0, eq)}`;
    map.set(key, [...(map.get(key) ?? []), line.slice(eq + 1)]);
  }
  return map;
}

describe("config/systemd/cuffia.service", () => {
  it("passes systemd-analyze verify when ExecStart names this repo's real cuffia", () => {
    const execStart = `ExecStart=${process.execPath} ${join(REPO, "bin", "cuffia.js")} run -c /etc/cuffia/config.yaml`;
    const file = unitWithExecStart(execStart);
    // Only that line differs from the shipped unit.
    const shipped = UNIT.split("\n");
    const tested = readFileSync(file, "utf8").split("\n");
    expect(tested.length).toBe(shipped.length);
    expect(tested.filter((l, i) => l !== shipped[i])).toEqual([execStart]);

    const r = verify(file);
    // Nothing at all is printed here: no warning about any directive, dependency or path.
    expect(r.output).toBe("");
    expect(r.status).toBe(0);
  });

  it("verify really checks here: a unit naming a missing program fails", () => {
    const r = verify(unitWithExecStart("ExecStart=/nonexistent/cuffia run"));
    expect(r.status).not.toBe(0);
    expect(r.output).toContain("/nonexistent/cuffia");
  });

  it("has what the daemon relies on", () => {
    const d = directives(UNIT);
    const one = (key: string) => {
      const v = d.get(key);
      expect(v, key).toHaveLength(1);
      return v![0]!;
    };
    expect(one("Service.Type")).toBe("notify");
    expect(one("Service.NotifyAccess")).toBe("all");
    expect(one("Service.WatchdogSec")).toBe("30");
    expect(one("Service.ExecStart")).toBe("/usr/bin/cuffia run -c /etc/cuffia/config.yaml");
    expect(one("Service.ExecReload")).toBe("/bin/kill -HUP $MAINPID");
    expect(one("Service.User")).toBe("cuffia");
    expect(one("Service.Group")).toBe("cuffia");
    expect(one("Service.SupplementaryGroups").split(" ").sort()).toEqual(["audio", "dialout", "plugdev"]);
    expect(one("Service.Restart")).toBe("on-failure");
    expect(one("Service.RestartPreventExitStatus")).toBe("78");
    expect(one("Service.StateDirectory")).toBe("cuffia");
    expect(one("Service.RuntimeDirectory")).toBe("cuffia");
    expect(one("Service.RuntimeDirectoryMode")).toBe("0750");
    expect(one("Service.UMask")).toBe("0007");
    expect(one("Service.RestrictAddressFamilies").split(" ").sort()).toEqual([
      "AF_INET",
      "AF_INET6",
      "AF_NETLINK",
      "AF_UNIX",
    ]);
    for (const key of [
      "NoNewPrivileges",
      "ProtectHome",
      "PrivateTmp",
      "RestrictSUIDSGID",
      "LockPersonality",
    ]) {
      expect(one(`Service.${key}`), key).toBe("yes");
    }
    expect(one("Service.ProtectSystem")).toBe("strict");
    // The daemon's own hard stop limit is 15 s: systemd must wait longer before SIGKILL.
    expect(Number.parseInt(one("Service.TimeoutStopSec"), 10)).toBeGreaterThanOrEqual(25);
    // Device access (hidraw, tty, ALSA) and V8's JIT.
    for (const key of [
      "PrivateDevices",
      "MemoryDenyWriteExecute",
      "DeviceAllow",
      "ProtectClock",
      "PrivateUsers",
    ]) {
      expect(d.has(`Service.${key}`), key).toBe(false);
    }
    // aplay/arecord at SCHED_FIFO (audio.realtime_priority, default 10; src/audio/realtime.ts):
    // the limit they inherit covers the default, and the policy is not filtered out.
    expect(Number(one("Service.LimitRTPRIO"))).toBeGreaterThanOrEqual(10);
    expect(one("Service.RestrictRealtime")).toBe("no");
    // The daemon's event loop, which feeds them, ahead of other work on a busy Pi, but not real-time.
    expect(Number(one("Service.Nice"))).toBeLessThan(0);
    expect(d.has("Service.CPUSchedulingPolicy")).toBe(false);
    expect(one("Install.WantedBy")).toBe("multi-user.target");
  });
});
