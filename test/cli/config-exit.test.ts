/**
 * Config that never crashes, as systemd sees it (issue 11): the built `cuffia` command, run as a
 * real process on hostile or broken files, exits 78 (the unit's RestartPreventExitStatus: stop,
 * do not restart every 5 s) with file:line:column and a message, never 1 with a stack trace.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";

const BIN = resolve("dist/cli.js");
const run = promisify(execFile);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

const dir = mkdtempSync(join(tmpdir(), "cuffia-cfgexit-"));
function file(name: string, text: string | Buffer): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const bomb = (() => {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(",")}]`);
  }
  return `${lines.join("\n")}\nagent:\n  name: *i\n`;
})();

describe("cuffia check and run on broken files: exit 78 with a position, no stack trace", () => {
  it.each([
    ["alias", "agent:\n  id: *nothing\n", /alias\.yaml:2:7 agent\.id: alias \*nothing refers to no anchor/],
    ["bomb", bomb, /bomb\.yaml:2:\d+ .*too many values .*alias bomb/],
    ["syntax", "agent: [\n", /syntax\.yaml:\d+:\d+ .*YAML syntax/],
    [
      "dup",
      "log:\n  level: info\n  level: debug\n",
      /dup\.yaml:3:3 log\.level: duplicate key.*first at line 2/,
    ],
    ["deep", `a: ${"[".repeat(5000)}${"]".repeat(5000)}\n`, /deep\.yaml:\d+:\d+ .*nested/],
    ["big", Buffer.alloc(2 * 1024 * 1024, 0x20), /big\.yaml:1:1 .*larger than 1 MiB/],
  ] as const)("%s", async (name, text, message) => {
    const f = file(`${name}.yaml`, text);
    for (const cmd of ["check", "run"]) {
      const r = await cli(cmd, "-c", f);
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(78);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it("a missing sip.ca_file fails check with its key path (it used to pass)", async () => {
    const f = file(
      "ca.yaml",
      `sip:\n  server: tls://127.0.0.1:5061\n  aor: sip:1@pbx\n  password: x\n  ca_file: ${dir}/nope.pem\n`,
    );
    const r = await cli("check", "-c", f);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(
      `ca.yaml:5:12 sip.ca_file: ${dir}/nope.pem (the CA certificate for wss:// and tls://) does not exist`,
    );
  });

  it("rtp.address not of this box fails check", async () => {
    const r = await cli("check", "-c", file("rtp.yaml", "rtp:\n  address: 203.0.113.77\n"));
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/rtp\.yaml:2:12 rtp\.address: 203\.0\.113\.77 is not an address of this box/);
  });

  it("the whole report of a 40,000-key file reaches a pipe, the count line last", async () => {
    const keys = Array.from({ length: 40_000 }, (_, i) => `  k${i}: 1\n`).join("");
    const r = await cli("check", "-c", file("many.yaml", `policy:\n${keys}`));
    expect(r.code).toBe(78);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(40_001);
    expect(lines.at(-1)).toMatch(/40000 problem\(s\) in .*many\.yaml$/);
  });
});

describe("tls_verify: false", () => {
  const f = file(
    "insecure.yaml",
    // A closed loopback port: the doctor's SIP probe fails at once.
    `sip:\n  server: tls://127.0.0.1:9\n  aor: sip:1@pbx\n  password: \${P}\n  tls_verify: false\nstate_dir: ${dir}/state\n`,
  );

  it("check warns and still exits 0", async () => {
    const r = await run(process.execPath, [BIN, "check", "-c", f], { env: { ...process.env, P: "x" } });
    expect(r.stdout).toContain("valid");
    expect(r.stderr).toMatch(
      /^warning: .*insecure\.yaml:5:15 sip\.tls_verify is false: the PBX's certificate is not verified/m,
    );
  });

  it("doctor shows it as a warning with the fix", async () => {
    let out = "";
    try {
      out = (
        await run(process.execPath, [BIN, "doctor", "-c", f, "--json", "--timeout", "2"], {
          env: { ...process.env, P: "x" },
          timeout: 30_000,
        })
      ).stdout;
    } catch (e) {
      out = (e as { stdout: string }).stdout; // exit 1: SIP is unreachable, as intended
    }
    const report = JSON.parse(out) as {
      checks: Array<{ check: string; status: string; detail: string; fix: string | null }>;
    };
    const warn = report.checks.find((x) => x.check === "config" && /tls_verify is false/.test(x.detail));
    expect(warn?.status).toBe("warn");
    expect(warn?.fix).toMatch(/remove sip\.tls_verify: false.*sip\.ca_file/);
  });
});

describe("run does not stop for good on what the box lacks at boot", () => {
  it("a CA on a mount not there yet and an rtp.address not up yet: check says 78, run starts and warns", async () => {
    const work = mkdtempSync(join(tmpdir(), "cuffia-boot-"));
    const socket = join(work, "control.sock");
    const f = join(work, "config.yaml");
    writeFileSync(
      f,
      [
        "agent: { id: desk-boot }",
        "sip: { server: tls://127.0.0.1:9, aor: sip:1@pbx, password: x, ca_file: /mnt/not-yet/ca.pem }",
        "rtp: { address: 203.0.113.77 }",
        "audio: { source: { type: none }, sink: { type: none } }",
        `control: { socket: ${socket} }`,
        `state_dir: ${work}/state`,
        "log: { level: warn }",
        "",
      ].join("\n"),
    );
    expect((await cli("check", "-c", f)).code).toBe(78);
    const child = spawn(process.execPath, [BIN, "run", "-c", f], { stdio: ["ignore", "pipe", "pipe"] });
    let logged = "";
    child.stdout?.on("data", (d: Buffer) => {
      logged += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      logged += d.toString();
    });
    const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
    try {
      await expect.poll(() => existsSync(socket), { timeout: 10_000 }).toBe(true);
      expect(logged).toMatch(/sip\.ca_file: \/mnt\/not-yet\/ca\.pem .*does not exist/);
      expect(logged).toMatch(/rtp\.address: 203\.0\.113\.77 is not an address of this box/);
      // the SIP side says why it is down (health, LCD, presence: not routable)
      const status = JSON.parse((await cli("ctl", "status", "--socket", socket)).stdout);
      expect(status.health).toMatchObject({
        sip: "failed",
        sip_reason: "sip.ca_file /mnt/not-yet/ca.pem cannot be read (ENOENT)",
      });
      expect(status.routable).toBe(false);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });
});

describe("ctl finds the socket in a config that no longer passes check", () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  });

  it("a file the config names vanished while the daemon runs: ctl -c still reaches it", async () => {
    const work = mkdtempSync(join(tmpdir(), "cuffia-ctlcfg-"));
    const tone = join(work, "tone.wav");
    writeFileSync(tone, "RIFF");
    const socket = join(work, "ctl", "control.sock");
    const f = join(work, "config.yaml");
    writeFileSync(
      f,
      `agent: { id: desk-ctl }\naudio: { source: { type: file, path: ${tone} }, sink: { type: none } }\ncontrol: { socket: ${socket} }\nstate_dir: ${work}/state\nlog: { level: silent }\n`,
    );
    const child = spawn(process.execPath, [BIN, "run", "-c", f], { stdio: "ignore" });
    children.push(child);
    const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
    await expect.poll(() => existsSync(socket), { timeout: 10_000 }).toBe(true);
    rmSync(tone);
    expect((await cli("check", "-c", f)).code).toBe(78);
    const r = await cli("ctl", "status", "-c", f);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, agent: "desk-ctl" });
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
