#!/usr/bin/env node
// Builds the Debian package: cuffia_<version>_<arch>.deb for amd64 and arm64 (`npm run package`).
//
//   node config/debian/build-deb.mjs [--arch amd64|arm64]... [--out DIR]
//
// Plain Node (no TypeScript, no dependencies) so it runs on any build box with the repo's
// node_modules installed (`npm ci`) and dpkg-deb. Steps:
//   1. the TypeScript build (tsc) into a temporary folder (never the shared dist/: no stale files, no race
//      with a developer's own build);
//   2. the production dependencies: every non-dev package of package-lock.json, copied from
//      node_modules/ and checked against the lock's version (no network);
//   3. per architecture: a staging root, the native prebuilds of that architecture only (node-hid
//      and serialport ship theirs inside their npm packages; the build fails if one is missing
//      or is not an ELF binary of that architecture), DEBIAN/ metadata, `dpkg-deb --build`.
//
// Layout of the package:
//   /usr/lib/cuffia/{package.json,bin,dist,device,udev,config/example.yaml,node_modules}
//   /usr/bin/cuffia -> ../lib/cuffia/dist/cli.js
//   /lib/systemd/system/cuffia.service          (config/systemd/cuffia.service)
//   /lib/udev/rules.d/*.rules                   (every udev/*.rules)
//   /etc/cuffia/config.yaml                     (config/example.yaml; a conffile)
//   /usr/share/doc/cuffia/{README.md,copyright}
// No secrets are shipped: the postinst creates /etc/cuffia/secrets (0750 root:cuffia) empty.

import { spawnSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const HERE = join(REPO, "config", "debian");

/** Debian architecture → Node's process.arch and the ELF e_machine of its native code. */
const ARCHES = {
  amd64: { node: "x64", elfMachine: 62, elfName: "x86-64" },
  arm64: { node: "arm64", elfMachine: 183, elfName: "AArch64" },
};

/** Native modules the daemon loads, and the prebuild each architecture must carry. */
const REQUIRED_PREBUILDS = [
  // node-hid loads the hidraw flavour on Linux (it links libusb-1.0.so.0 all the same).
  { pkg: "node-hid", dir: (a) => `prebuilds/HID_hidraw-linux-${a}`, file: /\.node$/ },
  { pkg: "@serialport/bindings-cpp", dir: (a) => `prebuilds/linux-${a}`, file: /glibc\.node$/ },
];

/** Packaging leftovers of npm packages that have no use on a box. */
const JUNK =
  /^(\.npmignore|\.gitignore|\.gitattributes|\.gitmodules|\.eslintrc.*|\.eslintignore|\.travis\.yml|\.editorconfig)$/;

class BuildError extends Error {}

function fail(message) {
  throw new BuildError(message);
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"], ...options });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(" ")} exited with ${r.status ?? r.signal}`);
  return r;
}

function parseCommandLine(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      arch: { type: "string", multiple: true },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(
      "usage: node config/debian/build-deb.mjs [--arch amd64|arm64]... [--out DIR]\n" +
        "Builds cuffia_<version>_<arch>.deb (default: amd64 and arm64, into the repository root).\n",
    );
    process.exit(0);
  }
  const arches = (values.arch ?? Object.keys(ARCHES)).flatMap((a) => a.split(","));
  for (const a of arches) {
    if (!(a in ARCHES)) fail(`--arch ${a}: not one of ${Object.keys(ARCHES).join(", ")}`);
  }
  return { arches: [...new Set(arches)], out: resolve(values.out ?? REPO) };
}

/** npm's semver → a Debian version that sorts the same (1.0.0-rc.1 < 1.0.0 needs the tilde). */
function debianVersion(version) {
  const v = version.replace(/-/g, "~");
  if (!/^[0-9][A-Za-z0-9.+~]*$/.test(v)) fail(`package.json version "${version}" is not usable for Debian`);
  return v;
}

