/**
 * Transports and credentials: TLS with a private CA (verified, never rejectUnauthorized off),
 * a client certificate, user/password and CONNACK refusals, WebSocket, and the embedded broker.
 */
import { createServer } from "node:http";
import { join } from "node:path";
import { Aedes } from "aedes";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createWebSocketStream, WebSocketServer } from "ws";
import { memoryLogger } from "../../src/log/logger.js";
import { type Mosquitto, startMosquitto } from "../lab/mosquitto.js";
import { type Desk, retained, startDesk, Watcher, waitUntil } from "../presence/harness.js";

let broker: Mosquitto;
const desks: Desk[] = [];
beforeAll(async () => {
  broker = await startMosquitto({ tls: true });
});
afterEach(async () => {
  for (const d of desks.splice(0)) await d.stop();
});
afterAll(async () => {
  await broker?.stop();
});

const desk = async (url: string, options: Parameters<typeof startDesk>[0]["options"], agentId = "sec") => {
  const m = memoryLogger("debug");
  const d = await startDesk({ url, agentId, options, log: m.log });
  desks.push(d);
  return { desk: d, lines: m.lines };
};

describe("TLS (mqtts://) with a self-signed CA", () => {
  const tlsUrl = () => `mqtts://localhost:${broker.tlsPort}`;

  it.each([4, 5] as const)("connects when the CA is configured (MQTT %i)", async (protocolVersion) => {
    const { desk: d } = await desk(tlsUrl(), { caFile: broker.caFile!, protocolVersion });
    await waitUntil("connected over TLS", () => d.presence.connected);
    expect((await retained(broker.url, "cuffia/agents/sec/online"))?.json).toMatchObject({
      online: true,
      session: d.presence.session,
    });
  });

  it("connects with a client certificate and key", async () => {
    const { desk: d } = await desk(tlsUrl(), {
      caFile: broker.caFile!,
      certFile: join(broker.dir, "client.crt"),
      keyFile: join(broker.dir, "client.key"),
    });
    await waitUntil("connected with a client certificate", () => d.presence.connected);
  });

  it("refuses the server when the CA is not configured, and says why", async () => {
    const { desk: d, lines } = await desk(tlsUrl(), {});
    const err = await waitUntil("a TLS error", () =>
      lines.find((l) => l.msg === "mqtt connection error" && /certificate/i.test(String(l.err))),
    );
    expect(String(err.err)).toMatch(/self[- ]signed|unable to verify|certificate/i);
    expect(d.presence.connected).toBe(false);
  });
});

describe("user name and password", () => {
  it("connects with the right password", async () => {
    const { desk: d } = await desk(broker.url, { username: "desk", password: "deskpw" });
    await waitUntil("connected", () => d.presence.connected);
  });

  it.each([4, 5] as const)(
    "reports a refusal with its reason and retries slowly (MQTT %i)",
    async (protocolVersion) => {
      const { desk: d, lines } = await desk(broker.url, {
        username: "desk",
        password: "wrong",
        protocolVersion,
      });
      const refusal = await waitUntil("refusal", () =>
        lines.find((l) => String(l.msg).includes("refused the connection")),
      );
      expect(refusal).toMatchObject({ level: "error", user: "desk" });
      expect(String(refusal.reason)).toMatch(
        protocolVersion === 5 ? /not authorized|bad user name or password/i : /not authorized/,
      );
      expect(JSON.stringify(lines)).not.toContain("wrong");
      // Slow: no second attempt within the refusal floor (10 s); look for 3 s.
      await new Promise((r) => setTimeout(r, 3_000));
      expect(lines.filter((l) => String(l.msg).includes("refused the connection"))).toHaveLength(1);
      const scheduled = lines.filter((l) => l.msg === "mqtt reconnect scheduled");
      expect(scheduled).toHaveLength(1);
      expect(Number(scheduled[0]!.delayMs)).toBeGreaterThanOrEqual(10_000);
      expect(d.presence.connected).toBe(false);
      expect(d.runner.state.health.faults.presence).toMatch(/^MQTT broker refused the connection: /);
      expect(d.runner.state.health.mqtt).toBe(false);
    },
  );
});

describe("WebSocket (ws://)", () => {
  it("connects through a WebSocket MQTT listener", async () => {
    // Debian's Mosquitto is built without websockets: aedes behind `ws` plays the broker here.
    const aedes = await Aedes.createBroker();
    const http = createServer();
    const wss = new WebSocketServer({ server: http });
    wss.on("connection", (socket) => aedes.handle(createWebSocketStream(socket) as never));
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", () => r()));
    const port = (http.address() as { port: number }).port;
    try {
      // aedes 1.x speaks MQTT 3.1.1 only.
      const { desk: d } = await desk(`ws://127.0.0.1:${port}/mqtt`, { protocolVersion: 4 });
      await waitUntil("connected over ws", () => d.presence.connected);
      const r = await retained(`ws://127.0.0.1:${port}/mqtt`, "cuffia/agents/sec/online", {
        protocolVersion: 4,
      });
      expect(r?.json).toMatchObject({ online: true, session: d.presence.session });
      await d.stop();
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(() => r(undefined)));
      await new Promise((r) => http.close(() => r(undefined)));
      await new Promise((r) => aedes.close(() => r(undefined)));
    }
  });
});

describe("embedded broker (url: embedded)", () => {
  const RESULT = "cuffia/agents/sec/commands/result";
  it("runs aedes on 127.0.0.1:<embeddedPort> and stops it with the side", async () => {
    const port = broker.port + 1000 > 65000 ? 41883 : broker.port + 1000;
    const { desk: d } = await desk("embedded", { embeddedPort: port });
    await waitUntil("connected to the embedded broker", () => d.presence.connected);
    const w = await Watcher.connect(`mqtt://127.0.0.1:${port}`, ["cuffia/agents/sec/#"], {
      protocolVersion: 4,
    });
    const presence = await w.waitFor("presence", (s) => s.topic === "cuffia/agents/sec/presence");
    expect(presence.retain).toBe(true);
    // aedes speaks 3.1.1 only: the re-subscribe check tells a retained command from a live one.
    await w.publish("cuffia/agents/sec/commands", JSON.stringify({ v: 1, id: "emb-ret", action: "login" }), {
      qos: 1,
      retain: true,
    });
    const refused = await w.waitFor(
      "retained refused",
      (s) => s.topic === RESULT && s.json?.id === "emb-ret",
    );
    expect(refused.json).toMatchObject({ ok: false, error: expect.stringMatching(/retained/) });
    await w.publish("cuffia/agents/sec/commands", "", { qos: 1, retain: true });
    await w.publish("cuffia/agents/sec/commands", JSON.stringify({ v: 1, id: "emb-live", action: "login" }));
    expect(
      (await w.waitFor("live applied", (s) => s.topic === RESULT && s.json?.id === "emb-live")).json,
    ).toEqual({
      v: 1,
      id: "emb-live",
      ok: true,
    });
    expect(d.runner.state.status).toBe("available");
    await w.close();
    await d.stop();
    desks.splice(0);
    await expect(Watcher.connect(`mqtt://127.0.0.1:${port}`, [], { reconnectPeriod: 0 })).rejects.toThrow(
      /ECONNREFUSED/,
    );
  });
});
