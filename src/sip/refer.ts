/**
 * An incoming REFER (RFC 3515): the far end transfers the desk to someone else.
 *
 * ```
 *  REFER ──refused (policy 603, bad 400/416/501, busy 491)──▶ the call goes on
 *    │ 202 Accepted, NOTIFY "SIP/2.0 100 Trying" (Subscription-State: active)
 *    ▼
 *  INVITE to the Refer-To URI (a new outbound call, the same route as dialling)
 *    │ 2xx                                          │ 3xx-6xx, no answer in 60 s, we hang up
 *    ▼                                              ▼
 *  NOTIFY "SIP/2.0 200 OK" (terminated)           NOTIFY "SIP/2.0 486 Busy Here" (terminated)
 *  call_transferred(by remote, ok)                call_transferred(by remote, not ok)
 *  BYE on the old call: ended "transferred",      the old call goes on (RFC 5589 §6.1: the
 *  followed by the new one                        transferor takes the caller back)
 * ```
 * Blind transfers only: a Refer-To carrying Replaces (attended transfer, RFC 3891) is refused with
 * 501. `Refer-Sub: false` (RFC 4488) is honoured: no NOTIFYs.
 */
import type { Core, Session, URI } from "sip.js";
import type { Logger } from "../log/logger.js";
import { reply } from "./in-dialog.js";
import { NameAddrHeader, SessionState } from "./sipjs.js";

type Request = Core.IncomingRequest;

/** How long the new call may ring before the transfer counts as failed. */
export const REFERRAL_RING_MS = 60_000;
/** How long we wait for the transferor to answer our final NOTIFY before ending the old call. */
const NOTIFY_WAIT_MS = 2000;

export interface ReferralHost {
  readonly log: Logger;
  /** sip.accept_refer: false refuses every REFER with 603 Decline. */
  readonly acceptRefer: boolean;
  /** Places the new call like a dial; `onFinal` gets its final status once. Null: it could not start. */
  place(uri: URI, extraHeaders: string[], onFinal: (code: number, reason: string) => void): string | null;
  /** Cancels (or ends) the new call. */
  drop(callId: string): void;
  /** The transfer's outcome, for the desk (call_transferred, by "remote"). */
  report(ok: boolean, target: string, detail: string): void;
  /** The new call is up: the old call ends "transferred", followed by it. */
  handOver(callId: string, target: string): void;
}