function walk(dir, visit) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    visit(p, st);
    if (st.isDirectory()) walk(p, visit);
  }
}

/** The production closure of package-lock.json, copied out of the repo's node_modules. */
function copyProductionModules(dest) {
  const lockFile = join(REPO, "package-lock.json");
  if (!existsSync(lockFile)) fail("package-lock.json is missing: the package needs pinned dependencies");
  const lock = JSON.parse(readFileSync(lockFile, "utf8"));
  if (!lock.packages) fail("package-lock.json has no `packages` (lockfileVersion >= 2 needed)");
  let count = 0;
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key === "" || entry.dev) continue;
    if (entry.link) fail(`${key}: linked packages cannot be packaged`);
    if (entry.os || entry.cpu) {
      fail(`${key}: a platform-specific package (os/cpu) cannot be packaged for another architecture`);
    }
    const src = join(REPO, key);
    const installed = join(src, "package.json");
    if (!existsSync(installed)) {
      if (entry.optional || entry.devOptional) continue;
      fail(`${key} is not installed: run \`npm ci\` first`);
    }
    const version = JSON.parse(readFileSync(installed, "utf8")).version;
    if (version !== entry.version) {
      fail(`${key} is ${version} but package-lock.json says ${entry.version}: run \`npm ci\` first`);
    }
    // Each package without its own nested node_modules (those are lock entries of their own).
    const nested = join(src, "node_modules");
    cpSync(src, join(dest, key), {
      recursive: true,
      filter: (p) => p !== nested && !p.startsWith(`${nested}/`) && !JUNK.test(basename(p)),
    });
    count++;
  }
  // Nothing the daemon loads needs the command shims.
  rmSync(join(dest, "node_modules", ".bin"), { recursive: true, force: true });
  return count;
}

function elfMachine(file) {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(20);
    readSync(fd, head, 0, 20, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46) return undefined;
    return head.readUInt16LE(18); // e_machine (little-endian targets only: both of ours are)
  } finally {
    closeSync(fd);
  }
}

/**
 * Keeps the prebuilds of one architecture: removes every `prebuilds/<platform>-<arch>` folder
 * of other platforms or architectures, then checks what the daemon needs is there and that
 * every native binary left in node_modules is of the target architecture.
 */
function selectPrebuilds(nodeModules, debArch) {
  const { node: arch, elfMachine: machine, elfName } = ARCHES[debArch];
  // glibc builds only: Debian and Raspberry Pi OS are glibc systems, a musl binary cannot load.
  const keep = new RegExp(`(^|-)linux-${arch}$`);
  walk(nodeModules, (p, st) => {
    if (st.isDirectory() && p.endsWith("/prebuilds")) {
      for (const name of readdirSync(p)) {
        if (!keep.test(name)) rmSync(join(p, name), { recursive: true, force: true });
        else {
          for (const f of readdirSync(join(p, name))) {
            if (/musl/.test(f)) rmSync(join(p, name, f), { force: true });
          }
        }
      }
    }
  });
  for (const need of REQUIRED_PREBUILDS) {
    const dir = join(nodeModules, need.pkg, need.dir(arch));
    const files = existsSync(dir) ? readdirSync(dir).filter((n) => need.file.test(n)) : [];
    if (files.length === 0) {
      fail(
        `${need.pkg} ships no prebuilt binary for linux-${arch} (looked for ${need.file} in ` +
          `node_modules/${need.pkg}/${need.dir(arch)}): cannot build the ${debArch} package`,
      );
    }
  }
  walk(nodeModules, (p, st) => {
    if (!st.isFile() || !p.endsWith(".node")) return;
    const m = elfMachine(p);
    if (m !== machine) {
      fail(
        `${relative(nodeModules, p)} is not an ${elfName} ELF binary (e_machine ${m}): wrong architecture`,
      );
    }
  });
}

