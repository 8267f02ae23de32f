/**
 * `npm run demo` end to end, as a person uses it: the demo runs in a real terminal (a tmux pane
 * on a private tmux server), a citizen calls, the keys answer, mute and hang up, and what the
 * pane shows is read back: the LCD's screens, the presence received over MQTT. q stops it:
 * every process it started is gone (by pid) and the terminal is back in cooked mode with a
 * visible cursor. Runs the compiled demo (npm test builds first).
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAlive, waitUntil } from "../lab/proc.js";

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SERVER = `cuffia-demo-test-${process.pid}`;
const SESSION = "demo";

const tmux = async (...args: string[]): Promise<string> =>
  (await run("tmux", ["-L", SERVER, ...args], { timeout: 5000 })).stdout;
/** The pane, with some scroll-back (the shell's lines after the demo may scroll). */
const pane = (): Promise<string> => tmux("capture-pane", "-p", "-S", "-60", "-t", SESSION);
const keys = (...k: string[]): Promise<string> => tmux("send-keys", "-t", SESSION, ...k);

async function paneMatching(what: string, re: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
  let last = "";
  try {
    return await waitUntil(
      what,
      async () => {
        last = await pane();
        return re.exec(last) ?? undefined;
      },
      timeoutMs,
      200,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- pane:\n${last}`);
  }
}

const seconds = (clock: string): number => {
  const [m, s] = clock.split(":").map(Number);
  return (m ?? 0) * 60 + (s ?? 0);
};

/** What `npm run demo` runs (package.json), run here without npm in between. */
const DEMO_SCRIPT = (
  JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: { demo: string } }
).scripts.demo;
/** The demo is built apart from the product (test/demo-app/tsconfig.json), by npm run build. */
const DEMO_MAIN = "test/demo-app/dist/test/demo-app/main.js";

let dir: string;
let pids: { demo: number; kamailio: number; baresip: number[] } | null = null;

beforeAll(async () => {
  if (!existsSync(join(ROOT, DEMO_MAIN))) throw new Error(`${DEMO_MAIN} is missing: run npm run build first`);
  dir = await mkdtemp(join(tmpdir(), "cuffia-demo-test-"));
  const command = [
    `${DEMO_SCRIPT} --no-install --language en --audio files --call-after 1 --call-every 600 --dir ${dir}`,
    'echo "DEMO-EXIT=$?"',
    "stty -a",
    "sleep 600",
  ].join("; ");
  await tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40", "-c", ROOT, command);
});

afterAll(async () => {
  // Whatever happened, nothing of the demo outlives the test: its processes by pid, then our
  // private tmux server (which ends the pane's shell).
  for (const pid of pids ? [pids.demo, pids.kamailio, ...pids.baresip] : []) {
    if (isAlive(pid)) process.kill(pid, "SIGKILL");
  }
  await tmux("kill-server").catch(() => undefined);
});

describe("npm run demo", () => {
  it("rings, answers, mutes and hangs up with the keys, then stops everything on q", async () => {
    // The citizen's call rings on the LCD (startup: packages check, Kamailio, baresips, daemon).
    const ringing = await paneMatching("the ringing screen", /│Incoming call\s+([A-Z]{2})│/, 45_000);
    pids = JSON.parse(await readFile(join(dir, "pids.json"), "utf8")) as typeof pids;
    expect(pids?.baresip).toHaveLength(3);
    await paneMatching("the ringing presence over MQTT", /Presence\s+available · ringing · routable no/);
    const language = ringing[1]!.toLowerCase();
    expect(await pane()).toMatch(new RegExp(`Call\\s+from 200[12] · language ${language} · service`));

    // space answers: the on-call screen, its timer counting.
    await keys("Space");
    const first = await paneMatching("the on-call screen", /│On call\s+(\d+:\d\d)│/);
    await paneMatching("the on_call presence", /Presence\s+available · on_call/);
    const later = await paneMatching(
      "the call timer counting",
      new RegExp(`│On call\\s+(?!${first[1]}│)(\\d+:\\d\\d)│`),
      5000,
    );
    expect(seconds(later[1]!)).toBeGreaterThan(seconds(first[1]!));

    // m mutes: the LCD's headline says so, and so does the presence's call.
    await keys("m");
    await paneMatching("the muted mark", /│On call MUTED\s+\d+:\d\d│/);
    await paneMatching("muted in the call line", /Call\s+from .* muted yes/);

    // space hangs up: wrap-up, in the LCD and in the presence; the call's audio was written.
    await keys("Space");
    await paneMatching("the wrap-up screen", /│Wrap-up\s+\d+s│/);
    await paneMatching("the wrap_up presence", /Presence\s+available · wrap_up/);
    await paneMatching("the call.ended event", /call\.ended\s+local_hangup/);
    const calls = (await readdir(join(dir, "calls"))).filter((f) => /^call-.+\.wav$/.test(f));
    expect(calls.length).toBe(1);

    // q stops everything and gives the terminal back.
    await keys("q");
    await paneMatching("the demo's exit", /DEMO-EXIT=(\d+)/, 30_000);
    const text = await pane();
    expect(text).toMatch(/DEMO-EXIT=0/);
    expect(text).toContain(`Stopped. Config, logs and call recordings are in ${dir}`);
    const all = [pids!.demo, pids!.kamailio, ...pids!.baresip];
    await waitUntil("every process of the demo gone", () => all.every((p) => !isAlive(p)), 5000);
    // Cooked mode again (stty prints "icanon", not "-icanon"), echo on, cursor visible.
    await paneMatching("stty's report", /(^|\s)icanon(\s|$)/m, 5000);
    expect(await pane()).not.toMatch(/-icanon|-echo\s/);
    expect((await tmux("display-message", "-p", "-t", SESSION, "#{cursor_flag}")).trim()).toBe("1");
  });
});
