/**
 * A minimal raw SIP-over-WebSocket peer that behaves like sip.js on the wire (random `*.invalid`
 * host in Via and Contact, no port), to prove the lab's WebSocket routing without the daemon:
 * REGISTER with digest (qop=auth), answer an INVITE, send or answer an in-dialog BYE.
 * Not a SIP stack: one dialog at a time, no retransmissions (reliable transport).
 */
import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import WebSocket from "ws";
import type { Kamailio } from "./kamailio.js";
import { waitUntil } from "./proc.js";

const md5 = (s: string): string => createHash("md5").update(s).digest("hex");
const token = (): string => randomBytes(5).toString("hex");

/** Values of a header (full name only) in a SIP message. */
export function headerValues(message: string, name: string): string[] {
  const prefix = `${name.toLowerCase()}:`;
  return message
    .split("\r\n")
    .filter((line) => line.toLowerCase().startsWith(prefix))
    .map((line) => line.slice(prefix.length).trim());
}

export interface WsSipPeer {
  readonly host: string;
  /** Resolves with the first received message (not yet taken) that matches; takes it. */
  next(match: (message: string) => boolean, timeoutMs?: number): Promise<string>;
  send(message: string): void;
  /**
   * Answers an INVITE with 200 OK and `sdp` (default a dummy PCMU SDP); returns the To header
   * with our tag.
   */
  answer(invite: string, sdp?: string): string;
  /**
   * Places a call as a browser would (sip.js on the wire): INVITE with `sdp` to `uri`, answering
   * Kamailio's 407 with digest credentials, and resolves with the final response. See WsCall.
   */
  invite(uri: string, sdp: string, timeoutMs?: number): Promise<WsCall>;
  /** Sends BYE inside the dialog of an INVITE we answered (`to` from answer()); resolves with the reply. */
  bye(invite: string, to: string): Promise<string>;
  /** Replies 200 OK to a request. */
  ok(request: string): void;
  close(): void;
}

/** A call placed by `invite()`. */
export interface WsCall {
  /** The final response (2xx or the error). */
  readonly response: string;
  /** Its status code. */
  readonly status: number;
  /** The SDP of the final response ("" when none). */
  readonly answer: string;
  /**
   * ACKs the final response: a 2xx through the Record-Route set to the callee's Contact; an error
   * hop by hop, with the INVITE's Via (RFC 3261 §17.1.1.3), so the proxy's transaction ends.
   */
  ack(): void;
  /** Sends BYE in the dialog; resolves with its response. */
  bye(): Promise<string>;
  /**
   * Sends a re-INVITE with `sdp` in the dialog (a 2xx is ACKed at once) and resolves with its
   * final response.
   */
  reinvite(sdp: string): Promise<WsCall["response"]>;
}

/** The body of a SIP message (after the blank line). */
export function sipBody(message: string): string {
  const at = message.indexOf("\r\n\r\n");
  return at < 0 ? "" : message.slice(at + 4);
}

