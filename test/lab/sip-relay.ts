/**
 * A transparent SIP relay between the daemon and the lab Kamailio, over WebSocket or TCP, that
 * lets a test push raw bytes down the daemon's real, registered connection.
 *
 * The daemon connects out to its registrar, so nothing can reach its parser except over that
 * connection. Sending through Kamailio does not do it: Kamailio parses, rejects or rewrites what
 * is malformed (and wants digest auth on every INVITE). A fake registrar (test/sip/fake-registrar.ts)
 * does, but then the daemon is registered with nobody real. The relay does both: the daemon
 * points at `url`, the relay opens the same kind of connection to Kamailio for each one the daemon
 * opens and copies whole messages both ways (stream framing per RFC 3261 §18.3 on TCP), so the
 * daemon registers with Kamailio, receives Kamailio's calls and liveness OPTIONS, and `inject()`
 * puts bytes between two of Kamailio's messages, byte-exact.
 *
 * What the daemon sends back is routed by Call-ID: a response to a request Kamailio sent goes to
 * Kamailio, a response to an injected request (and any request in such a call) stays here, in
 * `received`; every other request of the daemon (REGISTER, OPTIONS, BYE of a real call) goes up.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import WebSocket, { WebSocketServer } from "ws";
import { StreamFramer } from "../../src/sip/framing.js";
import { parse, type Received } from "../sip/fake-registrar.js";
import { headerValues } from "./ws-sip-peer.js";

export type RelayKind = "ws" | "tcp";

export interface SipRelay {
  /** Where the daemon connects: `ws://127.0.0.1:P` or `tcp://127.0.0.1:P`. */
  readonly url: string;
  /** Connections the daemon has opened so far. */
  readonly connections: number;
  /** Whether the daemon is connected now. */
  readonly connected: boolean;
  /** The Contact URI of the daemon's latest REGISTER. */
  readonly contact: string | null;
  /** Messages of the daemon kept here (answers to injected requests, requests in their calls). */
  readonly received: Received[];
  /** Pushes bytes to the daemon: one WebSocket message (binary when not UTF-8), or stream bytes. */
  inject(bytes: Buffer | string): void;
  /** The first kept message from index `since` on that matches, waiting up to `timeoutMs`. */
  waitFor(pred: (m: Received) => boolean, timeoutMs?: number, since?: number): Promise<Received>;
  close(): Promise<void>;
}

interface Pipe {
  /** To the daemon. */
  down(bytes: Buffer | string): void;
  close(): void;
}

