import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, formatProblem, loadConfig, parseConfig } from "../../src/config/load.js";
import { jsonSchema } from "../../src/config/schema.js";

const problemsOf = (
  text: string,
  env: NodeJS.ProcessEnv = {},
  readSecret?: (p: string) => string,
): string[] => {
  try {
    parseConfig(text, "c.yaml", { env, ...(readSecret ? { readSecret } : {}) });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map(formatProblem);
    throw e;
  }
  return [];
};

describe("config", () => {
  it("an empty file is all defaults", () => {
    const { config } = parseConfig("", "c.yaml", { env: {} });
    expect(config.policy).toEqual({
      wrap_up_seconds: 30,
      pause_reasons: ["break", "training", "back_office"],
      auto_pause_after_missed: 2,
      ring_timeout_seconds: 20,
      not_responding_seconds: 5,
    });
    expect(config.control.socket).toBe("/run/cuffia/control.sock");
    expect(config.agent.language).toBe("it");
    expect(config.agent.id).toMatch(/^[A-Za-z0-9_.-]+$/);
    expect(config.sip).toBeUndefined();
    expect(config.audio.source).toEqual({ type: "microphone", device: "default" });
    expect(Object.isFrozen(config.policy.pause_reasons)).toBe(true);
  });

  it("reports four wrong keys at once, each with line, column and key path", () => {
    const text = [
      "agent:",
      "  id: desk-17",
      "  languag: it", // 3: unknown, suggestion
      "sip:",
      "  server: udp://pbx:5060", // 5: bad scheme
      "  aor: sip:1017@pbx",
      "  password_file: /etc/cuffia/sip.password",
      "policy:",
      "  wrap_up_seconds: -3", // 9: too small
      "log:",
      "  level: chatty", // 11: enum
    ].join("\n");
    const ps = problemsOf(text, {}, () => "secret\n");
    expect(ps).toEqual([
      'c.yaml:3:3 agent.languag: unknown key (did you mean "language"?)',
      "c.yaml:5:11 sip.server: must be a ws://, wss://, tcp://host:port or tls://host:port URI (UDP is not offered: sip.js has no retransmission timers, use TCP or TLS)",
      "c.yaml:9:20 policy.wrap_up_seconds: must be at least 0",
      'c.yaml:11:10 log.level: must be one of "trace", "debug", "info", "warn", "error", "fatal", "silent"',
    ]);
  });

  it("reads secrets from files and the environment; missing ones are errors with positions", () => {
    const text =
      "sip:\n  server: wss://pbx:8089/ws\n  aor: sip:1017@pbx\n  password_file: ${CREDS}/sip\nmqtt:\n  url: mqtt://b\n  password: ${MQTT_PW}\n";
    const { config, warnings } = parseConfig(text, "c.yaml", {
      env: { CREDS: "/run/creds", MQTT_PW: "m-secret" },
      readSecret: (p) => (p === "/run/creds/sip" ? "s-secret\n" : ""),
    });
    expect(config.sip?.password).toBe("s-secret");
    expect(config.sip?.username).toBe("1017");
    expect(config.mqtt?.password).toBe("m-secret");
    expect(warnings).toEqual([]);
    expect(
      problemsOf(text, { CREDS: "/x" }, () => {
        throw Object.assign(new Error("no"), { code: "ENOENT" });
      }),
    ).toEqual([
      "c.yaml:4:18 sip.password_file: cannot read /x/sip (ENOENT)",
      "c.yaml:7:13 mqtt.password: environment variable MQTT_PW is not set",
    ]);
  });

  it("warns about an inline password", () => {
    const { warnings } = parseConfig(
      "sip:\n  server: tcp://pbx:5060\n  aor: sip:1@pbx\n  password: hunter2\n",
      "c.yaml",
      { env: {} },
    );
    expect(warnings[0]).toMatch(/^c\.yaml:4 sip\.password is written in the config file/);
  });

  it("sip.accept_refer follows the far end's transfers unless set false", () => {
    const sip = "sip:\n  server: tcp://pbx:5060\n  aor: sip:1@pbx\n  password_file: /p\n";
    const read = { env: {}, readSecret: () => "pw" };
    expect(parseConfig(sip, "c.yaml", read).config.sip?.accept_refer).toBe(true);
    expect(parseConfig(`${sip}  accept_refer: false\n`, "c.yaml", read).config.sip?.accept_refer).toBe(false);
    expect(problemsOf(`${sip}  accept_refer: sometimes\n`, {}, () => "pw")[0]).toMatch(/sip\.accept_refer/);
  });

  it("rejects missing required keys, bad unions and YAML syntax", () => {
    expect(problemsOf("sip:\n  server: tcp://pbx:5060\n")).toEqual([
      "c.yaml:2:3 sip.aor: is required",
      "c.yaml:2:3 sip.password_file: is required (or sip.password)",
    ]);
    expect(problemsOf("audio:\n  source: { type: mic }\n")[0]).toBe(
      'c.yaml:2:19 audio.source.type: "type" must be one of "microphone", "file", "none"',
    );
    expect(problemsOf("agent: [1, 2\n")).toEqual([
      expect.stringMatching(/^c\.yaml:\d+:\d+ \(top level\): YAML syntax: /),
    ]);
    // One syntax error, not a cascade of echoes of it.
    expect(problemsOf("a: { b: c/{x}.wav }\nd: { e: f }\ng: { h: i }\n")).toHaveLength(1);
    expect(problemsOf("- a\n- b\n")).toEqual([
      "c.yaml:1:1 (top level): the file must be a YAML mapping of sections (agent:, sip:, ...)",
    ]);
    expect(problemsOf("agent:\n  id: desk/17\n")[0]).toContain("agent.id: must be 1-64 letters");
  });

  it("cross-checks sections", () => {
    expect(problemsOf("headset:\n  idle_hook_off: { dial: nowhere }\n")).toEqual(
      [
        'c.yaml:2:26 headset.idle_hook_off.dial: "nowhere" is neither a sip.transfer_targets name nor a SIP URI or number',
        "c.yaml:2:18 headset.idle_hook_off: dialling needs a sip section",
      ].sort(),
    );
  });

  it("reports an unreadable file", () => {
    expect(() => loadConfig("/nonexistent/cuffia.yaml")).toThrow(/cannot read the file \(ENOENT\)/);
  });

  it("loads a file from disk", () => {
    const dir = mkdtempSync(join(tmpdir(), "cuffia-config-"));
    writeFileSync(join(dir, "c.yaml"), "agent: { id: desk-1, name: Sportello 1, language: fr }\n");
    expect(loadConfig(join(dir, "c.yaml")).config.agent).toEqual({
      id: "desk-1",
      name: "Sportello 1",
      language: "fr",
    });
  });

  it("exports a JSON Schema with every section", () => {
    const s = jsonSchema() as { properties: Record<string, unknown> };
    expect(Object.keys(s.properties)).toEqual(
      expect.arrayContaining([
        "agent",
        "sip",
        "audio",
        "headset",
        "lcd",
        "mqtt",
        "policy",
        "control",
        "log",
        "state_dir",
        "rtp",
      ]),
    );
  });
});
