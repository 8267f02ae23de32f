/**
 * The whole desk, composed exactly as `cuffia run` composes it, against real peers: Kamailio as
 * the PBX, a baresip caller, Mosquitto as the switchboard's broker, a socat pseudo-terminal as
 * the LCD's serial line. Only the headset is simulated: a fake HID device that carries a real
 * Jabra report descriptor under the real HID side. The operator lifts the boom to answer, hears
 * the caller, mutes, and hangs up — and every view (LEDs, LCD, presence, events) follows.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { SerialPort } from "serialport";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type App, buildApp } from "../../src/app.js";
import { parseConfig } from "../../src/config/load.js";
import { request } from "../../src/control/control-client.js";
import { activity, currentCall } from "../../src/core/derive.js";
import { parseHexBytes } from "../../src/headset/descriptor.js";
import { memoryLogger } from "../../src/log/logger.js";
import { FakeHidBackend } from "../fakes/fake-hid-device.js";
import { dominantFrequency, makeTone, readWav } from "../lab/audio.js";
import { type Baresip, startBaresip } from "../lab/baresip.js";
import { labKamailio } from "../lab/kamailio.js";
import { baresipPort, freePorts } from "../lab/ports.js";
import { VirtualDisplay } from "../lcd/virtual-display.js";

const lab = inject("lab");
const dir = mkdtempSync(join(tmpdir(), "cuffia-desk-"));
const children: ChildProcess[] = [];
const JABRA = "/dev/hidraw7";

let app: App | undefined;
let caller: Baresip | undefined;
let broker: mqtt.MqttClient | undefined;
let lcdPort: SerialPort | undefined;
const { log, lines } = memoryLogger("debug");

async function until(what: () => boolean | Promise<boolean>, ms: number, label: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

afterAll(async () => {
  // DESK_DEBUG=headset (a log namespace prefix) prints the daemon's log lines of that side.
  const ns = process.env["DESK_DEBUG"];
  if (ns)
    for (const l of lines.filter((x) => String(x["ns"]).startsWith(ns)))
      process.stderr.write(`${JSON.stringify(l)}\n`);
  await app?.stop();
  await caller?.stop();
  await broker?.endAsync();
  if (lcdPort?.isOpen) await new Promise((r) => lcdPort?.close(() => r(undefined)));
  for (const c of children) c.kill("SIGTERM");
});

describe("the whole desk with a HID headset, a real call, an LCD and presence", () => {
  const hid = new FakeHidBackend();
  const vd = new VirtualDisplay("matrix-orbital", 20, 4, "a02");
  const messages: Array<{ topic: string; payload: Record<string, unknown>; retain: boolean }> = [];
  const socket = join(dir, "control.sock");
  let lcdBytes = 0;

  beforeAll(async () => {
    // LCD: a pty pair; the daemon writes to one end, a virtual Matrix Orbital reads the other.
    const a = join(dir, "lcd-a");
    const b = join(dir, "lcd-b");
    const socat = spawn("socat", ["-d", "-d", `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
      stdio: "ignore",
    });
    children.push(socat);
    await until(() => existsSync(a) && existsSync(b), 5000, "socat ptys");
    lcdPort = new SerialPort({ path: b, baudRate: 9600, autoOpen: false });
    await new Promise<void>((res, rej) => lcdPort?.open((e) => (e ? rej(e) : res())));
    lcdPort.on("data", (chunk: Buffer) => {
      lcdBytes += chunk.length;
      vd.feed(chunk);
    });

    // The switchboard's view of the broker.
    broker = await mqtt.connectAsync(lab.mosquitto.url, { clientId: "switchboard-desk-test" });
    broker.on("message", (topic, payload, packet) =>
      messages.push({
        topic,
        payload: JSON.parse(payload.toString()) as Record<string, unknown>,
        retain: packet.retain,
      }),
    );
    await broker.subscribeAsync("e2e/agents/desk-e2e/#", { qos: 1 });
    await broker.publishAsync(
      "e2e/queues/sociale/stats",
      JSON.stringify({
        v: 1,
        waiting: 3,
        longest_wait: 95,
        available_agents: 1,
        by_language: { fr: 2, it: 1 },
      }),
      { qos: 1, retain: true },
    );

    hid.plug(
      JABRA,
      {
        vendorId: 0x0b0e,
        productId: 0x0307,
        product: "Jabra EVOLVE LINK MS",
        manufacturer: "GN",
        serial: "x",
        interface: 3,
      },
      parseHexBytes(readFileSync("test/fixtures/hid/jabra-evolve-link-ms.hex", "utf8")),
    );

    const tone = await makeTone(join(dir, "operator-440.wav"), { freq: 440, seconds: 30 });
    const rtpFirst = await freePorts(42);
    const rtpMin = rtpFirst + (rtpFirst % 2); // RTP on even ports, RTCP on the odd one above
    const text = `
agent: { id: desk-e2e, name: Sportello E2E, language: fr }
sip:
  server: ws://127.0.0.1:${lab.kamailio.wsPort}
  aor: sip:1018@127.0.0.1
  password: "\${E2E_SIP_PASSWORD}"
  keepalive_seconds: 20
rtp: { address: 127.0.0.1, port_min: ${rtpMin}, port_max: ${rtpMin + 40} }
audio:
  source: { type: file, path: ${tone}, loop: true }
  sink: { type: file, path: "${dir}/heard-{call}.wav" }
headset: { match: auto }
lcd: { port: ${a}, driver: matrix-orbital, size: 20x4, charset: a02 }
mqtt: { url: "${lab.mosquitto.url}", topic_prefix: e2e, queues: [sociale] }
policy: { wrap_up_seconds: 30, ring_timeout_seconds: 0 }
control: { socket: ${socket} }
state_dir: ${dir}/state
`;
    const { config } = parseConfig(text, join(dir, "config.yaml"), { env: { E2E_SIP_PASSWORD: "pw1018" } });
    app = await buildApp(config, log, { hidBackend: hid });
    await app.start();
    const caller440 = await makeTone(join(dir, "caller-880.wav"), { freq: 880, seconds: 30 });
    caller = await startBaresip({
      kamailio: labKamailio(lab.kamailio),
      user: "2001",
      port: await baresipPort(),
      audioFile: caller440,
      record: true,
    });
  });

  const desk = () => app!.runner.state;
  const presence = () =>
    messages.filter((m) => m.topic === "e2e/agents/desk-e2e/presence").at(-1)?.payload as
      | Record<string, unknown>
      | undefined;
  const events = () => messages.filter((m) => m.topic === "e2e/agents/desk-e2e/events").map((m) => m.payload);
  const screen = () => vd.read().join("\n");
  /** The Jabra's shared output report 0x02: Off-Hook b0, Mute b1, Ring b2, Hold b3. */
  const leds = () => {
    const last = hid.last?.writes.filter((w) => w[0] === 0x02).at(-1);
    const b = last?.[1] ?? 0;
    return { offHook: !!(b & 1), mute: !!(b & 2), ring: !!(b & 4), hold: !!(b & 8) };
  };
  /** Input report 0x02: hook b0 (absolute), Line Busy b1, mute b2 (relative), flash b3. */
  const press = (byte: number) => hid.last?.send([0x02, byte, 0x00]);

  it("registers, finds the headset, shows the queue and publishes the desk online", async () => {
    await until(() => desk().health.sip === "registered", 15_000, "SIP registered");
    await until(
      () => desk().health.headset === true && desk().health.lcd === true && desk().health.mqtt === true,
      10_000,
      "sides up",
    );
    press(0x00); // the headset's first report: the hook baseline
    // Reports right after the open are treated as stale radio reports (the echo guard,
    // reference/hid-telephony.md §4.1); nobody answers within half a second of plugging in.
    await new Promise((r) => setTimeout(r, 700));
    expect(await request(socket, { cmd: "login" })).toMatchObject({ ok: true });
    await until(() => presence()?.["routable"] === true, 5000, "routable presence");
    // A switchboard that connects now finds the desk online and its presence, retained.
    const late = await mqtt.connectAsync(lab.mosquitto.url, { clientId: "late-switchboard" });
    const retained: Record<string, Record<string, unknown>> = {};
    late.on("message", (topic, payload, packet) => {
      if (packet.retain) retained[topic] = JSON.parse(payload.toString()) as Record<string, unknown>;
    });
    await late.subscribeAsync("e2e/agents/desk-e2e/+", { qos: 1 });
    await until(() => Object.keys(retained).length >= 2, 3000, "retained online and presence");
    await late.endAsync();
    expect(retained["e2e/agents/desk-e2e/online"]).toMatchObject({ v: 1, online: true });
    expect(retained["e2e/agents/desk-e2e/presence"]).toMatchObject({
      v: 1,
      status: "available",
      routable: true,
    });
    await until(() => screen().includes("3"), 5000, "queue count on the LCD");
    expect(screen()).toMatch(/Disponible/);
  });

  it("rings the headset and the LCD for a queue call with the IVR's facts", async () => {
    await caller?.dial("sip:1018@127.0.0.1", {
      "X-Caller-Language": "ar",
      "X-Service": "casa",
      "X-Queue": "sociale",
    });
    await until(() => activity(desk()) === "ringing", 10_000, "ringing");
    expect(currentCall(desk())).toMatchObject({
      language: "ar",
      service: "casa",
      queue: "sociale",
      number: "2001",
    });
    await until(() => leds().ring, 3000, "Ring LED on");
    await until(() => /AR/.test(screen()) && /2001/.test(screen()), 3000, "ringing screen");
    await until(() => presence()?.["activity"] === "ringing", 3000, "presence ringing");
    // The caller's number is never retained.
    expect(JSON.stringify(messages.filter((m) => m.retain))).not.toContain("2001");
  });

  it("lifting the boom answers: Ring off, Off-Hook on, audio both ways", async () => {
    press(0x01); // hook off
    await caller?.waitFor("CALL_ESTABLISHED", 10_000);
    await until(() => activity(desk()) === "on_call", 5000, "on call");
    await until(() => !leds().ring && leds().offHook, 3000, "Ring off, Off-Hook on");
    press(0x03); // the headset echoes our Off-Hook with Line Busy: not a new press
    await until(() => presence()?.["activity"] === "on_call", 3000, "presence on_call");
    await new Promise((r) => setTimeout(r, 2500)); // two-way audio for a while
    expect(activity(desk())).toBe("on_call");
  });

  it("the mute button mutes the RTP (the caller hears silence) and lights Mute", async () => {
    press(0x07); // mute pulse (relative: the 1 counts)
    press(0x03);
    await until(() => currentCall(desk())?.muted === true, 3000, "muted");
    await until(() => leds().mute, 3000, "Mute LED");
    await until(() => /MUET|Muet|muet/.test(screen()), 3000, "muted mark on the LCD");
    await new Promise((r) => setTimeout(r, 2000)); // muted audio for a while
  });

  it("hook on hangs up: wrap-up everywhere, events delivered, the recordings prove the audio", async () => {
    press(0x00); // boom down
    await caller?.waitFor("CALL_CLOSED", 10_000);
    await until(() => activity(desk()) === "wrap_up", 5000, "wrap-up");
    await until(() => !leds().offHook && !leds().mute, 3000, "LEDs off");
    await until(() => presence()?.["activity"] === "wrap_up", 3000, "presence wrap_up");
    await until(() => events().some((e) => e["type"] === "call.ended"), 5000, "call.ended event");
    expect(events().map((e) => e["type"])).toEqual(
      expect.arrayContaining(["status.changed", "call.offered", "call.answered", "call.ended"]),
    );
    expect(events().find((e) => e["type"] === "call.ended")).toMatchObject({
      end_reason: "local_hangup",
      number: "2001",
    });

    // What the operator heard: the caller's 880 Hz.
    const heard = (await import("node:fs")).readdirSync(dir).filter((f) => f.startsWith("heard-"));
    expect(heard).toHaveLength(1);
    expect(
      Math.abs((await dominantFrequency(join(dir, heard[0]!), { skipSeconds: 0.5 })) - 880),
    ).toBeLessThan(15);

    // What the caller heard: 440 Hz while unmuted, then silence once muted.
    await until(
      async () => (await caller!.recordings()).some((f) => f.endsWith("-dec.wav")),
      5000,
      "recording",
    );
    const dec = (await caller!.recordings()).find((f) => f.endsWith("-dec.wav"))!;
    const wav = await readWav(dec);
    const rms = (from: number, to: number) => {
      const s = wav.samples.subarray(Math.floor(from * wav.rate), Math.floor(to * wav.rate));
      return Math.sqrt(s.reduce((a, x) => a + x * x, 0) / Math.max(1, s.length));
    };
    const seconds = wav.samples.length / wav.rate;
    expect(Math.abs((await dominantFrequency(dec, { skipSeconds: 0.5 })) - 440)).toBeLessThan(15);
    expect(rms(0.5, 2)).toBeGreaterThan(0.05); // the tone, before mute
    expect(rms(seconds - 1.5, seconds - 0.3)).toBeLessThan(0.005); // silence while muted
    expect(lcdBytes).toBeGreaterThan(0);
    expect(lines.filter((l) => l["level"] === "error")).toEqual([]);
  });
});
