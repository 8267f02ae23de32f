/**
 * `cuffia doctor`'s pure parts: what each observed outcome means and its fix, the output
 * formats and the exit code; the headset and LCD probes on fakes; the command on configs that
 * need no peer. The real peers are in test/integration/doctor.test.ts.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { doctorCommand } from "../../src/cli/doctor.js";
import {
  audioDeviceKnown,
  audioFinding,
  clockFinding,
  configWarningFinding,
  diskFinding,
  headsetFinding,
  lcdFinding,
  mqttFinding,
  netProblem,
  parsePcmList,
  refusalKind,
  sipFinding,
  tlsKeys,
} from "../../src/cli/doctor-classify.js";
import { probeHeadset, probeLcd } from "../../src/cli/doctor-probes.js";
import { exitCode, finding, formatJson, formatText } from "../../src/cli/doctor-report.js";
import { HeadsetError } from "../../src/headset/hid-device.js";
import type { ListedHeadset } from "../../src/headset/list-headsets.js";
import type { LcdPort } from "../../src/lcd/port.js";
import { CfaReader } from "../../src/lcd/protocols/cfa-reader.js";
import { cfaPacket } from "../../src/lcd/protocols/crystalfontz.js";

const account = { aor: "sip:1017@pbx.example.org", username: "1017", server: "wss://pbx.example.org/ws" };
const udev = { rulesFile: "/etc/udev/rules.d/70-cuffia-headsets.rules", group: "plugdev" };

describe("connection errors", () => {
  it.each([
    ["connect ECONNREFUSED 127.0.0.1:5060", "refused"],
    ["getaddrinfo ENOTFOUND pbx.example.org", "dns"],
    ["getaddrinfo EAI_AGAIN pbx.example.org", "dns"],
    ["connect EHOSTUNREACH 10.0.0.9:8089", "no_route"],
    ["connect timed out after 5000 ms", "timeout"],
    ["self-signed certificate in certificate chain", "certificate"],
    ["certificate has expired", "certificate"],
    [
      "Hostname/IP does not match certificate's altnames: IP: 10.0.0.9 is not in the cert's list",
      "certificate",
    ],
    ["unable to get local issuer certificate", "certificate"],
    ["Unexpected server response: 404", "not_sip_ws"],
    ["something else", "other"],
  ] as const)("%s → %s", (message, kind) => {
    expect(netProblem(message)).toBe(kind);
  });
});

describe("SIP outcomes", () => {
  it.each(["401 Unauthorized", "403 Forbidden", "407 Proxy Authentication Required"])(
    "%s: check the username and the password file",
    (reason) => {
      const f = sipFinding({ kind: "refused", reason }, account);
      expect(f).toMatchObject({ check: "sip", status: "fail" });
      expect(f.detail).toBe(`the registrar refused sip:1017@pbx.example.org: ${reason}`);
      expect(f.fix).toMatch(/^check sip\.username \("1017"\) and the password in sip\.password_file/);
    },
  );

  it("404: the PBX does not know the extension", () => {
    expect(sipFinding({ kind: "refused", reason: "404 Not Found" }, account).fix).toMatch(/check sip\.aor/);
  });

  it("another final answer names it and the PBX's log", () => {
    const f = sipFinding({ kind: "refused", reason: "503 Service Unavailable" }, account);
    expect(f.fix).toMatch(/503 Service Unavailable: look at the PBX's log/);
  });

  it("unreachable: refused, DNS and certificate each get their own fix", () => {
    const fix = (error: string) => sipFinding({ kind: "unreachable", error }, account).fix;
    expect(fix("no SIP server reachable (ws://127.0.0.1:1/: connect ECONNREFUSED 127.0.0.1:1)")).toMatch(
      /check sip\.server \(host and port\), that the PBX is running, and the firewall/,
    );
    expect(fix("no SIP server reachable (wss://pbx/: getaddrinfo ENOTFOUND pbx)")).toMatch(/DNS/);
    expect(fix("no SIP server reachable (wss://pbx/: certificate has expired)")).toMatch(
      /set sip\.ca_file .* check the clock/,
    );
  });

  it("a timeout says whether a connection was made", () => {
    expect(sipFinding({ kind: "timeout", seconds: 6.5, connected: true }, account).detail).toMatch(
      /connected to wss:\/\/pbx\.example\.org\/ws but no answer to REGISTER within 6\.5 s/,
    );
    expect(sipFinding({ kind: "timeout", seconds: 6.5, connected: false }, account).detail).toMatch(
      /no connection to/,
    );
  });

  it("registered is ok with no fix", () => {
    expect(sipFinding({ kind: "registered", server: "ws://127.0.0.1:5066/" }, account)).toMatchObject({
      status: "ok",
      fix: null,
    });
  });
});

describe("MQTT outcomes", () => {
  it.each([
    [4, "credentials"],
    [0x86, "credentials"],
    [5, "not_authorized"],
    [0x87, "not_authorized"],
    [2, "client_id"],
    [0x85, "client_id"],
    [1, "protocol"],
    [0x84, "protocol"],
    [3, "unavailable"],
    [0x89, "unavailable"],
    [0x99, "other"],
  ] as const)("CONNACK code %i is %s", (code, kind) => {
    expect(refusalKind(code)).toBe(kind);
  });

  it("a refused password points at the username and the password file", () => {
    const f = mqttFinding(
      { kind: "refused", code: 0x87, reason: "Not authorized (code 135)" },
      { url: "mqtts://broker:8883", username: "desk-17" },
    );
    expect(f.detail).toBe("the broker refused the connection: Not authorized (code 135)");
    expect(f.fix).toMatch(/^check mqtt\.username \("desk-17"\) and the password in mqtt\.password_file/);
  });

  it("an unsupported protocol version suggests 3.1.1", () => {
    const f = mqttFinding({ kind: "refused", code: 0x84, reason: "x" }, { url: "mqtt://b", username: null });
    expect(f.fix).toMatch(/protocol_version: "3\.1\.1"/);
  });

  it("no CONNACK on an open connection: not an MQTT port", () => {
    const f = mqttFinding(
      { kind: "unreachable", error: "connack timeout" },
      { url: "mqtt://127.0.0.1:8883", username: null },
    );
    expect(f.detail).toBe("mqtt://127.0.0.1:8883 accepted the connection but sent no CONNACK");
    expect(f.fix).toMatch(/mqtts:\/\/ for a TLS port/);
  });

  it("unreachable: check mqtt.url, the firewall, the broker running", () => {
    const f = mqttFinding(
      { kind: "unreachable", error: "connect ECONNREFUSED 127.0.0.1:1883" },
      { url: "mqtt://127.0.0.1:1883", username: null },
    );
    expect(f).toMatchObject({
      status: "fail",
      detail: "cannot reach the broker: connect ECONNREFUSED 127.0.0.1:1883",
    });
    expect(f.fix).toMatch(/check mqtt\.url \(host and port\), that the broker is running, and the firewall/);
  });
});

const jabra = {
  path: "/dev/hidraw3",
  model: "Jabra EVOLVE 30 (0b0e:0307)",
  error: null,
  buttons: ["hookSwitch", "phoneMute"],
  leds: ["offHook", "mute", "ring"],
  card: "plughw:1,0 (Headset)",
};

describe("headset outcomes", () => {
  it("missing with nothing plugged in: plug it in, cuffia devices", () => {
    const f = headsetFinding({ kind: "missing", seen: [] }, null, udev);
    expect(f).toMatchObject({ status: "fail", detail: "no telephony headset is plugged in" });
    expect(f.fix).toBe("plug it in; `cuffia devices` lists what is seen");
  });

  it("missing the configured one lists what is there", () => {
    const f = headsetFinding({ kind: "missing", seen: [jabra] }, "047f:c056", udev);
    expect(f.detail).toBe("no headset matches 047f:c056 (seen: Jabra EVOLVE 30 (0b0e:0307) at /dev/hidraw3)");
  });

  it("permission denied names the udev rule and the group", () => {
    const f = headsetFinding({ kind: "denied", headset: jabra }, null, udev);
    expect(f.detail).toMatch(/permission denied/);
    expect(f.fix).toContain("/etc/udev/rules.d/70-cuffia-headsets.rules");
    expect(f.fix).toContain("udevadm control --reload");
    expect(f.fix).toContain("sudo usermod -aG plugdev cuffia");
    expect(f.fix).toMatch(/replug/);
  });

  it("no libusb: install it", () => {
    const f = headsetFinding({ kind: "hid_unavailable", error: "node-hid could not be loaded" }, null, udev);
    expect(f.fix).toMatch(/apt install libusb-1\.0-0/);
  });

  it("found: model, buttons, LEDs and sound card", () => {
    expect(headsetFinding({ kind: "found", headset: jabra }, null, udev).detail).toBe(
      "Jabra EVOLVE 30 (0b0e:0307) at /dev/hidraw3; buttons: hookSwitch, phoneMute; LEDs: offHook, mute, ring; sound card plughw:1,0 (Headset)",
    );
  });
});

function listed(over: Partial<ListedHeadset> & { error?: string } = {}): ListedHeadset {
  const base = {
    path: "/dev/hidraw3",
    vendorId: 0x0b0e,
    productId: 0x0307,
    product: "Jabra EVOLVE 30",
    manufacturer: "GN",
    serial: null,
    alsaCard: { card: 1, id: "Headset", name: "Jabra" },
  };
  if (over.error !== undefined) return { ...base, ...over, error: over.error } as ListedHeadset;
  return {
    ...base,
    capabilities: {
      telephony: true,
      collection: "0x0b:0x05",
      inputs: { hookSwitch: { reportId: 2, bit: 0, size: 1, relative: false, usage: "0x0b:0x20" } },
      outputs: { offHook: { reportId: 2, bit: 0, size: 1, usage: "0x08:0x17" } },
      outputReports: [{ reportId: 2, bytes: 1 }],
      outputLayout: "shared",
    },
    ...over,
  } as ListedHeadset;
}

const errno = (code: string) => Object.assign(new Error(code), { code });

describe("headset probe", () => {
  it("finds the configured vendor/product and reads its capabilities", async () => {
    const o = await probeHeadset(
      { vendor_id: 0x0b0e, product_id: 0x0307 },
      async () => [listed()],
      async () => undefined,
    );
    expect(o).toMatchObject({
      kind: "found",
      headset: { buttons: ["hookSwitch"], leds: ["offHook"], card: "plughw:1,0 (Headset)" },
    });
  });

  it("EACCES on the node is 'denied'", async () => {
    const o = await probeHeadset(
      "auto",
      async () => [listed()],
      async () => Promise.reject(errno("EACCES")),
    );
    expect(o.kind).toBe("denied");
  });

  it("another vendor's headset does not match", async () => {
    const o = await probeHeadset({ vendor_id: 0x047f, product_id: 1 }, async () => [listed()]);
    expect(o).toMatchObject({ kind: "missing", seen: [{ path: "/dev/hidraw3" }] });
  });

  it("a matching device without telephony collection is unusable", async () => {
    const o = await probeHeadset("auto", async () => [listed({ error: "no telephony collection" })]);
    expect(o).toMatchObject({ kind: "unusable", headset: { error: "no telephony collection" } });
  });

  it("node-hid unavailable (no libusb) is reported, not thrown", async () => {
    const o = await probeHeadset("auto", async () => {
      throw new HeadsetError("hid_unavailable", "node-hid could not be loaded (libusb-1.0.so.0)");
    });
    expect(o.kind).toBe("hid_unavailable");
  });
});

describe("LCD", () => {
  let dir: string;
  let node: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cuffia-doctor-lcd-"));
    node = join(dir, "ttyFAKE");
    await writeFile(node, "");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A port whose far end answers (or not) Crystalfontz packets. */
  function fakePort(answer: boolean): { port: LcdPort; closed: () => boolean } {
    let listener: ((b: Buffer) => void) | null = null;
    let closed = false;
    const reader = new CfaReader();
    return {
      closed: () => closed,
      port: {
        write: async (bytes) => {
          for (const p of reader.push(bytes))
            if (answer) setTimeout(() => listener?.(cfaPacket(0x40 | p.type, [...p.data])), 5);
        },
        onData: (l) => {
          listener = l;
        },
        onClose: () => undefined,
        close: async () => {
          closed = true;
        },
      },
    };
  }
  const lcd = (over: Partial<{ port: string; driver: string }> = {}) =>
    ({ port: node, driver: "crystalfontz", baud: 19200, ...over }) as Parameters<typeof probeLcd>[0];

  it("a Crystalfontz that echoes the ping answers, and the port is closed again", async () => {
    const f = fakePort(true);
    expect(await probeLcd(lcd(), 1000, async () => f.port)).toEqual({ kind: "answered" });
    expect(f.closed()).toBe(true);
  });

  it("a silent Crystalfontz is 'no answer' with the baud rate to check", async () => {
    const f = fakePort(false);
    const o = await probeLcd(lcd(), 200, async () => f.port);
    expect(o).toEqual({ kind: "no_answer", ms: 200 });
    expect(lcdFinding(o, { port: node, driver: "crystalfontz", baud: 19200 }).fix).toMatch(
      /lcd\.baud \(19200\)/,
    );
    expect(f.closed()).toBe(true);
  });

  it("a missing port, a locked port", async () => {
    expect(await probeLcd(lcd({ port: join(dir, "nope") }), 200)).toEqual({ kind: "missing" });
    const busy = await probeLcd(lcd({ driver: "matrix-orbital" }), 200, async () => {
      throw new Error("Error Resource temporarily unavailable Cannot lock port");
    });
    expect(busy.kind).toBe("busy");
    expect(lcdFinding(busy, { port: node, driver: "matrix-orbital", baud: 9600 }).fix).toMatch(
      /ModemManager/,
    );
  });

  it("permission denied names the dialout group", () => {
    expect(
      lcdFinding({ kind: "denied" }, { port: "/dev/lcd", driver: "crystalfontz", baud: 9600 }).fix,
    ).toMatch(/sudo usermod -aG dialout cuffia/);
  });
});

