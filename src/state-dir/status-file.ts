/**
 * The agent status across restarts (state_dir/agent-status.json), written atomically
 * (temp file, fsync, rename) so a power cut leaves the old or the new status, never half of one.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { PersistedStatus } from "../core/desk.js";
import type { StatusStore } from "../core/runner.js";
import type { AgentStatus } from "../core/types.js";

const STATUSES: readonly AgentStatus[] = ["logged_out", "available", "paused"];

export class StatusFile implements StatusStore {
  readonly path: string;
  constructor(readonly dir: string) {
    this.path = join(dir, "agent-status.json");
  }

  /** The last saved status, or null when there is none or it is unreadable (then: logged out). */
  load(): PersistedStatus | null {
    try {
      const v = JSON.parse(readFileSync(this.path, "utf8")) as { status?: unknown; reason?: unknown };
      if (!STATUSES.includes(v.status as AgentStatus)) return null;
      return { status: v.status as AgentStatus, reason: typeof v.reason === "string" ? v.reason : null };
    } catch {
      return null;
    }
  }

  save(status: AgentStatus, reason: string | null): void {
    mkdirSync(this.dir, { recursive: true });
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, "w", 0o640);
    try {
      writeSync(fd, `${JSON.stringify({ status, reason, saved: new Date().toISOString() })}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}
