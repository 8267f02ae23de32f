/**
 * What keeps one established call honest (issue 11, "a call cannot outlive reality"), next to the
 * call table so that calls.ts only starts and stops it:
 * - RFC 4028 session timers (session-timer.ts): the far end's re-INVITE refreshes get their
 *   Session-Expires in our 2xx; we send refreshes when we are the refresher; an expired session
 *   ends with `session_expired`.
 * - the dialog check after a re-registration on a new connection: a re-INVITE, which is also a
 *   target refresh (RFC 3261 §12.2.1.2), so the far end's next requests (its BYE) follow our new
 *   connection's Contact; an in-dialog OPTIONS (dialog-check.ts) when a re-INVITE is under way.
 * Media inactivity is the MediaSession's watchdog (onMediaTimeout); the call table wires it.
 */
import type { Core, Session, UserAgent } from "sip.js";
import type { EndReason } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import { checkDialog, type DialogCheck } from "./dialog-check.js";
import { answerTimerRequest, SessionTimer, type TimerAnswer, type TimerClock } from "./session-timer.js";
import { SessionState } from "./sipjs.js";

export interface CallGuardDeps {
  readonly ua: UserAgent;
  readonly session: Session;
  readonly callId: string;
  readonly log: Logger;
  /** Ends the call: BYE where it can still be sent, then call_ended with this reason and detail. */
  readonly end: (reason: EndReason, detail: string) => void;
  /** Smallest session interval accepted (RFC 4028 Min-SE), seconds. */
  readonly minSe: number;
  readonly clock?: TimerClock;
}

export class CallGuard {
  private readonly timer: SessionTimer;
  private checking = false;

  constructor(private readonly deps: CallGuardDeps) {
    this.timer = new SessionTimer(
      {
        log: deps.log,
        refresh: (headers) => this.sendReinvite(headers),
        expire: (detail) => {
          deps.log.warn({ callId: deps.callId, detail }, "session expired: ending the call");
          deps.end("session_expired", detail);
        },
        lost: (detail) => {
          deps.log.warn({ callId: deps.callId, detail }, "session refresh failed: the dialog is gone");
          deps.end("dialog_lost", detail);
        },
      },
      deps.clock,
      deps.minSe,
    );
  }

  /** The call is established; `initial` is what we answered to its INVITE's Session-Expires (inbound). */
  start(initial: TimerAnswer | null): void {
    if (initial?.kind === "accept") this.timer.refreshed(initial.seconds, initial.refresher);
    this.hookReinvites();
  }

  stop(): void {
    this.timer.stop();
  }

  /** Headers for any re-INVITE of ours (a hold): it refreshes a running session timer (RFC 4028 §7.4). */
  reinviteHeaders(): string[] {
    return this.timer.running ? this.timer.requestHeaders() : [];
  }

  /** The 2xx to a re-INVITE that carried reinviteHeaders(). */
  reinviteAccepted(sessionExpires: string | undefined): void {
    this.timer.accepted(sessionExpires);
  }

  /**
   * Is the dialog alive? A re-INVITE (same media; a session refresh too when a session timer runs)
   * or, when one is already under way, an OPTIONS. 481, 408 or no answer within `timeoutMs` ends
   * the call with `dialog_lost`; any other answer proves the dialog.
   */
  async check(timeoutMs: number): Promise<void> {
    const s = this.deps.session;
    if (this.checking || s.state !== SessionState.Established) return;
    this.checking = true;
    try {
      const result = await this.probe(timeoutMs);
      if (s.state !== SessionState.Established) return;
      if (result.alive) {
        this.deps.log.info(
          { callId: this.deps.callId, status: result.status },
          "dialog check: the far end still has the call",
        );
      } else {
        this.deps.log.warn(
          { callId: this.deps.callId, detail: result.detail },
          "dialog check failed: ending the call",
        );
        this.deps.end("dialog_lost", result.detail);
      }
    } finally {
      this.checking = false;
    }
  }

