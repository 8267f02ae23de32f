/**
 * `cuffia doctor` against the lab's real Kamailio and Mosquitto (the test): a box with a
 * missing headset, a wrong SIP password and an unreachable broker gets all three named with
 * their fixes; a good config gets SIP registered (and unregistered) and MQTT connected, without
 * leaving anything retained for the agent on the broker.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { doctorCommand } from "../../src/cli/doctor.js";
import { labKamailio } from "../lab/kamailio.js";
import { MOSQUITTO_PASSWORD, MOSQUITTO_USER } from "../lab/mosquitto.js";

const lab = inject("lab");
const kamailio = labKamailio(lab.kamailio);
let dir: string;

/** A loopback port nothing listens on: bound, read, released. */
async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Every retained message under a topic filter, collected for a moment after subscribing. */
async function retainedUnder(filter: string): Promise<string[]> {
  const client = await mqtt.connectAsync(lab.mosquitto.url, { reconnectPeriod: 0, clientId: "doctor-watch" });
  const topics: string[] = [];
  client.on("message", (topic, _payload, packet) => {
    if (packet.retain) topics.push(topic);
  });
  await client.subscribeAsync(filter, { qos: 1 });
  await new Promise((r) => setTimeout(r, 500));
  await client.endAsync();
  return topics;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cuffia-doctor-"));
  await writeFile(join(dir, "wrong.password"), "wrong\n");
  await writeFile(join(dir, "sip.password"), `${lab.kamailio.users["1017"] ?? "pw1017"}\n`);
  await writeFile(join(dir, "mqtt.password"), MOSQUITTO_PASSWORD);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("cuffia doctor on a box with three problems", () => {
  it("names the missing headset, the wrong SIP password and the unreachable broker, each with its fix", async () => {
    const mqttPort = await closedPort();
    const file = join(dir, "bad.yaml");
    await writeFile(
      file,
      [
        "agent: { id: doctor-bad }",
        "sip:",
        `  server: ws://127.0.0.1:${lab.kamailio.wsPort}`,
        `  aor: sip:1017@${lab.kamailio.domain}`,
        "  password_file: wrong.password",
        "audio: { source: { type: none }, sink: { type: none } }",
        // No headset exists on the test machine (nor a telephony HID collection).
        "headset: { match: { vendor_id: 0x0b0e, product_id: 0x0307 } }",
        `mqtt: { url: "mqtt://127.0.0.1:${mqttPort}" }`,
        `state_dir: ${join(dir, "state-bad")}`,
        "",
      ].join("\n"),
    );
    const t0 = Date.now();
    const r = await doctorCommand(["-c", file]);
    const elapsed = Date.now() - t0;

    expect(r.code).toBe(1);
    const lines = r.stdout.split("\n");
    const lineAndFix = (prefix: string): string => {
      const i = lines.findIndex((l) => l.startsWith(prefix));
      expect(i, `a line starting with "${prefix}" in:\n${r.stdout}`).toBeGreaterThanOrEqual(0);
      return `${lines[i]}\n${lines[i + 1] ?? ""}`;
    };
    expect(lineAndFix("✘ headset:")).toMatch(
      /no headset matches 0b0e:0307[^\n]*\n {2}fix: plug it in.*`cuffia devices` lists what is seen/,
    );
    expect(lineAndFix("✘ sip:")).toMatch(
      /the registrar refused sip:1017@\S+: 40[13] [^\n]*\n {2}fix: check sip\.username \("1017"\) and the password in sip\.password_file/,
    );
    expect(lineAndFix("✘ mqtt:")).toMatch(
      /cannot reach the broker: connect ECONNREFUSED 127\.0\.0\.1:\d+\n {2}fix: nothing listens there: check mqtt\.url/,
    );
    expect(r.stdout).toMatch(/^3 problem\(s\), 0 warning\(s\)$/m);
    // The deadline is 8 s; stopping what was started comes on top, but not much.
    expect(elapsed).toBeLessThan(12_000);
    // A refused REGISTER leaves no binding behind.
    expect((await kamailio.registrations()).some((x) => x.aor.includes("1017"))).toBe(false);
  });
});

describe("cuffia doctor with a good config", () => {
  it("registers to the PBX and connects to the broker, reports both ok, and leaves nothing behind", async () => {
    const file = join(dir, "good.yaml");
    await writeFile(
      file,
      [
        "agent: { id: doctor-good }",
        "sip:",
        `  server: ws://127.0.0.1:${lab.kamailio.wsPort}`,
        `  aor: sip:1017@${lab.kamailio.domain}`,
        "  password_file: sip.password",
        "audio: { source: { type: none }, sink: { type: none } }",
        "mqtt:",
        `  url: ${lab.mosquitto.url}`,
        `  username: ${MOSQUITTO_USER}`,
        "  password_file: mqtt.password",
        `state_dir: ${join(dir, "state-good")}`,
        "",
      ].join("\n"),
    );
    const r = await doctorCommand(["-c", file, "--json"]);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      agent: string;
      checks: Array<{ check: string; ok: boolean; status: string; detail: string; fix: string | null }>;
    };
    const check = (name: string) => report.checks.find((c) => c.check === name);
    expect(check("sip"), r.stdout).toMatchObject({ ok: true, status: "ok" });
    expect(check("sip")?.detail).toMatch(/^registered sip:1017@/);
    expect(check("mqtt"), r.stdout).toMatchObject({ ok: true, status: "ok" });
    expect(check("headset")).toMatchObject({ status: "skip" });
    expect(report.checks.filter((c) => c.status === "fail")).toEqual([]);
    expect(report).toMatchObject({ ok: true, agent: "doctor-good" });
    expect(r.code).toBe(0);

    // Unregistered at the end, and no presence, online or will retained for the agent.
    expect((await kamailio.registrations()).some((x) => x.aor.includes("1017"))).toBe(false);
    expect(await retainedUnder("cuffia/agents/doctor-good/#")).toEqual([]);
  });
});

