/**
 * Reload (SIGHUP, systemctl reload) during a live call: the call stays up, the LCD and the policy
 * change at once, and the SIP side is rebuilt only once the call has ended.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, inject, it } from "vitest";
import { type App, buildApp } from "../../src/app.js";
import { parseConfig } from "../../src/config/load.js";
import { request } from "../../src/control/control-client.js";
import { activity, activitySince, wrapUpUntil } from "../../src/core/derive.js";
import { memoryLogger } from "../../src/log/logger.js";
import { makeTone } from "../lab/audio.js";
import { type Baresip, startBaresip } from "../lab/baresip.js";
import { labKamailio } from "../lab/kamailio.js";
import { baresipPort, freePorts } from "../lab/ports.js";

const lab = inject("lab");
const dir = mkdtempSync(join(tmpdir(), "cuffia-reload-"));
const socket = join(dir, "control.sock");
const { log, lines } = memoryLogger("debug");
const screenOut = new PassThrough();
let drawn = "";
screenOut.on("data", (b: Buffer) => {
  drawn += b.toString("utf8");
});

let app: App | undefined;
let caller: Baresip | undefined;

afterAll(async () => {
  await app?.stop();
  await caller?.stop();
});

async function until(what: () => boolean, ms: number, label: string): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const configText = (o: { size: string; wrap: number; userAgent: string; rtpMin: number; tone: string }) => `
agent: { id: desk-reload, name: Reload, language: en }
sip:
  server: ws://127.0.0.1:${lab.kamailio.wsPort}
  aor: sip:1017@127.0.0.1
  password: pw1017
  user_agent: ${o.userAgent}
rtp: { address: 127.0.0.1, port_min: ${o.rtpMin}, port_max: ${o.rtpMin + 20} }
audio: { source: { type: file, path: ${o.tone}, loop: true }, sink: { type: none } }
lcd: { port: "-", driver: terminal, size: ${o.size} }
policy: { wrap_up_seconds: ${o.wrap} }
control: { socket: ${socket} }
log: { level: debug }
state_dir: ${dir}/state
`;

describe("reload during a call", () => {
  it("keeps the call, applies the LCD and policy at once, and SIP once the call has ended", async () => {
    const tone = await makeTone(join(dir, "tone.wav"), { freq: 500, seconds: 20 });
    const first = await freePorts(24);
    const rtpMin = first + (first % 2);
    const base = { tone, rtpMin };
    const a = parseConfig(
      configText({ ...base, size: "20x4", wrap: 30, userAgent: "Before" }),
      join(dir, "c.yaml"),
    );
    app = await buildApp(a.config, log, { terminal: { input: new PassThrough(), output: screenOut } });
    await app.start();
    const desk = () => app!.runner.state;
    await until(() => desk().health.sip === "registered", 15_000, "registered");
    await request(socket, { cmd: "login" });

    caller = await startBaresip({
      kamailio: labKamailio(lab.kamailio),
      user: "2002",
      port: await baresipPort(),
    });
    await caller.dial("sip:1017@127.0.0.1");
    await until(() => activity(desk()) === "ringing", 10_000, "ringing");
    expect(await request(socket, { cmd: "answer" })).toMatchObject({ ok: true });
    await caller.waitFor("CALL_ESTABLISHED", 10_000);
    await until(() => activity(desk()) === "on_call", 5000, "on call");

    const sipBefore = app.runner.sides.find((s) => s.name === "sip");
    drawn = "";
    const b = parseConfig(
      configText({ ...base, size: "16x2", wrap: 5, userAgent: "After" }),
      join(dir, "c.yaml"),
    );
    await app.reload(b.config);

    // The policy applies at once; the LCD is rebuilt (a 16-column box is drawn)...
    expect(desk().policy.wrapUpSeconds).toBe(5);
    await until(() => drawn.includes(`┌${"─".repeat(16)}┐`), 3000, "the 16x2 LCD");
    // ...the call is untouched and the SIP side is still the old one.
    await new Promise((r) => setTimeout(r, 1000));
    expect(activity(desk())).toBe("on_call");
    expect(caller.events.some((e) => e["type"] === "CALL_CLOSED")).toBe(false);
    expect(app.runner.sides.find((s) => s.name === "sip")).toBe(sipBefore);
    expect(lines.some((l) => String(l["msg"]).includes("they apply when the call ends"))).toBe(true);

    // Hang up: wrap-up uses the new 5 s, and the SIP side is rebuilt and registers again.
    expect(await request(socket, { cmd: "hangup" })).toMatchObject({ ok: true });
    await caller.waitFor("CALL_CLOSED", 10_000);
    await until(() => app!.runner.sides.find((s) => s.name === "sip") !== sipBefore, 5000, "SIP rebuilt");
    expect(activity(desk())).toBe("wrap_up");
    expect((wrapUpUntil(desk()) ?? 0) - activitySince(desk())).toBe(5000);
    await until(() => desk().health.sip === "registered", 15_000, "registered again");
    const regs = await labKamailio(lab.kamailio).registrations();
    expect(regs.filter((r) => r.aor.includes("1017"))).toHaveLength(1);
  });
});
