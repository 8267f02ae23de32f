/**
 * Regression tests named after the bugs: a registrar that accepts the connection but never
 * answers made stop() wait for sip.js's 32 s REGISTER timeout; an unreachable server was
 * reported as "registering" with no reason, so the LCD, presence and doctor could not say why.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import type { MediaSessionFactory } from "../../src/media/media.js";
import { sipDefaults } from "../../src/sip/options.js";
import { SipAgent } from "../../src/sip/sip-agent.js";
import { Inputs } from "./harness.js";

const noMedia: MediaSessionFactory = {
  create: () => Promise.reject(new Error("no media in this test")),
};

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function listen(onConnection: (s: Socket) => void): Promise<number> {
  const server = createServer((s) => {
    sockets.push(s);
    onConnection(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return (server.address() as { port: number }).port;
}

function agent(port: number): SipAgent {
  return new SipAgent({
    options: {
      ...sipDefaults,
      servers: [`tcp://127.0.0.1:${port}`],
      aor: "sip:1017@127.0.0.1",
      username: "1017",
      password: "x",
      userAgent: "test",
    },
    media: noMedia,
    log: silentLogger,
    backoff: { baseMs: 100, capMs: 200 },
  });
}

describe("SIP side against a silent or absent registrar", () => {
  it("stop() returns within seconds when the registrar never answers the REGISTER", async () => {
    let registers = 0;
    const port = await listen((s) =>
      s.on("data", (d) => (registers += String(d).includes("REGISTER") ? 1 : 0)),
    );
    const inputs = new Inputs();
    const a = agent(port);
    await a.start(inputs.emit);
    await expect.poll(() => registers, { timeout: 5000 }).toBeGreaterThan(0);
    const t0 = Date.now();
    await a.stop();
    expect(Date.now() - t0).toBeLessThan(10_000); // the bug took 32 s (Timer F); the fix takes ~2 s
    expect(inputs.all.at(-1)).toMatchObject({
      type: "health",
      side: "sip",
      sip: "unregistered",
      reason: "stopped",
    });
  });

  it("an unreachable server is reported with the reason", async () => {
    const port = await listen(() => {});
    await new Promise((r) => servers.pop()?.close(r)); // nobody listens there any more
    const inputs = new Inputs();
    const a = agent(port);
    await a.start(inputs.emit);
    const down = await inputs.waitForSip((i) => i.sip === "unregistered" && i.reason !== null, 5000);
    expect(down.reason).toMatch(/ECONNREFUSED|reachable/);
    await a.stop();
  });
});