describe("cuffia doctor and the broker's answers", () => {
  const mqttOnly = async (name: string, mqttLines: string[]) => {
    const file = join(dir, `${name}.yaml`);
    await writeFile(
      file,
      [
        `agent: { id: doctor-${name} }`,
        "mqtt:",
        ...mqttLines.map((l) => `  ${l}`),
        `state_dir: ${dir}`,
        "",
      ].join("\n"),
    );
    const r = await doctorCommand(["-c", file, "--json"]);
    const report = JSON.parse(r.stdout) as {
      checks: Array<{ check: string; status: string; detail: string; fix: string | null }>;
    };
    return { code: r.code, mqtt: report.checks.find((c) => c.check === "mqtt") };
  };

  it("reports a refused password as a credentials problem (MQTT 5 and 3.1.1)", async () => {
    await writeFile(join(dir, "bad-mqtt.password"), "not-the-password");
    for (const version of ["5", '"3.1.1"']) {
      const r = await mqttOnly("refused", [
        `url: ${lab.mosquitto.url}`,
        `username: ${MOSQUITTO_USER}`,
        "password_file: bad-mqtt.password",
        `protocol_version: ${version}`,
      ]);
      expect(r.code).toBe(1);
      expect(r.mqtt?.status).toBe("fail");
      expect(r.mqtt?.detail).toMatch(/^the broker refused the connection: .*(authori[sz]ed|password)/i);
      expect(r.mqtt?.fix).toMatch(/^check mqtt\.username \("desk"\) and the password in mqtt\.password_file/);
    }
  });

  it("tells a TLS certificate problem (no ca_file) from a working mqtts:// with the CA", async () => {
    const tlsUrl = `mqtts://localhost:${lab.mosquitto.tlsPort}`;
    const without = await mqttOnly("tls-noca", [`url: ${tlsUrl}`]);
    expect(without.mqtt?.status).toBe("fail");
    expect(without.mqtt?.fix).toMatch(/TLS certificate is refused: set mqtt\.ca_file/);
    const withCa = await mqttOnly("tls-ca", [`url: ${tlsUrl}`, `ca_file: ${lab.mosquitto.caFile}`]);
    expect(withCa.mqtt, JSON.stringify(withCa)).toMatchObject({ status: "ok" });
  });
});