/** dirs 0755; files 0755 when executable by their owner, else 0644 (the repo's modes vary). */
function normalizeModes(root) {
  chmodSync(root, 0o755);
  walk(root, (p, st) => {
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) chmodSync(p, 0o755);
    else chmodSync(p, st.mode & 0o100 ? 0o755 : 0o644);
  });
}

function installedSizeKiB(root) {
  let kib = 0;
  walk(root, (p, st) => {
    if (!p.startsWith(join(root, "DEBIAN"))) kib += Math.max(1, Math.ceil(st.size / 1024));
  });
  return kib;
}

function maintainer() {
  return process.env["DEBFULLNAME"] && process.env["DEBEMAIL"]
    ? `${process.env["DEBFULLNAME"]} <${process.env["DEBEMAIL"]}>`
    : "Cuffia developers <cuffia@localhost>";
}

/** A native package's changelog: one entry for this version (the history is the git log). */
function changelog(version) {
  const date = new Date().toUTCString().replace(/GMT$/, "+0000");
  return gzipSync(
    `cuffia (${version}) stable; urgency=medium\n\n  * Release ${version}: see the project's git history.\n\n -- ${maintainer()}  ${date}\n`,
    { level: 9 },
  );
}

function controlFile(pkg, version, arch, installedSize) {
  return [
    "Package: cuffia",
    `Version: ${version}`,
    `Architecture: ${arch}`,
    `Maintainer: ${maintainer()}`,
    `Installed-Size: ${installedSize}`,
    // nodejs >= 20: Debian 12 and Raspberry Pi OS (Bookworm) carry 18, so there NodeSource's
    // `nodejs` package (20 or later) is needed; Debian 13 has 20. libc6 ... libusb-1.0-0: what
    // the native prebuilds link (node-hid's hidraw build: libudev and libusb; GLIBC_2.28 at
    // most); udev: serialport lists ports with udevadm, and the rules; alsa-utils: arecord/aplay;
    // adduser: the postinst; procps: /bin/kill for `systemctl reload`.
    "Depends: nodejs (>= 20), libc6 (>= 2.28), libstdc++6, libgcc-s1, libudev1, libusb-1.0-0, udev, alsa-utils, adduser, procps",
    // The daemon runs without systemd (no sd_notify then), and the maintainer scripts cope.
    "Recommends: systemd",
    "Section: comm",
    "Priority: optional",
    `Description: call-centre agent phone on a Raspberry Pi and a USB headset`,
    ...wrap(pkg.description).map((l) => ` ${l}`),
    " .",
    " Needs Node.js 20 or later: on Debian 12 / Raspberry Pi OS Bookworm, install",
    " NodeSource's nodejs package first.",
    "",
  ].join("\n");
}

