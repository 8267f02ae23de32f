/**
 * Real-time scheduling for the audio processes (config `audio.realtime_priority`), as desk
 * phones run their audio path: `aplay` and `arecord` move a period every 10-40 ms, and on a busy
 * Pi a process at normal priority can wait longer than that for a CPU; the card then runs dry
 * (or overflows) however deep the speaker keeps its queue. At SCHED_FIFO they get the CPU as
 * soon as they wake, and they sleep almost all the time, so they take next to nothing from the
 * rest of the system.
 *
 * Linux allows it to root, to a process with CAP_SYS_NICE, or up to the process's
 * RLIMIT_RTPRIO (the systemd unit shipped in the .deb sets `LimitRTPRIO=`, which aplay and
 * arecord inherit). They are spawned through `chrt -f` (util-linux) only when that is
 * permitted and works; when it is not, or does not (a seccomp filter such as systemd's
 * `RestrictRealtime=yes`, a cgroup with no real-time budget), that is logged once and the audio
 * goes on at normal priority.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Logger } from "../log/logger.js";

/** The default priority: modest (PulseAudio uses 5, JACK 10, the kernel's IRQ threads 50). */
export const DEFAULT_REALTIME_PRIORITY = 10;

/** What the process is allowed, as Linux decides it for sched_setscheduler. */
export interface RealtimePermission {
  readonly euid: number;
  /** CAP_SYS_NICE in the effective set. */
  readonly capSysNice: boolean;
  /** Soft RLIMIT_RTPRIO (what the kernel checks): 0 none, 99 unlimited. */
  readonly rtprioLimit: number;
}

export type RealtimeDecision =
  | { readonly use: true; readonly priority: number; readonly why: string }
  | { readonly use: false; readonly why: string };

/** Whether, and at which SCHED_FIFO priority, the audio processes can run. 0 = off. */
export function decideRealtime(wanted: number, perm: RealtimePermission): RealtimeDecision {
  if (wanted <= 0) return { use: false, why: "audio.realtime_priority is 0" };
  const priority = Math.min(Math.round(wanted), 99);
  if (perm.euid === 0) return { use: true, priority, why: "running as root" };
  if (perm.capSysNice) return { use: true, priority, why: "CAP_SYS_NICE" };
  if (perm.rtprioLimit > 0) {
    const p = Math.min(priority, perm.rtprioLimit);
    return { use: true, priority: p, why: `RLIMIT_RTPRIO ${perm.rtprioLimit}` };
  }
  return {
    use: false,
    why: "not root, no CAP_SYS_NICE and RLIMIT_RTPRIO is 0 (the .deb's systemd unit sets LimitRTPRIO=; a drop-in that lowers it to 0 or sets RestrictRealtime=yes turns this off)",
  };
}

const CAP_SYS_NICE = 23n;

/** CAP_SYS_NICE from /proc/<pid>/status (`CapEff:` in hex); false when absent. */
export function parseCapSysNice(status: string): boolean {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  return m?.[1] ? ((BigInt(`0x${m[1]}`) >> CAP_SYS_NICE) & 1n) === 1n : false;
}

/** Soft RLIMIT_RTPRIO from /proc/<pid>/limits (`Max realtime priority  0  0`); 0 when absent. */
export function parseRtprioLimit(limits: string): number {
  const m = /^Max realtime priority\s+(\S+)/m.exec(limits);
  if (!m?.[1]) return 0;
  if (m[1] === "unlimited") return 99;
  const n = Number(m[1]);
  return Number.isFinite(n) ? Math.max(0, Math.min(99, n)) : 0;
}

/** This process's permission (children inherit its limits and capabilities). */
export function ownPermission(): RealtimePermission {
  const read = (p: string) => {
    try {
      return readFileSync(p, "utf8");
    } catch {
      return "";
    }
  };
  return {
    euid: process.geteuid?.() ?? -1,
    capSysNice: parseCapSysNice(read("/proc/self/status")),
    rtprioLimit: parseRtprioLimit(read("/proc/self/limits")),
  };
}

/** Tries `chrt -f PRIORITY true`: what spawning under chrt will meet (seccomp, cgroup, limits). */
export type ChrtProbe = (
  priority: number,
) => { readonly ok: true } | { readonly ok: false; readonly error: string };

const probeChrt: ChrtProbe = (priority) => {
  const r = spawnSync("chrt", ["-f", String(priority), "true"], { timeout: 2000, encoding: "utf8" });
  if (r.status === 0) return { ok: true };
  return { ok: false, error: r.error?.message ?? (String(r.stderr).trim() || `chrt exited ${r.status}`) };
};

/**
 * Runs spawned audio processes at SCHED_FIFO, when permitted, by spawning them through
 * `chrt -f PRIORITY` rather than raising them afterwards: every thread then has the policy
 * from the start (the ALSA pulse plugin, for one, starts a thread of its own at open, which a
 * later `chrt -p` would miss). Whether it works is found once, on first use: the permission
 * (decideRealtime), then one `chrt -f PRIORITY true` (a few ms, once per daemon), since a
 * seccomp filter or a cgroup with no real-time budget refuses what the permission allows. A
 * refusal is logged once and the processes run at normal priority.
 */
export class RealtimePriority {
  private priority: number | null | undefined;

  constructor(
    private readonly o: {
      readonly priority: number;
      readonly log: Logger;
      readonly permission?: () => RealtimePermission;
      readonly probe?: ChrtProbe;
    },
  ) {}

  /** The SCHED_FIFO priority the audio processes get, or null (normal priority). */
  get granted(): number | null {
    if (this.priority !== undefined) return this.priority;
    const d = decideRealtime(this.o.priority, (this.o.permission ?? ownPermission)());
    if (!d.use) {
      if (this.o.priority > 0) {
        this.o.log.warn(
          { why: d.why },
          "audio: real-time priority not permitted; aplay/arecord run at normal priority",
        );
      }
      this.priority = null;
      return null;
    }
    const probed = (this.o.probe ?? probeChrt)(d.priority);
    if (!probed.ok) {
      this.o.log.warn(
        { priority: d.priority, error: probed.error },
        "audio: real-time priority refused by the system; aplay/arecord run at normal priority",
      );
      this.priority = null;
      return null;
    }
    this.o.log.info({ priority: d.priority, why: d.why }, "audio: aplay/arecord run at SCHED_FIFO priority");
    this.priority = d.priority;
    return d.priority;
  }

  /** The command line that runs `command args` at the granted priority (unchanged when none). */
  command(command: string, args: readonly string[]): [string, string[]] {
    const p = this.granted;
    return p === null ? [command, [...args]] : ["chrt", ["-f", String(p), command, ...args]];
  }
}

const shared = new Map<number, RealtimePriority>();

/** One per priority for the whole process, so a refusal is logged once, not at every call. */
export function realtimePriority(priority: number, log: Logger): RealtimePriority {
  let r = shared.get(priority);
  if (!r) {
    r = new RealtimePriority({ priority, log: log.child("realtime") });
    shared.set(priority, r);
  }
  return r;
}