describe("clock, disk, audio, config warnings", () => {
  it("an unsynchronised clock fails only when TLS is in use", () => {
    expect(clockFinding(false, ["sip.server"])).toMatchObject({ status: "fail" });
    expect(clockFinding(false, ["sip.server"]).fix).toMatch(
      /systemd-timesyncd .*TLS certificates are refused/,
    );
    expect(clockFinding(false, []).status).toBe("warn");
    expect(clockFinding(true, ["mqtt.url"]).status).toBe("ok");
    expect(clockFinding(null, ["mqtt.url"]).status).toBe("warn");
    expect(clockFinding(null, []).status).toBe("skip");
  });

  it("TLS keys come from wss/tls SIP servers (fallbacks too) and mqtts/wss brokers", () => {
    expect(
      tlsKeys({
        sip: { server: "ws://a", fallback_servers: ["tls://b:5061"] },
        mqtt: { url: "mqtts://m:8883" },
      }),
    ).toEqual(["sip.server", "mqtt.url"]);
    expect(
      tlsKeys({ sip: { server: "tcp://a:5060", fallback_servers: [] }, mqtt: { url: "mqtt://m" } }),
    ).toEqual([]);
  });

  it("disk: room for the outbox and a margin, else a warning; nearly full fails", () => {
    const MB = 1024 * 1024;
    expect(diskFinding("/var/lib/cuffia", "/var/lib/cuffia", 500 * MB, 50 * MB).status).toBe("ok");
    const low = diskFinding("/var/lib/cuffia", "/var/lib/cuffia", 100 * MB, 50 * MB);
    expect(low.status).toBe("warn");
    expect(low.detail).toMatch(/100 MB free .* the outbox may take 50 MB plus 64 MB margin/);
    expect(low.fix).toMatch(/mqtt\.outbox_max_mb/);
    expect(diskFinding("/var/lib/cuffia", "/var/lib/cuffia", 0.5 * MB, null).status).toBe("fail");
  });

  it("ALSA device names: card numbers, card ids, the PCM list", () => {
    const alsa = {
      cards: [{ card: 1, id: "Headset", name: "Jabra" }],
      pcms: parsePcmList(
        "null\n    Discard all samples\ndefault\n    Default ALSA Output\nsysdefault:CARD=Headset\n",
      ),
    };
    expect(alsa.pcms).toEqual(["null", "default", "sysdefault:CARD=Headset"]);
    expect(audioDeviceKnown("plughw:1,0", alsa)).toBe(true);
    expect(audioDeviceKnown("hw:2,0", alsa)).toBe(false);
    expect(audioDeviceKnown("plughw:CARD=Headset,DEV=0", alsa)).toBe(true);
    expect(audioDeviceKnown("sysdefault:CARD=Headset", alsa)).toBe(true);
    expect(audioDeviceKnown("default", alsa)).toBe(true);
    expect(audioDeviceKnown("default", { cards: [], pcms: ["null"] })).toBe(false);
  });

  it('audio "headset" without the headset\'s card fails with a fix', () => {
    const f = audioFinding("microphone", "headset", { cards: [], pcms: null }, null);
    expect(f).toMatchObject({ check: "audio microphone", status: "fail" });
    expect(f.fix).toMatch(/audio\.source\.device/);
    expect(audioFinding("speaker", "headset", { cards: [], pcms: null }, "plughw:1,0 (Headset)").status).toBe(
      "ok",
    );
  });

  it("an inline password warning gets the password_file recipe", () => {
    const f = configWarningFinding(
      'c.yaml:5 sip.password is written in the config file: prefer sip.password_file (mode 0600) or "${ENV_NAME}"',
    );
    expect(f.status).toBe("warn");
    expect(f.fix).toMatch(/\/etc\/cuffia\/secrets\/sip\.password.*chmod 0600.*sip\.password_file/);
  });
});

