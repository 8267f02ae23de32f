/**
 * One-shot STUN and TURN checks for `cuffia doctor` (rtp.ice.stun_servers, turn_servers): a
 * Binding request (RFC 8489 §6) that shows the address the server saw, and a TURN Allocate with
 * the long-term credentials (RFC 8656 §7.2: 401 with REALM and NONCE, then the signed request),
 * released at once (Refresh with LIFETIME 0, §7.3). werift-ice's STUN codec builds and checks the
 * messages; one UDP socket per check, retransmitted every 250 ms until the deadline.
 */
import { createHash } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { classes, Message, methods, parseMessage } from "werift-ice";
import type { TurnServer } from "./ice-transport.js";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** A STUN error response (e.g. 401 Unauthorized: wrong TURN credentials). */
export class StunRefused extends Error {
  readonly code: string;
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly response: Message,
  ) {
    super(`${status} ${reason}`);
    this.name = "StunRefused";
    this.code = status === 401 ? "unauthorized" : "refused";
  }
}

/** No answer at all before the deadline. */
export class StunTimeout extends Error {
  readonly code = "timeout";
}

interface Client {
  request(m: Message, integrityKey?: Buffer): Promise<Message>;
  close(): void;
}

async function open(server: HostPort, timeoutMs: number): Promise<Client> {
  const address = (await lookup(server.host, { family: 4 })).address;
  const socket: Socket = createSocket("udp4");
  const pending = new Map<string, (message: Message, data: Buffer) => void>();
  socket.on("message", (data) => {
    const message = parseMessage(data);
    if (message) pending.get(message.transactionIdHex)?.(message, data);
  });
  socket.on("error", () => {}); // ICMP unreachable: the request times out and says so
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  const deadline = Date.now() + timeoutMs;
  return {
    request(request, integrityKey) {
      return new Promise((resolve, reject) => {
        const id = request.transactionIdHex;
        const bytes = request.bytes;
        const send = (): void => socket.send(bytes, server.port, address);
        const resend = setInterval(send, 250);
        const finish = (outcome: () => void): void => {
          clearTimeout(timer);
          clearInterval(resend);
          pending.delete(id);
          outcome();
        };
        const timer = setTimeout(
          () => finish(() => reject(new StunTimeout(`no answer from ${server.host}:${server.port} (UDP)`))),
          Math.max(0, deadline - Date.now()),
        );
        pending.set(id, (message, data) => {
          if (message.messageClass === classes.ERROR) {
            const [status, reason] = (message.getAttributeValue("ERROR-CODE") as [number, string]) ?? [0, ""];
            finish(() => reject(new StunRefused(status, reason, message)));
          } else if (integrityKey && !parseMessage(data, integrityKey)) {
            finish(() =>
              reject(new Error("the answer's MESSAGE-INTEGRITY does not check (not this server?)")),
            );
          } else finish(() => resolve(message));
        });
        send();
      });
    },
    close: () => socket.close(),
  };
}

/** The address and port the STUN server saw our request come from (the box's public mapping). */
export async function stunBinding(server: HostPort, timeoutMs: number): Promise<HostPort> {
  const client = await open(server, timeoutMs);
  try {
    const response = await client.request(new Message(methods.BINDING, classes.REQUEST).addFingerprint());
    const mapped = (response.getAttributeValue("XOR-MAPPED-ADDRESS") ??
      response.getAttributeValue("MAPPED-ADDRESS")) as [string, number] | undefined;
    if (!mapped) throw new Error("the Binding response carries no mapped address");
    return { host: mapped[0], port: mapped[1] };
  } finally {
    client.close();
  }
}

/** RFC 8656 §18.1 REQUESTED-TRANSPORT: UDP (17) in the first byte. */
const REQUESTED_TRANSPORT_UDP = 0x11000000;

/**
 * Whether the TURN server accepts the credentials: an Allocate that succeeds (the relayed address
 * is returned), released at once. Rejects with StunRefused (401: wrong user name or password).
 */
export async function turnAllocate(
  server: TurnServer,
  timeoutMs: number,
): Promise<{ relayed: HostPort; mapped: HostPort; lifetime: number }> {
  const client = await open(server, timeoutMs);
  try {
    let challenge: Message;
    try {
      await client.request(
        new Message(methods.ALLOCATE, classes.REQUEST)
          .setAttribute("REQUESTED-TRANSPORT", REQUESTED_TRANSPORT_UDP)
          .addFingerprint(),
      );
      throw new Error("the TURN server allocated without asking for credentials");
    } catch (e) {
      if (!(e instanceof StunRefused) || e.status !== 401) throw e;
      challenge = e.response;
    }
    const realm = challenge.getAttributeValue("REALM") as string;
    const nonce = challenge.getAttributeValue("NONCE") as Buffer;
    // RFC 8489 §9.2.2: the long-term key is MD5(username ":" realm ":" password).
    const key = createHash("md5").update(`${server.username}:${realm}:${server.password}`).digest();
    const signed = (method: methods, lifetime: number): Message => {
      const m = new Message(method, classes.REQUEST);
      if (method === methods.ALLOCATE) m.setAttribute("REQUESTED-TRANSPORT", REQUESTED_TRANSPORT_UDP);
      return m
        .setAttribute("LIFETIME", lifetime)
        .setAttribute("USERNAME", server.username)
        .setAttribute("REALM", realm)
        .setAttribute("NONCE", nonce)
        .addMessageIntegrity(key)
        .addFingerprint();
    };
    const response = await client.request(signed(methods.ALLOCATE, 60), key);
    await client.request(signed(methods.REFRESH, 0), key);
    const relayed = response.getAttributeValue("XOR-RELAYED-ADDRESS") as [string, number];
    const mapped = response.getAttributeValue("XOR-MAPPED-ADDRESS") as [string, number];
    return {
      relayed: { host: relayed[0], port: relayed[1] },
      mapped: { host: mapped[0], port: mapped[1] },
      lifetime: response.getAttributeValue("LIFETIME") as number,
    };
  } finally {
    client.close();
  }
}

/** The one-socket STUN client under the checks (the lab's STUN/TURN tests use it too). */
export { type Client as StunClient, open as openStunClient };
