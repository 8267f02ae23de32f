/**
 * The config against this box (issue 11): files the config names must exist and open, the RTP
 * address must be one of the box's, and `tls_verify: false` is warned about.
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { HostAccess } from "../../src/config/host-checks.js";
import { ConfigError, formatProblem, parseConfig } from "../../src/config/load.js";

const problemsOf = (text: string, host?: HostAccess): string[] => {
  try {
    parseConfig(text, "c.yaml", { env: { P: "pw" }, ...(host ? { host } : {}) });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map(formatProblem);
    throw e;
  }
  return [];
};

const sip = (extra: string) =>
  `sip:\n  server: wss://pbx:8089/ws\n  aor: sip:1@pbx\n  password: \${P}\n${extra}`;

describe("files named in the config", () => {
  const dir = mkdtempSync(join(tmpdir(), "cuffia-files-"));
  const pem = join(dir, "ca.pem");
  writeFileSync(pem, "-----BEGIN CERTIFICATE-----\n");
  mkdirSync(join(dir, "calls"));

  // Regression: a missing sip.ca_file passed check, then SIP was dead at run time (sip_reason null).
  it("a missing sip.ca_file is an error with its key path and position", () => {
    expect(problemsOf(sip(`  ca_file: ${dir}/missing.pem\n`))).toEqual([
      `c.yaml:5:12 sip.ca_file: ${dir}/missing.pem (the CA certificate for wss:// and tls://) does not exist`,
    ]);
    expect(problemsOf(sip(`  ca_file: ${pem}\n`))).toEqual([]);
  });

  it("checks the MQTT CA, certificate and key, and the audio files", () => {
    const text = [
      "mqtt:",
      "  url: mqtts://broker:8883",
      `  ca_file: ${dir}/no-ca.pem`,
      `  cert_file: ${dir}`,
      `  key_file: ${pem}`,
      "audio:",
      `  source: { type: file, path: ${dir}/no-tone.wav }`,
      `  sink: { type: file, path: "${dir}/no-folder/heard-{call}.wav" }`,
      "",
    ].join("\n");
    expect(problemsOf(text)).toEqual([
      `c.yaml:3:12 mqtt.ca_file: ${dir}/no-ca.pem (the broker's CA certificate) does not exist`,
      `c.yaml:4:14 mqtt.cert_file: ${dir} (the client certificate) is a folder, not a file`,
      `c.yaml:7:31 audio.source.path: ${dir}/no-tone.wav (the WAV file callers hear) does not exist`,
      `c.yaml:8:29 audio.sink.path: ${dir}/no-folder (the folder of the WAV files) does not exist`,
    ]);
    const fine = `audio:\n  source: { type: file, path: ${pem} }\n  sink: { type: file, path: "${dir}/calls/{call}.wav" }\n`;
    expect(problemsOf(fine)).toEqual([]);
  });

  it("an unreadable file says so and how to check as the daemon's user", () => {
    const host: HostAccess = {
      check: (p) => {
        if (p.endsWith("key.pem")) throw Object.assign(new Error("denied"), { code: "EACCES" });
      },
      addresses: () => ["127.0.0.1"],
    };
    const text = "mqtt:\n  url: mqtts://b\n  cert_file: /etc/c.pem\n  key_file: /etc/key.pem\n";
    expect(problemsOf(text, host)).toEqual([
      "c.yaml:4:13 mqtt.key_file: /etc/key.pem (the client key) is not readable by this user (run check as the daemon's user: sudo -u cuffia cuffia check)",
    ]);
    if (process.getuid?.() !== 0) {
      // Not as root: root reads a file whatever its mode.
      const locked = join(dir, "locked.pem");
      writeFileSync(locked, "x");
      chmodSync(locked, 0o000);
      expect(problemsOf(sip(`  ca_file: ${locked}\n`))[0]).toContain("is not readable by this user");
    }
  });
});

describe("rtp.address", () => {
  it("must be 0.0.0.0, :: or an address of this box", () => {
    expect(problemsOf("rtp: { address: 0.0.0.0 }\n")).toEqual([]);
    expect(problemsOf("rtp: { address: 127.0.0.1 }\n")).toEqual([]);
    expect(problemsOf("rtp: { address: 203.0.113.9 }\n")).toEqual([
      expect.stringMatching(
        /^c\.yaml:1:17 rtp\.address: 203\.0\.113\.9 is not an address of this box \(it has .*127\.0\.0\.1.*\): use 0\.0\.0\.0/,
      ),
    ]);
  });
});

describe("tls_verify: false", () => {
  it("is a warning with its position, not an error", () => {
    const { warnings } = parseConfig(sip("  tls_verify: false\n"), "c.yaml", { env: { P: "x" } });
    expect(warnings).toEqual([
      expect.stringMatching(
        /^c\.yaml:5:15 sip\.tls_verify is false: the PBX's certificate is not verified.*sip\.ca_file/,
      ),
    ]);
    expect(parseConfig(sip("  tls_verify: true\n"), "c.yaml", { env: { P: "x" } }).warnings).toEqual([]);
  });
});

describe("rtp.encryption: required", () => {
  it("is warned about over signalling that cannot carry SDES keys, not over TLS", () => {
    const tcp =
      "sip:\n  server: tcp://pbx:5060\n  aor: sip:1@pbx\n  password: ${P}\nrtp: { encryption: required }\n";
    expect(parseConfig(tcp, "c.yaml", { env: { P: "x" } }).warnings).toEqual([
      expect.stringMatching(
        /^c\.yaml:5:\d+ rtp\.encryption is required but tcp:\/\/pbx:5060 is not tls:\/\/ or wss:\/\//,
      ),
    ]);
    const tls = tcp.replace("tcp://pbx:5060", "tls://pbx:5061");
    expect(parseConfig(tls, "c.yaml", { env: { P: "x" } }).warnings).toEqual([]);
  });
});

describe("relative paths", () => {
  it("are warned about: the daemon resolves them against its working directory, not the config's", () => {
    const { warnings } = parseConfig(
      "audio:\n  source: { type: file, path: package.json }\n  sink: { type: none }\n",
      "c.yaml",
      { env: {} },
    );
    expect(warnings).toEqual([
      expect.stringMatching(
        /^c\.yaml:2:31 audio\.source\.path is a relative path \(package\.json\): .*write it absolute/,
      ),
    ]);
  });
});