describe("output", () => {
  const report = {
    config: "/etc/cuffia/config.yaml",
    agent: "desk-17",
    findings: [
      finding("config", "ok", "valid"),
      finding("config", "warn", "inline password", "use password_file"),
      finding("headset", "fail", "no telephony headset is plugged in", "plug it in"),
      finding("lcd", "skip", "not configured"),
      finding("sip", "ok", "registered", "never shown for ok"),
    ],
  };

  it("prints one line per check, the fix under problems and warnings, and a summary", () => {
    expect(formatText(report)).toBe(
      [
        "cuffia doctor: /etc/cuffia/config.yaml (agent desk-17)",
        "✔ config: valid",
        "! config: inline password",
        "  fix: use password_file",
        "✘ headset: no telephony headset is plugged in",
        "  fix: plug it in",
        "- lcd: not configured",
        "✔ sip: registered",
        "1 problem(s), 1 warning(s)",
        "",
      ].join("\n"),
    );
  });

  it("exit code: 1 when something failed; warnings alone do not fail", () => {
    expect(exitCode(report.findings)).toBe(1);
    expect(exitCode(report.findings.filter((f) => f.status !== "fail"))).toBe(0);
  });

  it("JSON: every check with ok, status, detail and fix", () => {
    const j = JSON.parse(formatJson(report)) as { ok: boolean; checks: Array<Record<string, unknown>> };
    expect(j.ok).toBe(false);
    expect(j.checks[2]).toEqual({
      check: "headset",
      ok: false,
      status: "fail",
      detail: "no telephony headset is plugged in",
      fix: "plug it in",
    });
    expect(j.checks[1]).toMatchObject({ ok: true, status: "warn" });
  });
});

