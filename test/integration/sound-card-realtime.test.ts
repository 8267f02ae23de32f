/**
 * Real-time scheduling on the lab card (issue 13: no underrun over a 10-minute call): the aplay
 * and arecord a call's speaker and microphone run, opened from a config as the daemon opens
 * them, have SCHED_FIFO at `audio.realtime_priority` when the system permits it (here: root),
 * and normal priority with `realtime_priority: 0`; the lab's PulseAudio (the "card") runs every
 * thread at real-time priority above them, as a hardware card's interrupt is above every process.
 * The policies are read from the running processes' threads with `chrt -p`: aplay and arecord
 * are spawned through `chrt -f`, so the pulse plugin's own thread in them has it too.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { AudioSink, AudioSource } from "../../src/audio/audio.js";
import { openSink, openSource } from "../../src/audio/open.js";
import { audioOptionsFromConfig } from "../../src/audio/options.js";
import { decideRealtime, ownPermission } from "../../src/audio/realtime.js";
import { parseConfig } from "../../src/config/load.js";
import { silentLogger } from "../../src/log/logger.js";
import "../lab/context.js";
import { execFileAsync, waitUntil } from "../lab/proc.js";
import { LAB_CARD_PRIORITY, type VirtualCard } from "../lab/sound-card.js";
import { useVirtualCard } from "../lab/use-virtual-card.js";

let card: VirtualCard;
useVirtualCard((c) => {
  card = c;
});

/** `chrt -p` of one thread: its policy name (SCHED_FIFO, SCHED_RR, SCHED_OTHER) and priority. */
async function policy(tid: number): Promise<{ policy: string; priority: number }> {
  const out = (await execFileAsync("chrt", ["-p", String(tid)], { timeout: 5000 })).stdout;
  const name = /scheduling policy: (SCHED_\w+)/.exec(out)?.[1];
  const prio = /scheduling priority: (\d+)/.exec(out)?.[1];
  if (!name || prio === undefined) throw new Error(`cannot read chrt -p ${tid}: ${out}`);
  return { policy: name, priority: Number(prio) };
}

/**
 * The policy all of a process's threads share (the pulse plugin runs a thread of its own in
 * aplay and arecord: it handles the stream's requests and underflows, so it matters as much).
 */
async function threadsPolicy(pid: number): Promise<{ policy: string; priority: number; threads: number }> {
  const tids = (await readdir(`/proc/${pid}/task`)).map(Number);
  const all = await Promise.all(tids.map(policy));
  const first = all[0];
  if (!first) throw new Error(`no threads in ${pid}`);
  const same = all.every((p) => p.policy === first.policy && p.priority === first.priority);
  return { ...(same ? first : { policy: "mixed", priority: -1 }), threads: tids.length };
}

/** This process's children named `comm` (the audio processes the speaker/microphone spawned). */
async function children(comm: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis.
      const close = stat.lastIndexOf(")");
      const name = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      if (name === comm && ppid === process.pid) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Opens the call's speaker and microphone on the lab card from `audio:` YAML, as the daemon does. */
async function openFromConfig(extra: string): Promise<{ sink: AudioSink; source: AudioSource }> {
  const yaml = `audio:\n  source: { type: microphone, device: ${card.pcm.mic} }\n  sink: { type: speaker, device: ${card.pcm.speaker} }\n${extra}`;
  const config = parseConfig(yaml, join(card.dir, "config.yaml"), { env: {}, hostChecks: false }).config;
  const audio = audioOptionsFromConfig(config, undefined);
  const ctx = { rate: 8000, callId: "rt", log: silentLogger };
  return { sink: await openSink(audio.sink, ctx), source: await openSource(audio.source, ctx) };
}

/** The policies of the running aplay and arecord, once each has one (chrt runs right after spawn). */
async function audioPolicies(want: string) {
  return waitUntil(
    `aplay and arecord at ${want}`,
    async () => {
      const [aplay] = await children("aplay");
      const [arecord] = await children("arecord");
      if (aplay === undefined || arecord === undefined) return undefined;
      const p = { aplay: await threadsPolicy(aplay), arecord: await threadsPolicy(arecord) };
      return p.aplay.policy === want && p.arecord.policy === want ? p : undefined;
    },
    5000,
    50,
  );
}

describe("real-time scheduling of the audio path", () => {
  it("aplay and arecord run at SCHED_FIFO, priority audio.realtime_priority (default 10)", async () => {
    const decision = decideRealtime(10, ownPermission());
    expect(decision.use).toBe(true); // the lab runs as root
    const { sink, source } = await openFromConfig("");
    try {
      sink.write(new Int16Array(160));
      const p = await audioPolicies("SCHED_FIFO");
      expect(p).toMatchObject({
        aplay: { policy: "SCHED_FIFO", priority: 10 },
        arecord: { policy: "SCHED_FIFO", priority: 10 },
      });
      // The pulse plugin's thread as well as the main one.
      expect(p.aplay.threads).toBeGreaterThanOrEqual(2);
      expect(p.arecord.threads).toBeGreaterThanOrEqual(2);
    } finally {
      await sink.close();
      await source.close();
    }
    await waitUntil("aplay and arecord to end", async () => (await children("aplay")).length === 0, 5000);
    const { sink: s7, source: m7 } = await openFromConfig("  realtime_priority: 7\n");
    try {
      expect(await audioPolicies("SCHED_FIFO")).toMatchObject({
        aplay: { policy: "SCHED_FIFO", priority: 7 },
        arecord: { policy: "SCHED_FIFO", priority: 7 },
      });
    } finally {
      await s7.close();
      await m7.close();
    }
  });

  it("realtime_priority: 0 leaves them at normal priority", async () => {
    await waitUntil("the last test's aplay to end", async () => (await children("aplay")).length === 0, 5000);
    const { sink, source } = await openFromConfig("  realtime_priority: 0\n");
    try {
      expect(await audioPolicies("SCHED_OTHER")).toMatchObject({
        aplay: { policy: "SCHED_OTHER", priority: 0 },
        arecord: { policy: "SCHED_OTHER", priority: 0 },
      });
    } finally {
      await sink.close();
      await source.close();
    }
  });

  it("the lab card: every PulseAudio thread at SCHED_RR, above the audio processes", async () => {
    expect(card.realtimePriority).toBe(LAB_CARD_PRIORITY);
    expect(LAB_CARD_PRIORITY).toBeGreaterThan(10);
    const tids = (await readdir(`/proc/${card.pid}/task`)).map(Number);
    // The main thread (clients' audio off their sockets) and the sinks' I/O threads.
    expect(tids.length).toBeGreaterThanOrEqual(4);
    for (const tid of tids) {
      const comm = (await readFile(`/proc/${card.pid}/task/${tid}/comm`, "utf8")).trim();
      expect({ comm, ...(await policy(tid)) }).toEqual({
        comm,
        policy: "SCHED_RR",
        priority: LAB_CARD_PRIORITY,
      });
    }
  });
});
