/**
 * Real-time priority for aplay/arecord (issue 13: no underrun over a 10-minute call on a busy
 * Pi): when Linux permits it, at which priority, and a refusal logged once with audio going on.
 * The running processes' policy on the lab card is checked in
 * test/integration/sound-card-realtime.test.ts.
 */
import { describe, expect, it } from "vitest";
import {
  decideRealtime,
  parseCapSysNice,
  parseRtprioLimit,
  type RealtimePermission,
  RealtimePriority,
} from "../../src/audio/realtime.js";
import { memoryLogger } from "../../src/log/logger.js";

const user: RealtimePermission = { euid: 1000, capSysNice: false, rtprioLimit: 0 };

describe("decideRealtime", () => {
  it.each([
    ["root", { ...user, euid: 0 }, 10, { use: true, priority: 10 }],
    ["CAP_SYS_NICE", { ...user, capSysNice: true }, 10, { use: true, priority: 10 }],
    ["RLIMIT_RTPRIO above the wish", { ...user, rtprioLimit: 20 }, 10, { use: true, priority: 10 }],
    [
      "RLIMIT_RTPRIO below the wish: capped to it",
      { ...user, rtprioLimit: 5 },
      10,
      { use: true, priority: 5 },
    ],
    ["none of them", user, 10, { use: false }],
    ["turned off (0), even as root", { ...user, euid: 0 }, 0, { use: false }],
    ["above 99: 99", { ...user, euid: 0 }, 150, { use: true, priority: 99 }],
  ] as const)("%s", (_name, perm, wanted, expected) => {
    expect(decideRealtime(wanted, perm)).toMatchObject(expected);
  });

  it("a refusal says how to permit it", () => {
    const d = decideRealtime(10, user);
    expect(d.use).toBe(false);
    expect(d.why).toMatch(/LimitRTPRIO/);
  });
});

describe("reading the permission from /proc", () => {
  it("CapEff: bit 23 is CAP_SYS_NICE", () => {
    expect(parseCapSysNice("Name:\tnode\nCapEff:\t000001fffeffffff\n")).toBe(true);
    expect(parseCapSysNice("CapEff:\t0000000000800000\n")).toBe(true);
    expect(parseCapSysNice("CapEff:\t0000000000000000\n")).toBe(false);
    expect(parseCapSysNice("CapEff:\t00000000007fffff\n")).toBe(false);
    expect(parseCapSysNice("")).toBe(false);
  });

  it("limits: the soft RLIMIT_RTPRIO", () => {
    const limits = (soft: string, hard: string) =>
      `Limit                     Soft Limit           Hard Limit           Units     \nMax nice priority         0                    0                    \nMax realtime priority     ${soft}                    ${hard}                    \nMax realtime timeout      unlimited            unlimited            us        \n`;
    expect(parseRtprioLimit(limits("0", "0"))).toBe(0);
    expect(parseRtprioLimit(limits("10", "10"))).toBe(10);
    expect(parseRtprioLimit(limits("0", "20"))).toBe(0);
    expect(parseRtprioLimit(limits("unlimited", "unlimited"))).toBe(99);
    expect(parseRtprioLimit("")).toBe(0);
  });
});

describe("RealtimePriority", () => {
  const setup = (perm: RealtimePermission, refuse?: string) => {
    const { log, lines } = memoryLogger("debug");
    const probes: number[] = [];
    const r = new RealtimePriority({
      priority: 10,
      log,
      permission: () => perm,
      probe: (priority) => {
        probes.push(priority);
        return refuse ? { ok: false, error: refuse } : { ok: true };
      },
    });
    const warned = () => lines.filter((l) => l.level === "warn");
    return { r, probes, lines, warned };
  };
  const argv = ["-t", "raw", "-D", "hw:CARD=Headset,DEV=0"];

  it("permitted: aplay and arecord spawned through chrt -f PRIO, tried and logged once", () => {
    const { r, probes, lines, warned } = setup({ ...user, rtprioLimit: 10 });
    expect(r.command("aplay", argv)).toEqual(["chrt", ["-f", "10", "aplay", ...argv]]);
    expect(r.command("arecord", argv)).toEqual(["chrt", ["-f", "10", "arecord", ...argv]]);
    expect(probes).toEqual([10]);
    expect(lines.filter((l) => /SCHED_FIFO/.test(String(l.msg)))).toHaveLength(1);
    expect(warned()).toHaveLength(0);
  });

  it("the priority is capped to RLIMIT_RTPRIO", () => {
    const { r } = setup({ ...user, rtprioLimit: 4 });
    expect(r.command("aplay", argv)).toEqual(["chrt", ["-f", "4", "aplay", ...argv]]);
  });

  it("not permitted: plain aplay/arecord, chrt never tried, one warning for all the calls", () => {
    const { r, probes, warned } = setup(user);
    expect(r.command("aplay", argv)).toEqual(["aplay", argv]);
    expect(r.command("arecord", argv)).toEqual(["arecord", argv]);
    expect(r.granted).toBeNull();
    expect(probes).toEqual([]);
    expect(warned()).toHaveLength(1);
    expect(String(warned()[0]?.msg)).toMatch(/normal priority/);
  });

  it("refused by the system anyway (seccomp, cgroup): one warning, plain processes, no more tries", () => {
    const { r, probes, warned } = setup(
      { ...user, rtprioLimit: 10 },
      "chrt: failed to set pid 0's policy: Operation not permitted",
    );
    expect(r.command("aplay", argv)).toEqual(["aplay", argv]);
    expect(r.command("arecord", argv)).toEqual(["arecord", argv]);
    expect(probes).toEqual([10]);
    expect(warned()).toHaveLength(1);
    expect(JSON.stringify(warned()[0])).toMatch(/Operation not permitted/);
  });

  it("turned off (0): plain processes, nothing tried, nothing to warn about", () => {
    const { log, lines } = memoryLogger("debug");
    const r = new RealtimePriority({
      priority: 0,
      log,
      permission: () => ({ ...user, euid: 0 }),
      probe: () => {
        throw new Error("not to be tried");
      },
    });
    expect(r.command("aplay", argv)).toEqual(["aplay", argv]);
    expect(lines.filter((l) => l.level === "warn")).toHaveLength(0);
  });
});