  private async probe(timeoutMs: number): Promise<DialogCheck> {
    const headers = this.reinviteHeaders();
    // A target refresh must name where we are now: over tcp:// and tls:// the agent moved the UA's
    // Contact to the new connection's local address (sip-agent.ts onLink), but sip.js keeps the
    // one of the session's start in `_contact` (internal) for every in-dialog request.
    const session = this.deps.session as unknown as { _contact?: unknown };
    if (typeof session._contact === "string") session._contact = this.deps.ua.contact.toString();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      this.sendReinvite(headers).catch((error: unknown) => ({ error })),
      new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    if (outcome === "timeout")
      return { alive: false, detail: `dialog check: no answer to re-INVITE within ${timeoutMs} ms` };
    // sip.js sends one re-INVITE at a time (hold, a session refresh): ask with an OPTIONS instead
    if ("error" in outcome) return checkDialog(this.deps.ua, this.deps.session, timeoutMs);
    const { status, reason } = outcome;
    if (status === 481 || status === 408)
      return { alive: false, detail: `dialog check: ${status} ${reason} to re-INVITE`.trim() };
    if (status >= 200 && status < 300) this.timer.accepted(outcome.sessionExpires);
    return { alive: true, status };
  }

  /**
   * The far end's re-INVITEs go through sip.js's Session.onInviteRequest, which has no way to add
   * headers to its 200 OK: wrap it for this session, so that a refresh gets its Session-Expires
   * (RFC 4028 §9) and a too-small one its 422.
   */
  private hookReinvites(): void {
    const s = this.deps.session as unknown as { onInviteRequest(request: Core.IncomingInviteRequest): void };
    const original = s.onInviteRequest.bind(this.deps.session);
    s.onInviteRequest = (request: Core.IncomingInviteRequest) => {
      const m = request.message;
      const answer = answerTimerRequest(
        {
          sessionExpires: m.getHeader("session-expires") ?? m.getHeader("x"),
          minSe: m.getHeader("min-se"),
          supported: m.getHeaders("supported"),
        },
        this.deps.minSe,
      );
      if (answer.kind === "too_small") {
        request.reject({ statusCode: 422, extraHeaders: [...answer.headers] });
        return;
      }
      const accept = request.accept.bind(request);
      request.accept = (options?: Core.ResponseOptions): Core.OutgoingResponseWithSession => {
        const extra = answer.kind === "accept" ? answer.headers : [];
        const response = accept({
          statusCode: 200,
          ...options,
          extraHeaders: [...(options?.extraHeaders ?? []), ...extra],
        });
        this.onRefreshAccepted(answer);
        return response;
      };
      original(request);
    };
  }

  private onRefreshAccepted(answer: TimerAnswer): void {
    if (answer.kind === "accept") {
      this.timer.refreshed(answer.seconds, answer.refresher);
    } else if (this.timer.running) {
      // RFC 4028 §9: a re-INVITE without Session-Expires turns the session timer off.
      this.timer.off();
      this.deps.log.info(
        { callId: this.deps.callId },
        "session timer off: the far end's re-INVITE asked for none",
      );
    }
  }

  private sendReinvite(
    headers: readonly string[],
  ): Promise<{ status: number; reason: string; sessionExpires?: string }> {
    const s = this.deps.session;
    if (s.state !== SessionState.Established) return Promise.reject(new Error("call not established"));
    return new Promise((resolve, reject) => {
      const done = (r: Core.IncomingResponse) =>
        resolve({
          status: r.message.statusCode ?? 500,
          reason: r.message.reasonPhrase ?? "",
          ...(r.message.getHeader("session-expires") !== undefined
            ? { sessionExpires: r.message.getHeader("session-expires") as string }
            : {}),
        });
      s.invite({
        requestOptions: { extraHeaders: [...headers] },
        requestDelegate: { onAccept: done, onReject: done },
      }).catch(reject);
    });
  }
}
