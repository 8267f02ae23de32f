/**
 * The lab's STUN/TURN server (coturn on loopback) answers like a real one: a Binding request gets
 * the mapped address, a TURN Allocate with the lab user's credentials gets a relayed address on
 * 127.0.0.1 within the relay range, wrong credentials get 401, and nothing listens off loopback.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { classes, Message, methods } from "werift-ice";
import {
  type Coturn,
  openStunClient,
  StunErrorResponse,
  startCoturn,
  stunBinding,
  turnAllocate,
} from "../lab/coturn.js";
import { boundSockets, nonLoopbackSockets } from "../lab/sockets.js";

let coturn: Coturn;

beforeAll(async () => {
  coturn = await startCoturn({ verbose: true });
});

afterAll(async () => {
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
      expect(outcome).toBeInstanceOf(StunErrorResponse);
      expect((outcome as StunErrorResponse).code).toBe(401);
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
});