export async function connectWsSipPeer(
  kamailio: Kamailio,
  user: string,
  opts: { secure?: boolean } = {},
): Promise<WsSipPeer> {
  const password = kamailio.users[user];
  if (password === undefined) throw new Error(`user ${user} is not a lab user`);
  const secure = opts.secure ?? false;
  const url = secure
    ? `wss://${kamailio.domain}:${kamailio.wssPort}`
    : `ws://${kamailio.domain}:${kamailio.wsPort}`;
  const ws = new WebSocket(url, "sip", secure ? { ca: await readFile(kamailio.caFile) } : {});
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const inbox: string[] = [];
  ws.on("message", (data) => inbox.push(data.toString()));
  const host = `${token()}.invalid`;
  const via = (): string => `Via: SIP/2.0/${secure ? "WSS" : "WS"} ${host};branch=z9hG4bK${token()}`;
  const contact = `<sip:${token()}@${host};transport=ws>`;
  const domain = kamailio.domain;

  const next = (match: (message: string) => boolean, timeoutMs = 5000): Promise<string> =>
    waitUntil(
      "a matching SIP message on the WebSocket",
      () => {
        const at = inbox.findIndex(match);
        return at >= 0 ? inbox.splice(at, 1)[0] : undefined;
      },
      timeoutMs,
      10,
    );
  const send = (message: string): void => ws.send(message);

  const tag = token();
  const callId = token();
  const register = (cseq: number, authorization?: string): void =>
    send(
      [
        `REGISTER sip:${domain} SIP/2.0`,
        via(),
        "Max-Forwards: 70",
        `To: <sip:${user}@${domain}>`,
        `From: <sip:${user}@${domain}>;tag=${tag}`,
        `Call-ID: ${callId}`,
        `CSeq: ${cseq} REGISTER`,
        `Contact: ${contact};expires=600`,
        ...(authorization ? [authorization] : []),
        "Content-Length: 0",
        "",
        "",
      ].join("\r\n"),
    );
  register(1);
  const challenge = await next((m) => m.startsWith("SIP/2.0 401"));
  const www = headerValues(challenge, "WWW-Authenticate")[0] ?? "";
  const nonce = /nonce="([^"]+)"/.exec(www)?.[1] ?? "";
  const realm = /realm="([^"]+)"/.exec(www)?.[1] ?? "";
  const cnonce = token();
  const ha1 = md5(`${user}:${realm}:${password}`);
  const ha2 = md5(`REGISTER:sip:${domain}`);
  const response = md5(`${ha1}:${nonce}:00000001:${cnonce}:auth:${ha2}`);
  register(
    2,
    `Authorization: Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="sip:${domain}", ` +
      `response="${response}", qop=auth, nc=00000001, cnonce="${cnonce}", algorithm=MD5`,
  );
  const registered = await next((m) => m.startsWith("SIP/2.0 ") && m.includes("REGISTER"));
  if (!registered.startsWith("SIP/2.0 200")) {
    ws.close();
    throw new Error(`REGISTER over ${url} failed: ${registered.split("\r\n")[0]}`);
  }

  const copy = (message: string, names: RegExp): string[] =>
    message.split("\r\n").filter((line) => names.test(line));

  return {
    host,
    next,
    send,
    answer(invite, answerSdp) {
      const to = `${headerValues(invite, "To")[0]};tag=${token()}`;
      const sdp =
        answerSdp ??
        [
          "v=0",
          "o=- 1 1 IN IP4 127.0.0.1",
          "s=-",
          "c=IN IP4 127.0.0.1",
          "t=0 0",
          "m=audio 9 RTP/AVP 0",
          "a=rtpmap:0 PCMU/8000",
          "",
        ].join("\r\n");
      send(
        [
          "SIP/2.0 200 OK",
          ...copy(invite, /^(Via|From|Call-ID|CSeq|Record-Route):/i),
          `To: ${to}`,
          `Contact: ${contact}`,
          "Content-Type: application/sdp",
          `Content-Length: ${Buffer.byteLength(sdp)}`,
          "",
          sdp,
        ].join("\r\n"),
      );
      return to;
    },
    async bye(invite, to) {
      // UAS side of the dialog: route set = Record-Route in order, target = caller's Contact.
      const routes = headerValues(invite, "Record-Route").flatMap((v) => v.split(",").map((r) => r.trim()));
      const target = /<([^>]+)>/.exec(headerValues(invite, "Contact")[0] ?? "")?.[1] ?? "";
      send(
        [
          `BYE ${target} SIP/2.0`,
          via(),
          "Max-Forwards: 70",
          ...routes.map((r) => `Route: ${r}`),
          `From: ${to}`,
          `To: ${headerValues(invite, "From")[0]}`,
          `Call-ID: ${headerValues(invite, "Call-ID")[0]}`,
          "CSeq: 1 BYE",
          "Content-Length: 0",
          "",
          "",
        ].join("\r\n"),
      );
      return next((m) => m.startsWith("SIP/2.0 ") && /^CSeq:\s*1 BYE/im.test(m));
    },
    async invite(uri, sdp, timeoutMs = 10_000) {
      const callTag = token();
      const callCallId = `${token()}${token()}`;
      const from = `<sip:${user}@${domain}>;tag=${callTag}`;
      const toUri = `<${uri}>`;
      const isFor = (m: string, cseq: number, method: string): boolean =>
        m.startsWith("SIP/2.0 ") &&
        headerValues(m, "Call-ID")[0] === callCallId &&
        new RegExp(`^CSeq:\\s*${cseq} ${method}\\s*$`, "im").test(m);
      const finalFor = (cseq: number): Promise<string> =>
        next((m) => isFor(m, cseq, "INVITE") && !/^SIP\/2\.0 1\d\d /.test(m), timeoutMs);
      const request = (cseq: number, viaLine: string, extra: string[]): string =>
        [
          `INVITE ${uri} SIP/2.0`,
          viaLine,
          "Max-Forwards: 70",
          `To: ${toUri}`,
          `From: ${from}`,
          `Call-ID: ${callCallId}`,
          `CSeq: ${cseq} INVITE`,
          `Contact: ${contact}`,
          "Supported: outbound",
          ...extra,
          "Content-Type: application/sdp",
          `Content-Length: ${Buffer.byteLength(sdp)}`,
          "",
          sdp,
        ].join("\r\n");
      // First without credentials: the lab answers 407 (ACKed hop by hop, same branch).
      let viaLine = via();
      send(request(1, viaLine, []));
      let response = await finalFor(1);
      if (response.startsWith("SIP/2.0 407") || response.startsWith("SIP/2.0 401")) {
        send(
          [
            `ACK ${uri} SIP/2.0`,
            viaLine,
            "Max-Forwards: 70",
            `To: ${headerValues(response, "To")[0]}`,
            `From: ${from}`,
            `Call-ID: ${callCallId}`,
            "CSeq: 1 ACK",
            "Content-Length: 0",
            "",
            "",
          ].join("\r\n"),
        );
        const proxy = response.startsWith("SIP/2.0 407");
        const challenge = headerValues(response, proxy ? "Proxy-Authenticate" : "WWW-Authenticate")[0] ?? "";
        const nonce = /nonce="([^"]+)"/.exec(challenge)?.[1] ?? "";
        const realm = /realm="([^"]+)"/.exec(challenge)?.[1] ?? "";
        const cnonce = token();
        const digest = md5(
          `${md5(`${user}:${realm}:${password}`)}:${nonce}:00000001:${cnonce}:auth:${md5(`INVITE:${uri}`)}`,
        );
        viaLine = via();
        send(
          request(2, viaLine, [
            `${proxy ? "Proxy-Authorization" : "Authorization"}: Digest username="${user}", realm="${realm}", ` +
              `nonce="${nonce}", uri="${uri}", response="${digest}", qop=auth, nc=00000001, ` +
              `cnonce="${cnonce}", algorithm=MD5`,
          ]),
        );
        response = await finalFor(2);
      }
      const final = response;
      const cseq = Number(/^CSeq:\s*(\d+)/im.exec(final)?.[1] ?? "0");
      const status = Number(final.slice(8, 11));
      // UAC side of the dialog: route set = Record-Route reversed, target = callee's Contact.
      const routes = headerValues(final, "Record-Route")
        .flatMap((v) => v.split(",").map((r) => r.trim()))
        .reverse();
      const target = /<([^>]+)>/.exec(headerValues(final, "Contact")[0] ?? "")?.[1] ?? uri;
      const to = headerValues(final, "To")[0] ?? toUri;
      const inDialog = (method: string, seq: number, body = ""): string =>
        [
          `${method} ${target} SIP/2.0`,
          via(),
          "Max-Forwards: 70",
          ...routes.map((r) => `Route: ${r}`),
          `To: ${to}`,
          `From: ${from}`,
          `Call-ID: ${callCallId}`,
          `CSeq: ${seq} ${method}`,
          ...(body ? [`Contact: ${contact}`, "Content-Type: application/sdp"] : []),
          `Content-Length: ${Buffer.byteLength(body)}`,
          "",
          body,
        ].join("\r\n");
      let lastSeq = cseq;
      return {
        response: final,
        status,
        answer: sipBody(final),
        ack() {
          if (status < 300) {
            send(inDialog("ACK", cseq));
            return;
          }
          send(
            [
              `ACK ${uri} SIP/2.0`,
              viaLine,
              "Max-Forwards: 70",
              `To: ${to}`,
              `From: ${from}`,
              `Call-ID: ${callCallId}`,
              `CSeq: ${cseq} ACK`,
              "Content-Length: 0",
              "",
              "",
            ].join("\r\n"),
          );
        },
        bye() {
          const seq = ++lastSeq;
          send(inDialog("BYE", seq));
          return next((m) => isFor(m, seq, "BYE"), timeoutMs);
        },
        async reinvite(body) {
          const seq = ++lastSeq;
          send(inDialog("INVITE", seq, body));
          const final = await finalFor(seq);
          if (/^SIP\/2\.0 2\d\d /.test(final)) send(inDialog("ACK", seq));
          return final;
        },
      };
    },
    ok(request) {
      send(
        [
          "SIP/2.0 200 OK",
          ...copy(request, /^(Via|From|To|Call-ID|CSeq):/i),
          "Content-Length: 0",
          "",
          "",
        ].join("\r\n"),
      );
    },
    close() {
      ws.close();
    },
  };
}
