// The Debian package: built once (amd64, this machine's architecture) by `npm run package`'s
// script, then inspected with dpkg-deb, unpacked into a fresh root, and run from there.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LAB_OR_DEMO_PATH, labAndDemoNames, labOrDemoDefinitions } from "./lab-and-demo.js";

const REPO = resolve(import.meta.dirname, "..", "..");
const VERSION = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }).version;
const SCRIPTS = ["postinst", "prerm", "postrm"] as const;

const work = mkdtempSync(join(tmpdir(), "cuffia-deb-test-"));
const deb = join(work, `cuffia_${VERSION}_amd64.deb`);

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(cmd, args, { encoding: "utf8", env, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  expect(r.status, `${cmd} ${args.join(" ")}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

/** `dpkg-deb -c` as path → { mode, owner, link target }. */
let contents: Map<string, { mode: string; owner: string; target?: string }>;
let controlDir: string;

beforeAll(() => {
  const r = run(process.execPath, [
    join(REPO, "config", "debian", "build-deb.mjs"),
    "--arch",
    "amd64",
    "--out",
    work,
  ]);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout.trim()).toBe(deb);
  contents = new Map();
  for (const line of ok("dpkg-deb", ["-c", deb]).trim().split("\n")) {
    const m = /^(\S+) (\S+)\s+\d+ \S+ \S+ \.(\/.*?)(?: -> (.+))?$/.exec(line);
    if (!m) throw new Error(`unexpected dpkg-deb -c line: ${line}`);
    contents.set(m[3]!.replace(/\/$/, "") || "/", { mode: m[1]!, owner: m[2]!, target: m[4] });
  }
  controlDir = join(work, "control");
  ok("dpkg-deb", ["-e", deb, controlDir]);
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("cuffia .deb", () => {
  it("has the control fields IT's apt needs", () => {
    const field = (name: string) => ok("dpkg-deb", ["-f", deb, name]).trim();
    expect(field("Package")).toBe("cuffia");
    expect(field("Version")).toBe(VERSION);
    expect(field("Architecture")).toBe("amd64");
    const depends = field("Depends").split(/,\s*/);
    expect(depends).toEqual(
      expect.arrayContaining([
        "nodejs (>= 20)",
        "libc6 (>= 2.28)",
        "libudev1",
        "libusb-1.0-0",
        "udev",
        "alsa-utils",
        "adduser",
        "procps",
      ]),
    );
    expect(Number(field("Installed-Size"))).toBeGreaterThan(1000);
    expect(field("Description")).toMatch(/agent phone/);
  });

  it("lays out the program, the command, the unit, the udev rules, the config and the docs", () => {
    for (const path of [
      "/usr/lib/cuffia/package.json",
      "/usr/lib/cuffia/dist/cli.js",
      "/usr/lib/cuffia/dist/main.js",
      "/usr/lib/cuffia/config/example.yaml",
      "/usr/lib/cuffia/node_modules/sip.js/package.json",
      "/usr/lib/cuffia/node_modules/node-hid/prebuilds/HID_hidraw-linux-x64/node-napi-v4.node",
      "/usr/lib/cuffia/node_modules/@serialport/bindings-cpp/prebuilds/linux-x64/@serialport+bindings-cpp.glibc.node",
      "/lib/systemd/system/cuffia.service",
      "/etc/cuffia/config.yaml",
      "/usr/share/doc/cuffia/README.md",
      "/usr/share/doc/cuffia/copyright",
      "/usr/share/doc/cuffia/changelog.gz",
    ]) {
      expect(contents.has(path), path).toBe(true);
    }
    for (const dir of ["device/headsets", "device/lcds", "udev"]) {
      for (const name of readdirSync(join(REPO, dir))) {
        expect(contents.has(`/usr/lib/cuffia/${dir}/${name}`), `${dir}/${name}`).toBe(true);
      }
    }
    const rules = readdirSync(join(REPO, "udev")).filter((n) => n.endsWith(".rules"));
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) expect(contents.has(`/lib/udev/rules.d/${r}`), r).toBe(true);

    expect(contents.get("/usr/bin/cuffia")).toMatchObject({
      mode: "lrwxrwxrwx",
      target: "../lib/cuffia/dist/cli.js",
    });
    expect(contents.get("/usr/lib/cuffia/dist/cli.js")?.mode).toBe("-rwxr-xr-x");
    for (const [path, e] of contents) expect(e.owner, path).toBe("root/root");
  });

  it("ships production code only, for this architecture only, and no secrets", () => {
    const paths = [...contents.keys()];
    const modules = "/usr/lib/cuffia/node_modules/";
    // Exactly package-lock.json's production closure (`npm ci --omit=dev` would install the same).
    const lock = JSON.parse(readFileSync(join(REPO, "package-lock.json"), "utf8")) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const locked = Object.entries(lock.packages).filter(([k]) => k.startsWith("node_modules/"));
    const shipped = (k: string) => contents.has(`/usr/lib/cuffia/${k}/package.json`);
    expect(locked.filter(([k, e]) => e.dev && shipped(k)).map(([k]) => k)).toEqual([]);
    expect(locked.filter(([k, e]) => !e.dev && !shipped(k)).map(([k]) => k)).toEqual([]);
    for (const dev of ["vitest", "typescript", "@biomejs/biome"])
      expect(contents.has(modules + dev), dev).toBe(false);
    // dist/ is compiled JavaScript only: no source maps pointing at sources that are not shipped.
    const dist = paths.filter((p) => p.startsWith("/usr/lib/cuffia/dist/"));
    expect(dist.length).toBeGreaterThan(10);
    expect(dist.filter((p) => !p.endsWith(".js") && contents.get(p)?.mode[0] !== "d")).toEqual([]);
    const natives = paths.filter((p) => p.endsWith(".node"));
    expect(natives.length).toBeGreaterThan(0);
    // glibc x86-64 builds only (Debian is not musl).
    expect(natives.filter((p) => !/\/prebuilds\/[^/]*linux-x64\/[^/]*$/.test(p) || /musl/.test(p))).toEqual(
      [],
    );
    expect(paths.filter((p) => p.startsWith("/etc/") && p !== "/etc" && p !== "/etc/cuffia")).toEqual([
      "/etc/cuffia/config.yaml",
    ]);
    // No secret shipped: no file named like one, but a dependency's module *source* that is named
    // after what it handles (@peculiar/asn1-pkcs8's password_recipient_info.js) is code, not a secret.
    const depSource = (p: string) => p.startsWith(modules) && /\.(c|m)?js$|\.d\.ts$/.test(p);
    expect(paths.filter((p) => /secret|password/.test(p) && !depSource(p))).toEqual([]);
  });

  it("marks the config as a conffile and has POSIX sh maintainer scripts", () => {
    expect(readFileSync(join(controlDir, "conffiles"), "utf8")).toBe("/etc/cuffia/config.yaml\n");
    for (const s of SCRIPTS) {
      const file = join(controlDir, s);
      expect(statSync(file).mode & 0o777, s).toBe(0o755);
      expect(readFileSync(file, "utf8").split("\n")[0], s).toBe("#!/bin/sh");
      const r = run("sh", ["-n", file]);
      expect(r.status, `${s}: ${r.stderr}`).toBe(0);
      expect(r.stderr).toBe("");
      // Exactly the reviewed scripts from config/debian/.
      expect(readFileSync(file, "utf8"), s).toBe(readFileSync(join(REPO, "config", "debian", s), "utf8"));
    }
  });

  describe("unpacked into a fresh root", () => {
    let root: string;
    let cuffia: string;
    let config: string;
    beforeAll(() => {
      root = join(work, "root");
      mkdirSync(root);
      ok("dpkg-deb", ["-x", deb, root]);
      cuffia = join(root, "usr", "lib", "cuffia", "dist", "cli.js");
      config = join(root, "etc", "cuffia", "config.yaml");
    });

    it("ships the repo's unit, example config and rules unchanged", () => {
      const same = (a: string, b: string) =>
        expect(readFileSync(join(root, a), "utf8"), a).toBe(readFileSync(join(REPO, b), "utf8"));
      same("lib/systemd/system/cuffia.service", "config/systemd/cuffia.service");
      same("etc/cuffia/config.yaml", "config/example.yaml");
      for (const r of readdirSync(join(REPO, "udev")).filter((n) => n.endsWith(".rules"))) {
        same(`lib/udev/rules.d/${r}`, `udev/${r}`);
      }
    });

    it("contains neither lab nor demo code (the product is the daemon)", () => {
      const lib = "/usr/lib/cuffia/";
      const own = [...contents.keys()].filter(
        (p) => p.startsWith(lib) && !p.startsWith(`${lib}node_modules/`),
      );
      expect(own.filter((p) => LAB_OR_DEMO_PATH.test(p.slice(lib.length)))).toEqual([]);
      const names = labAndDemoNames();
      expect(names).toEqual(expect.arrayContaining(["startKamailio", "startBaresip", "runDemo"]));
      const found = own
        .filter((p) => p.endsWith(".js"))
        .flatMap((p) =>
          labOrDemoDefinitions(readFileSync(join(root, p), "utf8"), names).map((n) => `${p}: ${n}`),
        );
      expect(found).toEqual([]);
    });

    it("cuffia --version prints the package version, through /usr/bin/cuffia too", () => {
      const direct = run(process.execPath, [cuffia, "--version"]);
      expect(direct.status).toBe(0);
      expect(direct.stdout).toBe(`${VERSION}\n`);
      expect(readlinkSync(join(root, "usr", "bin", "cuffia"))).toBe("../lib/cuffia/dist/cli.js");
      const viaLink = run(join(root, "usr", "bin", "cuffia"), ["--version"]);
      expect(viaLink.status, viaLink.stderr).toBe(0);
      expect(viaLink.stdout).toBe(`${VERSION}\n`);
    });

    it("loads the packaged native modules (node-hid, serialport) on this machine", () => {
      const lib = join(root, "usr", "lib", "cuffia");
      const r = run(process.execPath, [
        "-e",
        `const { createRequire } = require("node:module");
         const req = createRequire(${JSON.stringify(`${lib}/`)});
         const hid = req("node-hid");
         const ports = req("@serialport/bindings-cpp");
         console.log(Array.isArray(hid.devices()), typeof ports.autoDetect().list);`,
      ]);
      expect(r.stderr).toBe("");
      expect(r.stdout.trim()).toBe("true function");
    });

    it("cuffia check: a fresh install is not ready until IT puts the secrets in place, then valid", () => {
      // Fresh: the conffile points at secrets/*.password, which the package does not ship.
      const fresh = run(process.execPath, [cuffia, "check", "-c", config]);
      expect(fresh.status).toBe(78);
      expect(fresh.stderr).toContain("sip.password_file: cannot read secrets/sip.password (ENOENT)");
      expect(fresh.stderr).toContain("mqtt.password_file: cannot read secrets/mqtt.password (ENOENT)");

      // What the postinst makes (0750 root:cuffia) and what the README tells IT to do
      // (the files 0640 root:cuffia; the group cannot be set here, it does not exist).
      const secrets = join(root, "etc", "cuffia", "secrets");
      mkdirSync(secrets, { mode: 0o750 });
      for (const [name, value] of [
        ["sip.password", "s1p-secret"],
        ["mqtt.password", "mqtt-secret"],
      ] as const) {
        writeFileSync(join(secrets, name), value, { mode: 0o640 });
      }
      const ready = run(process.execPath, [cuffia, "check", "-c", config]);
      expect(ready.stderr).toBe("");
      expect(ready.stdout).toBe(`${config}: valid (agent desk-17; sides: sip, headset, lcd, mqtt)\n`);
      expect(ready.status).toBe(0);
    });
  });

  describe("maintainer scripts, run against the unpacked root (DPKG_ROOT)", () => {
    // The commands that would change this machine's users, services or devices are stand-ins
    // that log their arguments; everything else (sh, mkdir, rm, node, cuffia check) is real.
    const STUBS = [
      "adduser",
      "deluser",
      "delgroup",
      "chown",
      "deb-systemd-helper",
      "systemctl",
      "udevadm",
      "runuser",
    ];
    let root: string;
    let bin: string;
    let log: string;
    beforeAll(() => {
      root = join(work, "root-scripts");
      mkdirSync(root);
      ok("dpkg-deb", ["-x", deb, root]);
      bin = join(work, "stubs");
      mkdirSync(bin);
      log = join(work, "stubs.log");
      for (const name of STUBS) {
        writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >> "${log}"\n`);
        chmodSync(join(bin, name), 0o755);
      }
      // getent: no cuffia user yet; the groups exist.
      writeFileSync(
        join(bin, "getent"),
        `#!/bin/sh\necho "getent $*" >> "${log}"\n[ "$1" = group ] && { echo "$2:x:1:"; exit 0; }\nexit 2\n`,
      );
      chmodSync(join(bin, "getent"), 0o755);
    });

    function script(name: (typeof SCRIPTS)[number], ...args: string[]) {
      writeFileSync(log, "");
      const r = run("sh", [join(controlDir, name), ...args], {
        PATH: `${bin}:/usr/bin:/bin:/usr/sbin:/sbin`,
        DPKG_ROOT: root,
        HOME: work,
      });
      return { ...r, calls: readFileSync(log, "utf8").trim().split("\n").filter(Boolean) };
    }

    it("postinst configure (fresh install): user, groups, secrets folder, enable; not started", () => {
      const r = script("postinst", "configure");
      expect(r.status, r.stderr).toBe(0);
      expect(r.calls).toContain(
        "adduser --system --group --quiet --home /var/lib/cuffia --no-create-home --shell /usr/sbin/nologin cuffia",
      );
      for (const g of ["plugdev", "dialout", "audio"])
        expect(r.calls).toContain(`adduser --quiet cuffia ${g}`);
      const secrets = join(root, "etc", "cuffia", "secrets");
      expect(statSync(secrets).mode & 0o777).toBe(0o750);
      expect(r.calls).toContain(`chown root:cuffia ${secrets}`);
      expect(r.calls).toContain("deb-systemd-helper enable cuffia.service");
      // Another root: never this machine's systemd or udev.
      expect(r.calls.filter((c) => /^(systemctl|deb-systemd-invoke|udevadm|runuser) /.test(c))).toEqual([]);
      // The real `cuffia check` ran and said why the desk is not ready.
      expect(r.stderr).toContain("is not ready yet, so the service was not started");
      expect(r.stderr).toContain("sip.password_file: cannot read secrets/sip.password (ENOENT)");
    });

    it("postinst configure (upgrade) with the secrets in place: quiet", () => {
      const secrets = join(root, "etc", "cuffia", "secrets");
      writeFileSync(join(secrets, "sip.password"), "s1p-secret", { mode: 0o640 });
      writeFileSync(join(secrets, "mqtt.password"), "mqtt-secret", { mode: 0o640 });
      const r = script("postinst", "configure", VERSION);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.calls.filter((c) => c.startsWith("chown "))).toEqual([]); // an existing folder is left alone
    });

    it("prerm remove, postrm remove, postrm purge", () => {
      expect(script("prerm", "remove").status).toBe(0);
      expect(script("postrm", "remove").status).toBe(0);
      mkdirSync(join(root, "var", "lib", "cuffia"), { recursive: true });
      writeFileSync(join(root, "var", "lib", "cuffia", "outbox"), "x");
      const purge = script("postrm", "purge");
      expect(purge.status, purge.stderr).toBe(0);
      expect(existsSync(join(root, "var", "lib", "cuffia"))).toBe(false);
      expect(existsSync(join(root, "etc", "cuffia", "secrets"))).toBe(false);
      expect(purge.calls).toContain("deb-systemd-helper purge cuffia.service");
      // Under DPKG_ROOT the host's user is not touched.
      expect(purge.calls.filter((c) => /^(deluser|delgroup) /.test(c))).toEqual([]);
    });
  });
});
