/**
 * Requests inside a call's dialog that sip.js 0.21 leaves unanswered or answers wrongly, answered
 * here (RFC 3261 §12.2.2: every request gets a final response):
 *
 * | request | sip.js alone                                  | here                                              |
 * |---------|-----------------------------------------------|---------------------------------------------------|
 * | INFO    | 200 and dropped; nothing once not Established | DTMF bodies read (info-dtmf.ts) → 200; 400; 415; 469 |
 * | REFER   | 202 and a failing INVITE                       | the call table's handler (refer.ts) or 603        |
 * | NOTIFY  | 200 to anything                                | our REFER's NOTIFYs as before, else 481           |
 * | MESSAGE | nothing once not Established                   | 200 (logged), 481 once the call is over           |
 * | PRACK   | "Unimplemented" thrown: no response            | 481, in receive.ts (no reliable 1xx is ever sent) |
 *
 * A request that arrives while the call is ending (our BYE sent) gets 481: the dialog is going.
 * sip.js dispatches in-dialog requests to the session's `on<Method>Request` methods (called through
 * arrow functions at request time), so overriding them on the session instance is enough.
 */
import type { Core, Session } from "sip.js";
import type { Logger } from "../log/logger.js";
import { INFO_ACCEPT, readInfoDtmf } from "./info-dtmf.js";
import { SessionState } from "./sipjs.js";

type Request = Core.IncomingRequest;

export interface InDialogHandlers {
  /** A DTMF digit received in an INFO (the same path as RFC 4733 digits). */
  readonly digit: (digit: string) => void;
  /** A REFER on the established call: the handler answers it. */
  readonly refer: (request: Request) => void;
}

interface SessionInternals {
  onInfoRequest(request: Request): void;
  onMessageRequest(request: Request): void;
  onNotifyRequest(request: Request): void;
  onReferRequest(request: Request): void;
  /** Set by sip.js while a REFER we sent waits for its NOTIFYs. */
  onNotify?: unknown;
}

export function answerInDialog(session: Session, log: Logger, handlers: InDialogHandlers): void {
  const internals = session as unknown as SessionInternals;
  const originalNotify = internals.onNotifyRequest.bind(session);
  /** The INVITE dialog is confirmed (2xx sent or received) and not ending. */
  const live = () =>
    session.state === SessionState.Established || session.state === SessionState.Establishing;
  const gone = (request: Request, method: string): boolean => {
    if (live()) return false;
    log.info({ method, state: session.state }, "request for a call that is ending: 481");
    reply(log, request, 481);
    return true;
  };

  internals.onInfoRequest = (request) => {
    if (gone(request, "INFO")) return;
    const message = request.message;
    // RFC 6086 §4.2.2: we announce no Info Package (no Recv-Info), so any package is refused.
    const infoPackage = message.getHeader("info-package");
    if (infoPackage) {
      log.info({ infoPackage }, "INFO for an Info Package we do not take: 469");
      reply(log, request, 469, ["Recv-Info:"]);
      return;
    }
    const verdict = readInfoDtmf(message.getHeader("content-type"), message.body);
    switch (verdict.kind) {
      case "digit":
        reply(log, request, 200);
        handlers.digit(verdict.digit);
        return;
      case "flash":
        log.info("hook flash received by INFO (no meaning on a desk)");
        reply(log, request, 200);
        return;
      case "empty":
        reply(log, request, 200);
        return;
      case "unsupported":
        log.info({ contentType: verdict.contentType }, "INFO with a body we do not read: 415");
        reply(log, request, 415, [`Accept: ${INFO_ACCEPT}`]);
        return;
      case "malformed":
        log.warn({ why: verdict.why }, "malformed INFO DTMF: 400");
        reply(log, request, 400, [`Warning: 399 cuffia "${verdict.why.replace(/"/g, "'")}"`]);
        return;
    }
  };

  internals.onMessageRequest = (request) => {
    if (gone(request, "MESSAGE")) return;
    // RFC 3428: a desk has nowhere to show text; the message is acknowledged and logged (its size,
    // not its content: it may be personal data).
    log.info(
      { contentType: request.message.getHeader("content-type") ?? null, bytes: request.message.body.length },
      "MESSAGE received in a call (logged, not shown)",
    );
    reply(log, request, 200);
  };

  internals.onNotifyRequest = (request) => {
    if (gone(request, "NOTIFY")) return;
    // RFC 6665 §4.1.3: a NOTIFY that matches no subscription of ours gets 481. Our only
    // subscriptions in a call are the implicit ones of the REFERs we send (calls.ts transfer).
    if (!internals.onNotify) {
      log.info("NOTIFY without a subscription: 481");
      reply(log, request, 481);
      return;
    }
    originalNotify(request);
  };

  internals.onReferRequest = (request) => {
    if (session.state === SessionState.Establishing) {
      // Our 200 OK is not ACKed yet (RFC 3261 §14.2 spirit): ask the far end to try again.
      reply(log, request, 491);
      return;
    }
    if (gone(request, "REFER")) return;
    handlers.refer(request);
  };
}

export function reply(log: Logger, request: Request, statusCode: number, extraHeaders: string[] = []): void {
  try {
    if (statusCode < 300) request.accept({ statusCode, extraHeaders });
    else request.reject({ statusCode, extraHeaders });
  } catch (error) {
    log.warn({ statusCode, error: String(error) }, "could not answer an in-dialog request");
  }
}