export class Referral {
  /** Resolves once the outcome is known and reported (and, on success, the hand-over done). */
  readonly settled: Promise<void>;
  private settle: () => void = () => {};
  private newCallId: string | null = null;
  private done = false;
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly session: Session,
    private readonly host: ReferralHost,
    /** The Event header of our NOTIFYs; null when the far end asked for none (Refer-Sub: false). */
    private readonly event: string | null,
    readonly target: string,
  ) {
    this.settled = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  /**
   * Answers a REFER received on an established call. Returns the referral being followed, or null
   * when the REFER was refused. `count` is how many REFERs this dialog received before this one;
   * `busy` says one is still being followed.
   */
  static receive(
    request: Request,
    session: Session,
    host: ReferralHost,
    count: number,
    busy: boolean,
  ): Referral | null {
    const log = host.log;
    const message = request.message;
    const refuse = (status: number, why: string): null => {
      log.info({ status, why }, "REFER refused");
      reply(log, request, status, [`Warning: 399 cuffia "${why}"`]);
      return null;
    };
    if (!host.acceptRefer) return refuse(603, "this desk does not follow transfers (sip.accept_refer)");
    // RFC 3515 §2.4.1: exactly one Refer-To (sip.js keeps only the last one it parsed).
    const head = message.data.split(/\r\n\r\n/)[0] ?? "";
    if ((head.match(/\r\n(refer-to|r)[ \t]*:/gi) ?? []).length !== 1)
      return refuse(400, "exactly one Refer-To");
    const referTo = message.parseHeader("refer-to") as unknown;
    if (!(referTo instanceof NameAddrHeader)) return refuse(400, "unreadable Refer-To");
    const uri = referTo.uri.clone();
    const scheme = uri.scheme.toLowerCase();
    if (scheme !== "sip" && scheme !== "sips") return refuse(416, `only sip: and sips: transfer targets`);
    if (uri.hasHeader("replaces"))
      return refuse(501, "attended transfer (Refer-To with Replaces) is not supported");
    const method = uri.getParam("method");
    if (typeof method === "string" && method.toUpperCase() !== "INVITE")
      return refuse(501, `Refer-To method ${method} is not supported`);
    if (busy) return refuse(491, "a transfer of this call is already under way");
    uri.clearHeaders();
    uri.deleteParam("method");
    // RFC 4488: "Refer-Sub: false" asks for no implicit subscription (no NOTIFYs).
    const subscribe = (message.getHeader("refer-sub") ?? "true").trim().toLowerCase() !== "false";
    // RFC 3515 §2.4.6: the NOTIFYs of a dialog's second and later REFERs carry the REFER's CSeq.
    const event = subscribe ? (count === 0 ? "refer" : `refer;id=${message.cseq}`) : null;
    const target = uri.toString();
    const referral = new Referral(session, host, event, target);
    try {
      request.accept({ statusCode: 202, extraHeaders: subscribe ? [] : ["Refer-Sub: false"] });
    } catch (error) {
      log.warn({ error: String(error) }, "could not accept the REFER");
      return null;
    }
    log.info({ target, referredBy: message.getHeader("referred-by") ?? null }, "transferred by the far end");
    referral.start(uri, message.getHeader("referred-by"));
    return referral;
  }

  /** We hang up the old call while the new one rings: the transfer is abandoned. */
  abandon(why: string): void {
    if (this.done) return;
    if (this.newCallId) this.host.drop(this.newCallId);
    void this.final(487, "Request Terminated", why);
  }

  private start(uri: URI, referredBy: string | undefined): void {
    void this.notify("SIP/2.0 100 Trying", "active;expires=60");
    // RFC 3892: the new call says who referred it.
    const headers = referredBy ? [`Referred-By: ${referredBy}`] : [];
    this.newCallId = this.host.place(uri, headers, (code, reason) => void this.final(code, reason));
    if (!this.newCallId) {
      void this.final(503, "Service Unavailable");
      return;
    }
    this.timer = setTimeout(() => {
      this.host.log.info({ target: this.target }, "transfer target did not answer in time");
      this.abandon("no answer");
    }, REFERRAL_RING_MS);
    this.timer.unref();
  }

  private async final(code: number, reason: string, why?: string): Promise<void> {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    const ok = code >= 200 && code < 300;
    const status = `${code} ${reason}`.trim();
    this.host.log.info({ target: this.target, status, why: why ?? null }, "transfer by the far end ended");
    // RFC 3515 §2.4.5: the final NOTIFY carries the new INVITE's final status and ends the subscription.
    const notified = this.notify(`SIP/2.0 ${status}`, "terminated;reason=noresource");
    try {
      this.host.report(ok, this.target, why ? `${status} (${why})` : status);
      if (ok && this.newCallId) {
        // End the old call once the transferor has heard the outcome (or did not answer in time).
        await notified;
        this.host.handOver(this.newCallId, this.target);
      }
    } finally {
      this.settle();
    }
  }

  private notify(sipfrag: string, subscriptionState: string): Promise<void> {
    const dialog = this.session.dialog;
    if (this.event === null || !dialog || this.session.state !== SessionState.Established)
      return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, NOTIFY_WAIT_MS);
      timer.unref();
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      try {
        dialog.notify(
          { onAccept: done, onReject: done },
          {
            // RFC 6665 §8.2.1 (RFC 3265 §3.2): a NOTIFY carries a Contact.
            extraHeaders: [
              `Event: ${this.event}`,
              `Subscription-State: ${subscriptionState}`,
              `Contact: ${this.session.userAgent.contact.toString()}`,
            ],
            body: {
              contentDisposition: "render",
              contentType: "message/sipfrag;version=2.0",
              content: `${sipfrag}\r\n`,
            },
          },
        );
      } catch (error) {
        this.host.log.warn({ error: String(error) }, "could not send the transfer's NOTIFY");
        done();
      }
    });
  }
}
