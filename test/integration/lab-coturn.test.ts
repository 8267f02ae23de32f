/**
 * The lab's STUN/TURN server (coturn on loopback) answers like a real one: a Binding request gets
 * the mapped address, a TURN Allocate with the lab user's credentials gets a relayed address on
 * 127.0.0.1 within the relay range, wrong credentials get 401, and nothing listens off loopback.
 */
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { classes, Message, methods } from "werift-ice";
import { dominantFrequency, makeTone } from "../lab/audio.js";
import { type Baresip, readSipTrace, startBaresip } from "../lab/baresip.js";
import type {} from "../lab/context.js";
import {
  baresipTurn,
  type Coturn,
  openStunClient,
  StunRefused,
  startCoturn,
  stunBinding,
  turnAllocate,
} from "../lab/coturn.js";
import { labKamailio } from "../lab/kamailio.js";
import { baresipPort } from "../lab/ports.js";
import { boundSockets, nonLoopbackSockets } from "../lab/sockets.js";
import { exchangeThenHangUp } from "../lab/two-way.js";

let coturn: Coturn;

beforeAll(async () => {
  coturn = await startCoturn({ verbose: true });
});

const peers: Baresip[] = [];

afterAll(async () => {
  for (const p of peers.splice(0).reverse()) await p.stop().catch(() => {});
  await coturn?.stop();
});

describe("lab coturn", () => {
  test("answers a STUN Binding request with the mapped loopback address and port", async () => {
    const client = await openStunClient(coturn);
    try {
      const response = await client.request(new Message(methods.BINDING, classes.REQUEST));
      expect(response.messageClass).toBe(classes.RESPONSE);
      const [host, port] = response.getAttributeValue("XOR-MAPPED-ADDRESS") as [string, number];
      expect(host).toBe("127.0.0.1");
      expect(port).toBeGreaterThan(0);
    } finally {
      client.close();
    }
    expect((await stunBinding(coturn)).host).toBe("127.0.0.1");
  });

  test("allocates a relay on 127.0.0.1 for the lab user", async () => {
    const allocation = await turnAllocate(coturn, coturn.username, coturn.password);
    expect(allocation.relayed.host).toBe("127.0.0.1");
    expect(allocation.relayed.port).toBeGreaterThanOrEqual(coturn.relayPorts.min);
    expect(allocation.relayed.port).toBeLessThanOrEqual(coturn.relayPorts.max);
    expect(allocation.mapped.host).toBe("127.0.0.1");
    expect(allocation.lifetime).toBeGreaterThan(0);
  });

  test("refuses an Allocate with a wrong password or an unknown user: 401", async () => {
    for (const [user, password] of [
      [coturn.username, "wrong-password"],
      ["nobody", coturn.password],
    ] as const) {
      const outcome = await turnAllocate(coturn, user, password).then(
        () => null,
        (error: unknown) => error,
      );
      expect(outcome).toBeInstanceOf(StunRefused);
      expect((outcome as StunRefused).status).toBe(401);
    }
    // The 401s came from the credential check, not from a malformed request.
    const log = await readFile(coturn.logFile, "utf8");
    expect(log).toContain(`user ${coturn.username} credentials are incorrect`);
    expect(log).toContain("Cannot find credentials of user <nobody>");
  });

  test("listens on loopback only: STUN/TURN on UDP and TCP, no CLI, no TLS", async () => {
    const sockets = await boundSockets(coturn.pid);
    expect(sockets.some((s) => s.proto === "udp" && s.port === coturn.port)).toBe(true);
    expect(sockets.some((s) => s.proto === "tcp" && s.port === coturn.port && s.state === "0A")).toBe(true);
    expect(await nonLoopbackSockets(coturn.pid)).toEqual([]);
    // No CLI (5766) or any other listening TCP port but the STUN/TURN one.
    const listening = sockets.filter((s) => s.proto.startsWith("tcp") && s.state === "0A").map((s) => s.port);
    expect(new Set(listening)).toEqual(new Set([coturn.port]));
  });

  test("relays a real call's media: a baresip behind TURN and a direct one hear each other", async () => {
    const lab = inject("lab");
    const kamailio = labKamailio(lab.kamailio);
    const dir = await mkdtemp(join(tmpdir(), "cuffia-lab-coturn-"));
    const tone440 = await makeTone(join(dir, "440.wav"), { freq: 440, seconds: 20 });
    const tone880 = await makeTone(join(dir, "880.wav"), { freq: 880, seconds: 20 });
    const relayed = await startBaresip({
      kamailio,
      user: "2001",
      port: await baresipPort(),
      audioFile: tone440,
      record: true,
      sipTrace: true,
      ...baresipTurn(coturn),
    });
    peers.push(relayed);
    const direct = await startBaresip({
      kamailio,
      user: "2002",
      port: await baresipPort(),
      audioFile: tone880,
      record: true,
      autoAnswer: true,
    });
    peers.push(direct);
    await relayed.dial(`sip:2002@${kamailio.domain}`);
    await relayed.waitFor("CALL_ESTABLISHED");
    const [recRelayed, recDirect] = await exchangeThenHangUp(relayed, direct);
    expect(Math.abs((await dominantFrequency(recRelayed, { skipSeconds: 0.5 })) - 880)).toBeLessThanOrEqual(
      15,
    );
    expect(Math.abs((await dominantFrequency(recDirect, { skipSeconds: 0.5 })) - 440)).toBeLessThanOrEqual(
      15,
    );

    // The relayed end advertised its relay address (a port of coturn's range), and coturn
    // allocated it and bound a channel to the direct end's media port.
    const offer =
      (await readSipTrace(relayed.logFile)).find((t) => t.message.startsWith("INVITE "))?.message ?? "";
    const port = Number(/^m=audio (\d+) /m.exec(offer)?.[1]);
    expect(port).toBeGreaterThanOrEqual(coturn.relayPorts.min);
    expect(port).toBeLessThanOrEqual(coturn.relayPorts.max);
    const log = await readFile(coturn.logFile, "utf8");
    expect(log).toMatch(/incoming packet ALLOCATE processed, success/);
    expect(log).toMatch(/incoming packet (CHANNEL_BIND|CREATE_PERMISSION) processed, success/);
  });
});
