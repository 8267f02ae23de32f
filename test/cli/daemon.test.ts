/**
 * The daemon as IT runs it: the compiled `cuffia` command (npm test builds dist/ first), a config
 * with only the agent and control sections, driven through `cuffia ctl`, reloaded with SIGHUP,
 * stopped with SIGTERM, and announcing itself to systemd through NOTIFY_SOCKET.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";

const BIN = resolve("dist/cli.js");
const run = promisify(execFile);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { timeout: 20_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
});

function daemon(configFile: string, env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [BIN, "run", "-c", configFile], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const lines: Array<Record<string, unknown>> = [];
  let buf = "";
  child.stdout?.setEncoding("utf8").on("data", (c: string) => {
    buf += c;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        lines.push(JSON.parse(line));
      } catch {
        lines.push({ raw: line });
      }
    }
  });
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  return { child, lines, exited };
}

function workdir(config: (dir: string) => string) {
  const dir = mkdtempSync(join(tmpdir(), "cuffia-daemon-"));
  const file = join(dir, "config.yaml");
  writeFileSync(file, config(dir));
  return { dir, file, socket: join(dir, "control.sock") };
}

const minimal = (dir: string, wrap = 30) => `agent:
  id: desk-test
  name: Sportello Test
control:
  socket: ${dir}/control.sock
policy:
  wrap_up_seconds: ${wrap}
log:
  level: debug
state_dir: ${dir}/state
`;

describe("cuffia CLI", () => {
  it("check: the example is valid; four wrong keys are reported at once with exit 78", async () => {
    const ok = await cli("check", "-c", "config/example.yaml");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("valid");

    const { file } = workdir(
      () =>
        "agent:\n  idd: x\nsip:\n  server: udp://pbx\n  aor: sip:1@pbx\n  password: x\npolicy:\n  wrap_up_seconds: many\nlcd:\n  port: /dev/lcd\n  driver: vfd\n",
    );
    const bad = await cli("check", "-c", file);
    expect(bad.code).toBe(78);
    const lines = bad.stderr.trim().split("\n");
    expect(lines.filter((l) => /^\S+config\.yaml:\d+:\d+ /.test(l))).toHaveLength(4);
    expect(bad.stderr).toContain(':2:3 agent.idd: unknown key (did you mean "id"?)');
    expect(bad.stderr).toContain(":4:11 sip.server: must be a ws://");
    expect(bad.stderr).toContain(":8:20 policy.wrap_up_seconds: must be a number");
    expect(bad.stderr).toContain(':11:11 lcd.driver: must be one of "matrix-orbital"');
  });

  it("schema prints a JSON Schema", async () => {
    const r = await cli("schema");
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as { $schema: string; properties: Record<string, unknown> };
    expect(s.$schema).toMatch(/json-schema/);
    expect(Object.keys(s.properties)).toContain("policy");
  });

  it("ctl without a daemon exits 69; --help and --version answer", async () => {
    const r = await cli("ctl", "status", "--socket", "/nonexistent/x.sock");
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/cannot reach the daemon/);
    expect((await cli("--version")).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect((await cli("ctl", "--help")).stdout).toContain("usage: cuffia COMMAND");
  });
});

describe("cuffia run", () => {
  it("runs with agent and control only: status, login, pause via ctl; SIGHUP reload; SIGTERM stop", async () => {
    const w = workdir((d) => minimal(d));
    const d = daemon(w.file);
    await expect.poll(() => existsSync(w.socket), { timeout: 10_000 }).toBe(true);

    const status = await cli("ctl", "status", "--socket", w.socket);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      ok: true,
      v: 1,
      agent: "desk-test",
      name: "Sportello Test",
      status: "logged_out",
      activity: "idle",
      routable: false,
      health: { sip: "not_configured", headset: null, lcd: null, mqtt: null },
    });
    expect((await cli("ctl", "login", "--socket", w.socket)).code).toBe(0);
    expect((await cli("ctl", "pause", "training", "--socket", w.socket)).code).toBe(0);
    const refused = await cli("ctl", "pause", "nap", "--socket", w.socket);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, error: { code: "bad_reason" } });
    const na = await cli("ctl", "answer", "--socket", w.socket);
    expect(JSON.parse(na.stdout)).toMatchObject({ ok: false, error: { code: "not_available" } });
    expect(JSON.parse((await cli("ctl", "status", "--socket", w.socket)).stdout)).toMatchObject({
      status: "paused",
      reason: "training",
    });

    // A valid new config is applied; an invalid one is refused and the old one kept.
    writeFileSync(w.file, minimal(w.dir, 5));
    d.child.kill("SIGHUP");
    await expect
      .poll(() => d.lines.some((l) => l["msg"] === "config reloaded"), { timeout: 5000 })
      .toBe(true);
    writeFileSync(w.file, `${minimal(w.dir)}bogus: 1\n`);
    d.child.kill("SIGHUP");
    await expect
      .poll(() => d.lines.some((l) => l["msg"] === "reload refused: keeping the running config"), {
        timeout: 5000,
      })
      .toBe(true);
    expect(d.lines.find((l) => l["msg"] === "reload refused: config invalid")?.["problem"]).toMatch(
      /bogus: unknown key/,
    );
    expect(JSON.parse((await cli("ctl", "status", "--socket", w.socket)).stdout)).toMatchObject({
      status: "paused",
    });

    d.child.kill("SIGTERM");
    expect(await d.exited).toBe(0);
    expect(existsSync(w.socket)).toBe(false);
    expect(d.lines.some((l) => l["msg"] === "stopped")).toBe(true);
    // The status survives the restart (paused stays paused).
    expect(JSON.parse(readFileSync(join(w.dir, "state", "agent-status.json"), "utf8"))).toMatchObject({
      status: "paused",
      reason: "training",
    });
  });

  it("an invalid config exits 78 before starting", async () => {
    const w = workdir(() => "agent: { id: 'no/slash' }\n");
    const d = daemon(w.file);
    expect(await d.exited).toBe(78);
  });

  it("tells systemd READY and STOPPING through NOTIFY_SOCKET", async () => {
    const w = workdir((d) => minimal(d));
    const sockPath = join(w.dir, "notify.sock");
    // A datagram listener like systemd's (Node has no AF_UNIX datagrams; python3 is on every box).
    const listener = spawn(
      "python3",
      [
        "-c",
        "import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('up',flush=True)\nwhile True:\n  print(s.recv(4096).decode().replace('\\n',' '),flush=True)",
        sockPath,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    children.push(listener);
    let got = "";
    listener.stdout?.setEncoding("utf8").on("data", (c: string) => {
      got += c;
    });
    await expect.poll(() => got.includes("up")).toBe(true);
    const d = daemon(w.file, { NOTIFY_SOCKET: sockPath });
    await expect.poll(() => got.includes("READY=1"), { timeout: 10_000 }).toBe(true);
    d.child.kill("SIGTERM");
    expect(await d.exited).toBe(0);
    expect(got).toContain("STOPPING=1");
    listener.kill();
  });
});
