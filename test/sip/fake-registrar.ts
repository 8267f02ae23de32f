/**
 * A scripted SIP server over WebSocket (RFC 7118) for tests that must send the daemon what no
 * real PBX would: it accepts the daemon's connection, answers REGISTER and OPTIONS with 200, and
 * lets the test push raw messages down the daemon's registered connection and read its answers.
 */
import { randomBytes } from "node:crypto";
import { type WebSocket, WebSocketServer } from "ws";

export interface Received {
  readonly text: string;
  readonly firstLine: string;
  header(name: string): string | undefined;
}

export class FakeRegistrar {
  readonly received: Received[] = [];
  registers = 0;
  connections = 0;
  /** Status line REGISTER gets (e.g. "403 Forbidden" for a registrar that refuses us). */
  registerStatus = "200 OK";
  /** The status line an OPTIONS gets (null: no answer at all); 200 OK unless a test changes it. */
  answerOptions: (m: Received) => string | null = () => "200 OK";
  private socket: WebSocket | null = null;
  private waiters: Array<{ pred: (m: Received) => boolean; resolve: (m: Received) => void }> = [];

  private constructor(private readonly server: WebSocketServer) {
    server.on("connection", (ws) => {
      this.connections++;
      this.socket = ws;
      ws.on("message", (data) => this.onMessage(ws, data.toString()));
    });
  }

  static start(): Promise<FakeRegistrar> {
    return new Promise((resolve) => {
      const server = new WebSocketServer({
        host: "127.0.0.1",
        port: 0,
        handleProtocols: (protocols) => (protocols.has("sip") ? "sip" : false),
      });
      server.on("listening", () => resolve(new FakeRegistrar(server)));
    });
  }

  get url(): string {
    const a = this.server.address();
    return `ws://127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
  }

  /** Pushes one WebSocket message to the daemon: text, or bytes as a binary frame (byte-exact). */
  send(text: string | Buffer): void {
    if (!this.socket) throw new Error("daemon not connected");
    this.socket.send(text);
  }

  waitFor(pred: (m: Received) => boolean, timeoutMs = 5000, since = 0): Promise<Received> {
    const seen = this.received.slice(since).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no matching message from the daemon")), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  close(): Promise<void> {
    for (const c of this.server.clients) c.terminate();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private onMessage(ws: WebSocket, text: string): void {
    if (/^(\r\n)+$/.test(text)) return;
    const m = parse(text);
    this.received.push(m);
    for (const w of [...this.waiters]) {
      if (w.pred(m)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
    if (m.firstLine.startsWith("REGISTER ")) {
      this.registers++;
      const contact = m.header("contact")?.replace(/;expires=\d+/, "") ?? "";
      if (this.registerStatus !== "200 OK") ws.send(response(m, this.registerStatus));
      else ws.send(response(m, "200 OK", [`Contact: ${contact};expires=300`]));
    } else if (m.firstLine.startsWith("OPTIONS ")) {
      const status = this.answerOptions(m);
      if (status !== null) ws.send(response(m, status));
    }
  }
}

export function parse(text: string): Received {
  const head = text.split("\r\n\r\n")[0] ?? "";
  const lines = head.split("\r\n");
  return {
    text,
    firstLine: lines[0] ?? "",
    header(name: string) {
      const n = name.toLowerCase();
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        if (i > 0 && l.slice(0, i).trim().toLowerCase() === n) return l.slice(i + 1).trim();
      }
      return undefined;
    },
  };
}

export function response(req: Received, status: string, extra: string[] = [], body = ""): string {
  const to = req.header("to") ?? "";
  return [
    `SIP/2.0 ${status}`,
    `Via: ${req.header("via")}`,
    `From: ${req.header("from")}`,
    `To: ${/;tag=/.test(to) ? to : `${to};tag=${randomBytes(4).toString("hex")}`}`,
    `Call-ID: ${req.header("call-id")}`,
    `CSeq: ${req.header("cseq")}`,
    ...extra,
    `Content-Length: ${Buffer.byteLength(body)}`,
    "",
    body,
  ].join("\r\n");
}

/**
 * An INVITE from the fake PBX to the daemon's contact, with `sdp` as its body. `ids` fixes the
 * branch and From tag (random otherwise), for tests that need the same bytes every run.
 */
export function invite(
  contact: string,
  callId: string,
  sdp: string,
  extraHeaders: string[] = [],
  ids: { readonly branch?: string; readonly tag?: string } = {},
): string {
  const branch = ids.branch ?? `z9hG4bK${randomBytes(6).toString("hex")}`;
  return [
    `INVITE ${contact} SIP/2.0`,
    `Via: SIP/2.0/WS pbx.invalid;branch=${branch}`,
    "Max-Forwards: 70",
    `From: "Caller" <sip:5551234@127.0.0.1>;tag=${ids.tag ?? randomBytes(4).toString("hex")}`,
    `To: <${contact}>`,
    `Call-ID: ${callId}`,
    "CSeq: 1 INVITE",
    "Contact: <sip:pbx@pbx.invalid;transport=ws>",
    ...extraHeaders,
    "Content-Type: application/sdp",
    `Content-Length: ${Buffer.byteLength(sdp)}`,
    "",
    sdp,
  ].join("\r\n");
}

export function sdpOffer(port: number): string {
  return [
    "v=0",
    "o=- 1 1 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    `m=audio ${port} RTP/AVP 0 101`,
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=sendrecv",
    "",
  ].join("\r\n");
}

/**
 * A request from the PBX inside the dialog our 200 OK `ok` set up (ACK, BYE, re-INVITE...), to
 * the Contact the 200 named (`fallbackTarget` when it named none). A body is sent as SDP.
 */
export function inDialogRequest(
  ok: Received,
  method: string,
  cseq: number,
  options: { extra?: string[]; body?: string; contact?: boolean; fallbackTarget?: string } = {},
): string {
  const body = options.body ?? "";
  const remote = /<([^>]+)>/.exec(ok.header("contact") ?? "")?.[1] ?? options.fallbackTarget ?? "";
  return [
    `${method} ${remote} SIP/2.0`,
    `Via: SIP/2.0/WS pbx.invalid;branch=z9hG4bK${randomBytes(6).toString("hex")}`,
    "Max-Forwards: 70",
    `From: ${ok.header("from")}`,
    `To: ${ok.header("to")}`,
    `Call-ID: ${ok.header("call-id")}`,
    `CSeq: ${cseq} ${method}`,
    ...(options.contact ? ["Contact: <sip:pbx@pbx.invalid;transport=ws>"] : []),
    ...(options.extra ?? []),
    ...(body ? ["Content-Type: application/sdp"] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    "",
    body,
  ].join("\r\n");
}
