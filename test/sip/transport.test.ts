import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { parseServer } from "../../src/sip/server-url.js";
import { ConnectionTransport, transactionKey } from "../../src/sip/transport.js";
import { FakeRegistrar } from "./fake-registrar.js";

const response = (status: string, branch: string, cseq = "1 INVITE") =>
  [
    `SIP/2.0 ${status}`,
    `Via: SIP/2.0/WS 127.0.0.1:5080;branch=${branch}`,
    "From: <sip:a@x>;tag=1",
    "To: <sip:b@x>",
    "Call-ID: c1",
    `CSeq: ${cseq}`,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");

let server: FakeRegistrar;
let transport: ConnectionTransport;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const statuses = (since: number) => server.received.slice(since).map((m) => m.firstLine);

beforeAll(async () => {
  server = await FakeRegistrar.start();
  transport = new ConnectionTransport(null, {
    servers: [parseServer(server.url)],
    trust: { rejectUnauthorized: true },
    keepAliveSeconds: 0,
    connectTimeoutMs: 2000,
    log: silentLogger,
  });
  await transport.connect();
});

afterAll(async () => {
  await transport.disconnect();
  await server.close();
});

describe("100 Trying (RFC 3261 §17.2.1)", () => {
  it("is dropped when the final response follows in the same turn (auto-answer)", async () => {
    const mark = server.received.length;
    await transport.send(response("100 Trying", "z9hG4bK-a"));
    await transport.send(response("200 OK", "z9hG4bK-a"));
    await sleep(100);
    expect(statuses(mark)).toEqual(["SIP/2.0 200 OK"]);
  });

  it("goes out at once (next turn) when nothing else answers", async () => {
    const mark = server.received.length;
    await transport.send(response("100 Trying", "z9hG4bK-b"));
    await sleep(100);
    expect(statuses(mark)).toEqual(["SIP/2.0 100 Trying"]);
  });

  it("keeps its place before a response that comes in a later turn, and is per transaction", async () => {
    const mark = server.received.length;
    await transport.send(response("100 Trying", "z9hG4bK-c"));
    await transport.send(response("100 Trying", "z9hG4bK-d"));
    await transport.send(response("486 Busy Here", "z9hG4bK-d"));
    await sleep(20);
    await transport.send(response("180 Ringing", "z9hG4bK-c"));
    await sleep(100);
    expect(statuses(mark)).toEqual(["SIP/2.0 486 Busy Here", "SIP/2.0 100 Trying", "SIP/2.0 180 Ringing"]);
  });

  it("keys a response by its top Via branch and CSeq", () => {
    expect(transactionKey(response("100 Trying", "z9hG4bK-x"))).toBe("z9hG4bK-x 1 INVITE");
    expect(transactionKey(response("200 OK", "z9hG4bK-x", "2 CANCEL"))).toBe("z9hG4bK-x 2 CANCEL");
    expect(transactionKey("SIP/2.0 100 Trying\r\nCSeq: 1 INVITE\r\n\r\n")).toBeNull();
  });

  // Found by the SIP fuzz test (seed 20261205): with a folded Via the 100 Trying had no key, went
  // out at once and came before the 180 it should have given way to.
  it("keys a response whose Via and CSeq are folded (RFC 3261 §7.3.1)", () => {
    const folded = response("100 Trying", "z9hG4bK-f")
      .replace("Via: SIP/2.0/WS", "Via: SIP/2.0/WS\r\n   ")
      .replace("CSeq: 1", "CSeq:\r\n\t1");
    expect(folded).toMatch(/Via: SIP\/2\.0\/WS\r\n {3}/);
    expect(transactionKey(folded)).toBe("z9hG4bK-f 1 INVITE");
  });
});

describe("a request right after an ACK", () => {
  const request = (method: string, cseq: number) =>
    [
      `${method} sip:1017@127.0.0.1 SIP/2.0`,
      `Via: SIP/2.0/WS 127.0.0.1:5080;branch=z9hG4bK-${method}${cseq}`,
      "From: <sip:2001@x>;tag=1",
      "To: <sip:1017@x>;tag=2",
      "Call-ID: ack-race",
      `CSeq: ${cseq} ${method}`,
      "Content-Length: 0",
      "",
      "",
    ].join("\r\n");

  it("waits until what the ACK started has settled (sip.js answers 500 to a re-INVITE meanwhile)", async () => {
    const order: string[] = [];
    transport.setReceiver((text) => {
      const method = text.slice(0, text.indexOf(" "));
      order.push(method);
      // sip.js marks the dialog "processing the ACK" until a promise settles, i.e. after microtasks
      if (method === "ACK") void Promise.resolve().then(() => order.push("ack settled"));
    });
    // two frames written at once: the client reads them in one turn
    server.send(request("ACK", 1));
    server.send(request("INVITE", 2));
    server.send(request("ACK", 2));
    server.send(request("BYE", 3));
    for (let i = 0; i < 50 && order.length < 6; i++) await sleep(10);
    expect(order).toEqual(["ACK", "ack settled", "INVITE", "ACK", "ack settled", "BYE"]);
  });
});