export async function startSipRelay(
  kind: RelayKind,
  pbx: { wsPort: number; tcpPort: number },
): Promise<SipRelay> {
  const received: Received[] = [];
  const waiters: Array<{ pred: (m: Received) => boolean; resolve: (m: Received) => void }> = [];
  const pbxCalls = new Set<string>();
  const keptCalls = new Set<string>();
  let current: Pipe | null = null;
  let connections = 0;
  let contact: string | null = null;

  const callId = (m: Received): string => m.header("call-id") ?? m.header("i") ?? "";
  const keep = (m: Received): void => {
    keptCalls.add(callId(m));
    received.push(m);
    for (const w of [...waiters]) {
      if (w.pred(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  /** A message from the daemon: up to Kamailio (true) or kept here (false). */
  const goesUp = (text: string): boolean => {
    const m = parse(text);
    const id = callId(m);
    const isResponse = m.firstLine.startsWith("SIP/2.0 ");
    if (isResponse ? pbxCalls.has(id) : !keptCalls.has(id)) {
      if (m.firstLine.startsWith("REGISTER ")) {
        // the binding it asks for (not one it removes with expires=0, RFC 3261 §10.2.2)
        const asked = headerValues(text.split("\r\n\r\n")[0] ?? "", "Contact").find(
          (c) => !/;\s*expires\s*=\s*0(?!\d)/i.test(c),
        );
        contact = /<([^>]+)>/.exec(asked ?? "")?.[1] ?? null;
      }
      return true;
    }
    keep(m);
    return false;
  };
  const fromPbx = (text: string): void => {
    if (!/^(\r\n)*$/.test(text)) pbxCalls.add(callId(parse(text)));
  };

  let server: Server | WebSocketServer;
  if (kind === "ws") {
    const wss = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      handleProtocols: (protocols) => (protocols.has("sip") ? "sip" : false),
    });
    await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
    wss.on("connection", (desk) => {
      connections++;
      const up = new WebSocket(`ws://127.0.0.1:${pbx.wsPort}`, "sip");
      const queue: string[] = [];
      up.on("open", () => {
        for (const t of queue.splice(0)) up.send(t);
      });
      up.on("message", (data) => {
        const text = data.toString();
        fromPbx(text);
        if (desk.readyState === WebSocket.OPEN) desk.send(text);
      });
      desk.on("message", (data) => {
        const text = data.toString();
        if (/^(\r\n)+$/.test(text) || goesUp(text)) {
          if (up.readyState === WebSocket.OPEN) up.send(text);
          else queue.push(text);
        }
      });
      const pipe: Pipe = {
        down: (bytes) => {
          const buf = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
          // A text frame must be UTF-8 (RFC 6455 §8.1): other bytes go as a binary frame.
          desk.send(buf, { binary: Buffer.from(buf.toString("utf8")).equals(buf) === false });
        },
        close: () => {
          desk.terminate();
          up.terminate();
        },
      };
      current = pipe;
      const gone = () => {
        if (current === pipe) current = null;
        pipe.close();
      };
      desk.on("close", gone);
      up.on("close", gone);
      desk.on("error", gone);
      up.on("error", gone);
    });
    server = wss;
  } else {
    const tcp = createServer((desk: Socket) => {
      connections++;
      const up = tcpConnect({ host: "127.0.0.1", port: pbx.tcpPort });
      const fromDesk = new StreamFramer(1 << 20);
      const fromUp = new StreamFramer(1 << 20);
      const pipe: Pipe = {
        down: (bytes) => desk.write(bytes),
        close: () => {
          desk.destroy();
          up.destroy();
        },
      };
      current = pipe;
      const gone = () => {
        if (current === pipe) current = null;
        pipe.close();
      };
      desk.on("data", (chunk: Buffer) => {
        try {
          for (const f of fromDesk.push(chunk)) {
            if (f.kind === "ping") up.write("\r\n\r\n");
            else if (f.kind === "pong") up.write("\r\n");
            else if (goesUp(f.text)) up.write(f.text);
          }
        } catch {
          gone();
        }
      });
      up.on("data", (chunk: Buffer) => {
        try {
          for (const f of fromUp.push(chunk)) {
            if (f.kind === "ping") desk.write("\r\n\r\n");
            else if (f.kind === "pong") desk.write("\r\n");
            else {
              fromPbx(f.text);
              desk.write(f.text);
            }
          }
        } catch {
          gone();
        }
      });
      for (const s of [desk, up]) {
        s.setNoDelay(true);
        s.on("close", gone);
        s.on("error", gone);
      }
    });
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", () => resolve()));
    server = tcp;
  }
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;

  return {
    url: `${kind}://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    get connected() {
      return current !== null;
    },
    get contact() {
      return contact;
    },
    received,
    inject(bytes) {
      if (!current) throw new Error("the daemon is not connected to the relay");
      current.down(bytes);
    },
    waitFor(pred, timeoutMs = 5000, since = 0) {
      const seen = received.slice(since).find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          pred,
          resolve: (m: Received) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no matching message from the daemon within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    async close() {
      current?.close();
      current = null;
      if (server instanceof WebSocketServer) {
        for (const c of server.clients) c.terminate();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      } else {
        await new Promise<void>((resolve) => (server as Server).close(() => resolve()));
      }
    },
  };
}
