/**
 * One connection to one SIP server, whatever carries it: a WebSocket (RFC 7118, `ws` package,
 * subprotocol "sip") or a TCP/TLS stream framed per RFC 3261 §18.3. Nothing of sip.js here.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import WebSocket from "ws";
import { FramingError, StreamFramer } from "./framing.js";
import type { SipServer } from "./server-url.js";

export interface TlsTrust {
  /** PEM CA certificates to trust instead of the system store; undefined = system store. */
  readonly ca?: string;
  readonly rejectUnauthorized: boolean;
}

export interface LinkHandlers {
  /** One SIP message (text). */
  message(text: string): void;
  /** RFC 5626 §4.4.1 double-CRLF ping from the server (answer with a pong). */
  ping(): void;
  /** The link is gone; `error` unless we closed it. Called once. */
  closed(error?: Error): void;
}

export interface Link {
  readonly server: SipServer;
  /** Our end of the connection (null for WebSockets, whose Contact uses a `.invalid` host, RFC 7118 §5). */
  readonly local: { readonly address: string; readonly port: number } | null;
  send(text: string): void;
  /** CRLF keep-alive ping (RFC 5626 §4.4.1; for WebSockets a text message, as sip.js and Kamailio do). */
  keepAlive(): void;
  /** Answer to a ping. */
  pong(): void;
  close(): void;
}

export function openLink(
  server: SipServer,
  trust: TlsTrust,
  timeoutMs: number,
  handlers: LinkHandlers,
): Promise<Link> {
  return server.kind === "ws" || server.kind === "wss"
    ? openWebSocket(server, trust, timeoutMs, handlers)
    : openStream(server, trust, timeoutMs, handlers);
}

function openWebSocket(
  server: SipServer,
  trust: TlsTrust,
  timeoutMs: number,
  h: LinkHandlers,
): Promise<Link> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.url, "sip", {
      handshakeTimeout: timeoutMs,
      rejectUnauthorized: trust.rejectUnauthorized,
      ...(trust.ca !== undefined ? { ca: trust.ca } : {}),
      perMessageDeflate: false,
      maxPayload: 256 * 1024,
    });
    let open = false;
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      if (open) h.closed(error);
      else reject(error ?? new Error("WebSocket closed before it opened"));
    };
    ws.on("open", () => {
      if (ws.protocol !== "sip") {
        // RFC 7118 §4.1: the server MUST accept the "sip" subprotocol.
        ws.terminate();
        finish(new Error(`server did not accept the "sip" WebSocket subprotocol`));
        return;
      }
      open = true;
      resolve(link);
    });
    ws.on("message", (data, isBinary) => {
      const text = Array.isArray(data)
        ? Buffer.concat(data).toString("utf8")
        : Buffer.isBuffer(data)
          ? data.toString("utf8")
          : Buffer.from(data).toString("utf8");
      void isBinary;
      if (/^(\r\n)+$/.test(text)) {
        if (text.length >= 4) h.ping();
        return;
      }
      if (text.length === 0) return;
      h.message(text);
    });
    ws.on("error", (error) => finish(error));
    ws.on("close", (code, reason) =>
      finish(done ? undefined : new Error(`WebSocket closed (${code} ${reason.toString()})`)),
    );
    const link: Link = {
      server,
      local: null,
      send: (text) => ws.send(text),
      keepAlive: () => ws.send("\r\n\r\n"),
      pong: () => ws.send("\r\n"),
      close: () => {
        if (done) return;
        done = true;
        ws.terminate();
        h.closed();
      },
    };
  });
}

function openStream(server: SipServer, trust: TlsTrust, timeoutMs: number, h: LinkHandlers): Promise<Link> {
  return new Promise((resolve, reject) => {
    const secure = server.kind === "tls";
    const socket: net.Socket = secure
      ? tls.connect({
          host: server.host,
          port: server.port,
          rejectUnauthorized: trust.rejectUnauthorized,
          ...(trust.ca !== undefined ? { ca: trust.ca } : {}),
          // SNI only for names (RFC 6066 §3).
          ...(net.isIP(server.host) === 0 ? { servername: server.host } : {}),
        })
      : net.connect({ host: server.host, port: server.port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    const framer = new StreamFramer();
    let open = false;
    let done = false;
    const timer = setTimeout(
      () => socket.destroy(new Error(`connect timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const finish = (error?: Error) => {
      clearTimeout(timer);
      if (done) return;
      done = true;
      socket.destroy();
      if (open) h.closed(error);
      else reject(error ?? new Error("connection closed before it opened"));
    };
    socket.once(secure ? "secureConnect" : "connect", () => {
      clearTimeout(timer);
      open = true;
      resolve({
        server,
        local: { address: socket.localAddress ?? "127.0.0.1", port: socket.localPort ?? 0 },
        send: (text) => socket.write(text),
        keepAlive: () => socket.write("\r\n\r\n"),
        pong: () => socket.write("\r\n"),
        close: () => {
          if (done) return;
          done = true;
          socket.destroy();
          h.closed();
        },
      });
    });
    socket.on("data", (chunk: Buffer) => {
      let frames: ReturnType<StreamFramer["push"]>;
      try {
        frames = framer.push(chunk);
      } catch (error) {
        // RFC 3261 §18.3: a stream that cannot be framed cannot be resynchronised.
        finish(error instanceof FramingError ? error : new Error(String(error)));
        return;
      }
      for (const f of frames) {
        if (done) return;
        if (f.kind === "message") h.message(f.text);
        else if (f.kind === "ping") h.ping();
      }
    });
    socket.on("error", (error) => finish(error));
    socket.on("close", () => finish(done ? undefined : new Error("connection closed by the server")));
  });
}