function wrap(text, width = 78) {
  const lines = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function copyrightFile(pkg) {
  return [
    "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
    "Upstream-Name: cuffia",
    "",
    "Files: *",
    "Copyright: the Cuffia developers",
    `License: ${pkg.license}`,
    " The GNU Affero General Public License, version 3 or later:",
    " https://www.gnu.org/licenses/agpl-3.0.html",
    "",
    "Files: usr/lib/cuffia/node_modules/*",
    "Copyright: their respective authors (see each package's package.json and LICENSE)",
    "License: various free licenses, as stated in each package",
    "",
  ].join("\n");
}

function stage(root, { pkg, dist, modules, arch }) {
  const lib = join(root, "usr", "lib", "cuffia");
  mkdirSync(lib, { recursive: true });
  cpSync(join(REPO, "package.json"), join(lib, "package.json"));
  cpSync(dist, join(lib, "dist"), { recursive: true, filter: (p) => !p.endsWith(".map") });
  cpSync(join(REPO, "device"), join(lib, "device"), { recursive: true });
  cpSync(join(REPO, "udev"), join(lib, "udev"), { recursive: true });
  mkdirSync(join(lib, "config"));
  cpSync(join(REPO, "config", "example.yaml"), join(lib, "config", "example.yaml"));
  cpSync(modules, join(lib, "node_modules"), { recursive: true, verbatimSymlinks: true });
  selectPrebuilds(join(lib, "node_modules"), arch);
  chmodSync(join(lib, "dist", "cli.js"), 0o755);

  mkdirSync(join(root, "usr", "bin"), { recursive: true });
  symlinkSync("../lib/cuffia/dist/cli.js", join(root, "usr", "bin", "cuffia"));

  mkdirSync(join(root, "lib", "systemd", "system"), { recursive: true });
  cpSync(
    join(REPO, "config", "systemd", "cuffia.service"),
    join(root, "lib", "systemd", "system", "cuffia.service"),
  );

  const rules = readdirSync(join(REPO, "udev")).filter((n) => n.endsWith(".rules"));
  if (rules.length === 0) process.stderr.write("build-deb: warning: udev/ has no *.rules: none packaged\n");
  mkdirSync(join(root, "lib", "udev", "rules.d"), { recursive: true });
  for (const r of rules) cpSync(join(REPO, "udev", r), join(root, "lib", "udev", "rules.d", r));

  mkdirSync(join(root, "etc", "cuffia"), { recursive: true });
  cpSync(join(REPO, "config", "example.yaml"), join(root, "etc", "cuffia", "config.yaml"));

  const doc = join(root, "usr", "share", "doc", "cuffia");
  mkdirSync(doc, { recursive: true });
  cpSync(join(REPO, "README.md"), join(doc, "README.md"));
  writeFileSync(join(doc, "copyright"), copyrightFile(pkg));
  writeFileSync(join(doc, "changelog.gz"), changelog(debianVersion(pkg.version)));

  normalizeModes(root);

  const debian = join(root, "DEBIAN");
  mkdirSync(debian);
  writeFileSync(join(debian, "conffiles"), "/etc/cuffia/config.yaml\n");
  for (const script of ["postinst", "prerm", "postrm"]) {
    cpSync(join(HERE, script), join(debian, script));
    chmodSync(join(debian, script), 0o755);
  }
  writeFileSync(
    join(debian, "control"),
    controlFile(pkg, debianVersion(pkg.version), arch, installedSizeKiB(root)),
  );
  chmodSync(join(debian, "control"), 0o644);
  chmodSync(join(debian, "conffiles"), 0o644);
}

function main(argv) {
  const { arches, out } = parseCommandLine(argv);
  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
  const version = debianVersion(pkg.version);
  const work = mkdtempSync(join(tmpdir(), "cuffia-deb-"));
  try {
    const dist = join(work, "dist");
    process.stderr.write(`build-deb: tsc (into ${dist})\n`);
    run(join(REPO, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json", "--outDir", dist], { cwd: REPO });
    if (!existsSync(join(dist, "main.js"))) fail("tsc produced no main.js");

    const modules = join(work, "modules");
    const count = copyProductionModules(modules);
    process.stderr.write(`build-deb: ${count} production packages from package-lock.json\n`);

    mkdirSync(out, { recursive: true });
    const built = [];
    for (const arch of arches) {
      const root = join(work, `root-${arch}`);
      stage(root, { pkg, dist, modules: join(modules, "node_modules"), arch });
      const deb = join(out, `cuffia_${version}_${arch}.deb`);
      run("dpkg-deb", ["--build", "--root-owner-group", root, deb], {
        stdio: ["ignore", "ignore", "inherit"],
      });
      built.push(deb);
      process.stdout.write(`${deb}\n`);
    }
    return built;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  main(process.argv.slice(2));
} catch (e) {
  if (
    e instanceof BuildError ||
    (e instanceof Error && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS"))
  ) {
    process.stderr.write(`build-deb: ${e.message}\n`);
    process.exit(1);
  }
  throw e;
}
