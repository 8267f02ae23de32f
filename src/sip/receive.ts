/**
 * sip.js's `UserAgent.onTransportMessage`, done once and fenced: the message is parsed once, a
 * request sip.js cannot parse is answered 400 when a response can be built (RFC 3261 §8.2.6,
 * §21.4.1) instead of silently dropped, and the sanity checks sip.js makes are kept (RFC 3261
 * §8.1.1 mandatory headers, §8.1.3.3 one Via in a response, §18.3 body length). Anything thrown
 * inside sip.js while handling the message is caught and logged.
 */
import type { UserAgent } from "sip.js";
import type { Logger } from "../log/logger.js";
import { buildResponse } from "./guard.js";
import { Core } from "./sipjs.js";

export function makeReceiver(
  ua: UserAgent,
  sendRaw: (text: string) => void,
  log: Logger,
): (text: string) => void {
  const parserLog = ua.getLogger("sip.Parser");
  const conf = ua.configuration;
  const answer = (text: string, status: number, why: string) => {
    log.warn({ why, status }, "refused an incoming request");
    const response = buildResponse(text, status);
    if (response !== null) sendRaw(response);
  };
  return (text: string) => {
    let message: ReturnType<typeof Core.Parser.parseMessage>;
    try {
      message = Core.Parser.parseMessage(text, parserLog);
    } catch (error) {
      log.warn({ error: String(error) }, "parser threw");
      message = undefined;
    }
    const isRequest = !text.startsWith("SIP/");
    if (!message) {
      if (isRequest && !/^ACK /i.test(text)) answer(text, 400, "unparsable request");
      else log.warn("dropped an unparsable message");
      return;
    }
    const hasMinimum = ["from", "to", "call_id", "cseq", "via"].every((h) => message.hasHeader(h));
    if (message instanceof Core.IncomingRequestMessage) {
      if (!hasMinimum || !message.ruri) {
        if (message.method !== "ACK") answer(text, 400, "request missing a mandatory header or Request-URI");
        return;
      }
      // sip.js's own loop check: a request we sent that came back to us. Our liveness OPTIONS
      // to our own AOR comes back on purpose (sip-agent.ts), and is answered 200.
      if (!message.toTag && message.method !== "OPTIONS" && message.callId.substring(0, 5) === conf.sipjsId) {
        ua.userAgentCore.replyStateless(message, { statusCode: 482 });
        return;
      }
      // RFC 3262 §3: a PRACK matching no unacknowledged reliable provisional response gets 481;
      // the desk never sends reliable provisional responses, so none can match.
      if (message.method === "PRACK") {
        ua.userAgentCore.replyStateless(message, { statusCode: 481 });
        return;
      }
      const declared = message.getHeader("content-length");
      if (declared && Buffer.byteLength(message.body, "utf8") < Number(declared)) {
        if (message.method !== "ACK") ua.userAgentCore.replyStateless(message, { statusCode: 400 });
        return;
      }
      // RFC 3261 §17.2.3: sip.js keys server transactions by the top Via's branch alone, so
      // requests without one (RFC 2543 style, RFC 4475 §3.4.1 inv2543, or a mangled Via) would
      // all share the key `undefined`, and a second INVITE be absorbed as a retransmission of the
      // first and never answered. They get the RFC 2543 matching key instead (Request-URI, From
      // tag, Call-ID, CSeq number, top Via: the same for the INVITE, its CANCEL and its ACK).
      if (!message.viaBranch) message.viaBranch = rfc2543Key(message);
      ua.userAgentCore.receiveIncomingRequestFromTransport(message);
      return;
    }
    if (message instanceof Core.IncomingResponseMessage) {
      if (!hasMinimum || message.getHeaders("via").length > 1) {
        log.warn("dropped a response with missing headers or several Vias");
        return;
      }
      if (message.via.host !== conf.viaHost || message.via.port !== undefined) {
        log.warn("dropped a response whose Via is not ours");
        return;
      }
      ua.userAgentCore.receiveIncomingResponseFromTransport(message);
    }
  };
}

/** The transaction key of a request without a Via branch (RFC 3261 §17.2.3, RFC 2543 rules). */
export function rfc2543Key(message: Core.IncomingRequestMessage): string {
  return [
    "rfc2543",
    String(message.ruri),
    message.fromTag ?? "",
    message.callId,
    message.cseq,
    message.getHeaders("via")[0] ?? "",
  ].join("|");
}
