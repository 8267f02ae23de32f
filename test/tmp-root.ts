/**
 * vitest globalSetup of every project (unit, integration, bench): the run's temporary files go
 * into one directory, removed at the end, so that test runs leave nothing behind in /tmp.
 *
 * Before any test it makes `<os.tmpdir()>/cuffia-test-XXXXXX` and points TMPDIR at it. vitest
 * starts its workers after the global setups, from this process's environment, and every process
 * a test starts inherits it: each `mkdtemp(join(tmpdir(), …))` of a test, of the lab or of a
 * program under test (`os.tmpdir()` reads TMPDIR on every call) lands inside.
 *
 * vitest runs the global setups of each project that has test files in the run, one after the
 * other in this one process, all of them before the first test, and their teardowns in reverse
 * project order when the run closes. Each project loads this file in its own module runner, so
 * the state is on `globalThis`: the first setup makes the directory, later ones reuse it, and the
 * last teardown removes it (after the lab's teardown, listed after this file, stopped its
 * processes).
 *
 * CUFFIA_KEEP_TMP=1 keeps the directory and prints its path (also kept when a bench was asked to
 * keep its files there: ENC_BENCH_KEEP=1, SIP_BENCH_KEEP=1). The name is short on purpose: unix
 * socket paths under it (PulseAudio's run/native, the control socket, Kamailio's ctl) must stay
 * within 108 bytes.
 */
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The environment variables that ask to keep the run's files. */
export const KEEP_TMP_VARS = ["CUFFIA_KEEP_TMP", "ENC_BENCH_KEEP", "SIP_BENCH_KEEP"] as const;

interface RunTmp {
  dir: string;
  /** TMPDIR before the run (undefined: not set). */
  previous: string | undefined;
  /** Setups whose teardown has not run yet. */
  users: number;
  /** Last resort if vitest exits without running the teardowns. */
  onExit: () => void;
}

const KEY = Symbol.for("cuffia.test.tmp-root");
type Holder = { [KEY]?: RunTmp };

function keepRequested(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return KEEP_TMP_VARS.find((name) => env[name] === "1");
}

export default async function setup(): Promise<() => Promise<void>> {
  const holder = globalThis as Holder;
  let run = holder[KEY];
  if (run === undefined || process.env.TMPDIR !== run.dir) {
    const previous = process.env.TMPDIR;
    const dir = await mkdtemp(join(tmpdir(), "cuffia-test-"));
    const onExit = (): void => {
      if (keepRequested() !== undefined) return;
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
      } catch (error) {
        process.stderr.write(`cuffia tests: could not remove ${dir}: ${(error as Error).message}\n`);
      }
    };
    process.once("exit", onExit);
    run = { dir, previous, users: 0, onExit };
    holder[KEY] = run;
    process.env.TMPDIR = dir;
  }
  run.users += 1;
  const mine = run;

  let done = false;
  return async (): Promise<void> => {
    if (done) return;
    done = true;
    mine.users -= 1;
    if (mine.users > 0) return;
    if (holder[KEY] === mine) delete holder[KEY];
    if (process.env.TMPDIR === mine.dir) {
      if (mine.previous === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = mine.previous;
    }
    const keep = keepRequested();
    if (keep !== undefined) {
      process.removeListener("exit", mine.onExit);
      process.stderr.write(`\n${keep}=1: this run's temporary files are kept in ${mine.dir}\n`);
      return;
    }
    // Retries: a process that outlived its test may still be writing into a directory being
    // removed. The exit listener stays until the removal is over: vitest exits the process when
    // closing takes longer than teardownTimeout, and the listener then finishes the job.
    await rm(mine.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    process.removeListener("exit", mine.onExit);
  };
}