describe("doctorCommand", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cuffia-doctor-cmd-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const synced = async (file: string) => (file === "timedatectl" ? "yes\n" : "");

  it("an invalid config: its problems, exit 78", async () => {
    const file = join(dir, "bad.yaml");
    await writeFile(file, "sip:\n  server: udp://pbx\n");
    const r = await doctorCommand(["-c", file], { run: synced });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/bad\.yaml:2:\d+ sip\.server: must be a ws:\/\//);
    expect(r.stderr).toMatch(/problem\(s\) in .*bad\.yaml/);
  });

  it("a config from $CUFFIA_CONFIG with only warnings: exit 0", async () => {
    const file = join(dir, "warn.yaml");
    await writeFile(
      file,
      `agent: { id: desk-w }\nmqtt: { url: embedded, username: u, password: inline }\nstate_dir: ${dir}\n`,
    );
    const r = await doctorCommand([], { run: synced, env: { CUFFIA_CONFIG: file } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("! config: ");
    expect(r.stdout).toContain("✔ mqtt: embedded broker");
    expect(r.stdout).toContain("✔ clock: synchronised (NTP)");
    expect(r.stdout).toMatch(/✔ disk: \d+ MB free for state_dir/);
    expect(r.stdout).toMatch(/^0 problem\(s\), 1 warning\(s\)$/m);
  });

  it("usage errors exit 64", async () => {
    expect((await doctorCommand(["--timeout", "zero"])).code).toBe(64);
    expect((await doctorCommand(["--bogus"])).code).toBe(64);
  });
});
