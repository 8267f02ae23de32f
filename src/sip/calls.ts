/**
 * The calls the SIP side tracks, by Call-ID: sip.js Invitations (inbound) and Inviters
 * (outbound), each with its MediaSession behind a MediaSdh. Two INVITEs at once are two entries;
 * the desk decides what happens to the second (486).
 *
 * ```
 *  inbound:  offered ──answer──▶ (media negotiated, 488 if impossible) ──200/ACK──▶ answered
 *               │ reject / CANCEL / failure                                          │ BYE either way,
 *               ▼                                                                     ▼ REFER + NOTIFY 2xx
 *            ended(rejected | cancelled | failed)                ended(local_hangup | remote_hangup | transferred)
 *  outbound: dialling ──2xx──▶ answered; 4xx-6xx ──▶ ended(failed, "486 Busy Here"); our CANCEL ──▶ ended(local_hangup)
 *  incoming REFER (the far end transfers the desk): refer.ts; other requests inside a call: in-dialog.ts
 * ```
 */
import type { Core, Invitation, Session, SessionDescriptionHandlerFactory, URI, UserAgent } from "sip.js";
import type { Emit } from "../core/side.js";
import type { CallDirection, EndReason, MediaStats, SipAction } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import { type MediaDirection, MediaError, type MediaSessionFactory } from "../media/media.js";
import { tuneForCalls } from "../process/v8-tuning.js";
import { callFacts, type IdentityLike, resolveTarget, sipfragStatus } from "./call-facts.js";
import { CallGuard } from "./call-guard.js";
import { answerInDialog } from "./in-dialog.js";
import { checkOffer, warning } from "./offer-check.js";
import { Referral, type ReferralHost } from "./refer.js";
import { type HoldOptions, MediaSdh, statusForMediaError } from "./sdh.js";
import { answerTimerRequest, MIN_SE_SECONDS, type TimerAnswer } from "./session-timer.js";
import { Grammar, Inviter, SessionState } from "./sipjs.js";

export interface CallTableDeps {
  readonly media: MediaSessionFactory;
  readonly log: Logger;
  readonly emit: Emit;
  readonly domain: string;
  readonly callInfoHeaders: { readonly language: string; readonly service: string; readonly queue: string };
  /** sip.accept_refer: follow the far end's transfers (incoming REFER); false answers 603. */
  readonly acceptRefer?: boolean;
  /** RFC 4028 Min-SE we accept, seconds (90, the RFC's floor, unless a test shortens it). */
  readonly sessionTimerMinSe?: number;
}

interface CallEntry {
  readonly id: string;
  readonly direction: CallDirection;
  readonly session: Invitation | Inviter;
  sdh: MediaSdh | null;
  /** Inbound: 180 Ringing sent (the desk rang, or an auto-answer waited on slow media). */
  rung: boolean;
  /** Media being created (answer/dial in progress). */
  mediaPending: Promise<MediaSdh | null> | null;
  /** Set by what we did (or saw) before the session ends; decides call_ended's reason. */
  ending: EndReason | null;
  detail: string | null;
  answered: boolean;
  /** Inbound: the ACK of our 2xx arrived (RFC 3261 §13.3.1.4); a call ended without it is `no_ack`. */
  acked: boolean;
  ended: boolean;
  remoteHeld: boolean;
  muted: boolean;
  /** Resolves when the initial INVITE transaction is over (our ACK sent, or theirs received). */
  confirmed: Promise<void>;
  confirm: () => void;
  /** The far end's transfer being followed (incoming REFER, refer.ts), and how many it sent. */
  referral: Referral | null;
  refers: number;
  /** The call that took this one's place after the far end's transfer. */
  followedBy: { readonly callId: string; readonly target: string } | null;
}

function newEntry(id: string, direction: CallDirection, session: Invitation | Inviter): CallEntry {
  let confirm = () => {};
  const confirmed = new Promise<void>((resolve) => {
    confirm = resolve;
  });
  return {
    id,
    direction,
    session,
    sdh: null,
    rung: false,
    mediaPending: null,
    ending: null,
    detail: null,
    answered: false,
    acked: false,
    ended: false,
    remoteHeld: false,
    muted: false,
    confirmed,
    confirm,
    referral: null,
    refers: 0,
    followedBy: null,
  };
}

/**
 * How long an auto-answered call's media may take before the caller is sent 180 Ringing: a
 * normal answer takes 20-40 ms (a loaded box: a few hundred), so only slow media rings: STUN/TURN
 * servers far away or down.
 */
const SLOW_MEDIA_RING_MS = 500;

/** How long a transfer may wait for the final NOTIFY (RFC 3515 §2.4.5) before it counts as failed. */
const TRANSFER_TIMEOUT_MS = 32_000;

export class CallTable {
  private readonly calls = new Map<string, CallEntry>();
  private desiredMute: { id: string; muted: boolean } | null = null;
  /** Session timer, dialog check: one per established call (call-guard.ts). */
  private readonly guards = new Map<string, CallGuard>();
  /** Calls placed to follow the far end's REFER → the call that was transferred. */
  private readonly referralLegs = new Map<string, CallEntry>();
  /** What we answered to each offered INVITE's Session-Expires (RFC 4028 §9). */
  private readonly timerAnswers = new Map<string, TimerAnswer>();

  private userAgent: UserAgent | null = null;
  /** The log of requests inside calls: made once (a pino child costs ~50 µs before each 200 OK). */
  private dialogLog: Logger | null = null;

  constructor(private readonly deps: CallTableDeps) {}

  /**
   * sip.js's sessionDescriptionHandlerFactory (the UserAgent is created with it): a session's
   * SDH is the one this table made with the call's media (createMedia) before it let sip.js
   * answer or send the INVITE.
   */
  readonly sdhFactory: SessionDescriptionHandlerFactory = (session: Session) => {
    for (const entry of this.calls.values()) {
      if (entry.session === session && entry.sdh) return entry.sdh;
    }
    throw new Error("no media prepared for this session");
  };

  /** The UserAgent the calls are placed through (made with `sdhFactory` in its options). */
  useAgent(ua: UserAgent): void {
    this.userAgent = ua;
  }

  private get ua(): UserAgent {
    if (!this.userAgent) throw new Error("the call table has no UserAgent yet");
    return this.userAgent;
  }

  get size(): number {
    return this.calls.size;
  }

  /** A new INVITE (sip.js has already sent 100 Trying). */
  offered(invitation: Invitation): void {
    tuneForCalls(); // once, at the desk's first call
    const request = invitation.request;
    const id = request.callId;
    const log = this.deps.log;
    if (this.calls.has(id)) {
      // Another INVITE of a call we hold (RFC 3261 §8.2.2.2, a merged request: it forked and came
      // back another way): refused at once, or sip.js would keep it pending for a day.
      log.warn({ callId: id }, "INVITE for a call we already track: 482");
      safe(log, () =>
        invitation
          .reject({
            statusCode: 482,
            extraHeaders: [warning(399, "Merged request: this call is already here")],
          })
          .catch(() => {}),
      );
      return;
    }
    if (this.refuseUnanswerable(invitation)) return;
    if (this.refusesSessionTimer(invitation)) return;
    const entry = newEntry(id, "inbound", invitation);
    this.calls.set(id, entry);
    invitation.delegate = {
      onAck: () => {
        entry.acked = true;
        entry.confirm();
      },
      onCancel: () => {
        entry.ending ??= "cancelled";
      },
      // With a delegate, sip.js leaves answering the BYE to us (RFC 3261 §15.1.2: 200 OK).
      onBye: (bye) => {
        entry.ending ??= "remote_hangup";
        safe(this.deps.log, () => bye.accept());
      },
    };
    this.watch(entry);
    this.answerInDialog(entry);
    const asserted = parseIdentity(request.getHeader("p-asserted-identity"));
    const facts = callFacts({
      from: { displayName: invitation.remoteIdentity.displayName, user: invitation.remoteIdentity.uri.user },
      asserted,
      header: (name) => request.getHeaders(name.toLowerCase()),
      callInfoHeaders: this.deps.callInfoHeaders,
    });
    log.info({ callId: id, queue: facts.queue, autoAnswer: facts.autoAnswer }, "call offered");
    // The desk decides: it rings (the `ring` action: 180 Ringing), answers at once (auto-answer)
    // or refuses (486). sip.js's automatic 180 is off, see sip-agent.ts.
    this.deps.emit({ type: "call_offered", callId: id, ...facts });
  }

  /**
   * Refuses at once an INVITE the desk could never take (offer-check.ts): an unsupported
   * Require, a body without Content-Type or not SDP, an offer without a usable audio stream.
   * True if refused.
   */
  private refuseUnanswerable(invitation: Invitation): boolean {
    const request = invitation.request;
    const media = this.deps.media;
    const refusal = checkOffer(
      { body: request.body ?? "", headers: (name) => request.getHeaders(name) },
      {
        // sip.js's own tags, and RFC 4028 session timers, which the call guard implements (not in
        // sip.js's Supported header: our outbound calls never run a timer a 2xx could ask for)
        supported: [...this.ua.userAgentCore.configuration.supportedOptionTags, "timer"],
        checkSdp: media.checkOffer
          ? (sdp) => media.checkOffer?.(sdp)
          : (sdp) => {
              if (!/^m=audio [1-9]/m.test(sdp.replace(/\r/g, "")))
                throw new MediaError("incompatible", "no active audio stream");
            },
      },
    );
    if (!refusal) return false;
    this.deps.log.warn(
      { callId: request.callId, status: refusal.status, why: refusal.why },
      "INVITE refused before ringing",
    );
    safe(this.deps.log, () =>
      invitation.reject({
        statusCode: refusal.status,
        reasonPhrase: refusal.reasonPhrase,
        extraHeaders: [...refusal.extraHeaders],
      }),
    );
    return true;
  }

  async execute(action: SipAction): Promise<void> {
    if (action.action === "dial") return this.dial(action.target);
    const entry = this.calls.get(action.callId);
    if (!entry || entry.ended) {
      this.deps.log.warn({ action: action.action, callId: action.callId }, "SIP action for an unknown call");
      if (action.action === "transfer") {
        this.deps.emit({
          type: "call_transferred",
          callId: action.callId,
          target: action.target,
          ok: false,
          detail: "no such call",
          by: "local",
        });
      }
      return;
    }
    switch (action.action) {
      case "ring":
        return this.ring(entry);
      case "answer":
        return this.answer(entry);
      case "reject":
        return this.reject(entry, action.code);
      case "hangup":
        return this.hangup(entry);
      case "hold":
        return this.hold(entry, action.on);
      case "transfer":
        return this.transfer(entry, action.target);
      case "dtmf":
        return this.dtmf(entry, action.digits);
    }
  }

  /** Mute is a projection of the desk's state (state.call.muted). */
  project(call: { readonly id: string; readonly muted: boolean } | null): void {
    this.desiredMute = call ? { id: call.id, muted: call.muted } : null;
    if (!call) return;
    const entry = this.calls.get(call.id);
    if (entry?.sdh && entry.muted !== call.muted) {
      entry.muted = call.muted;
      safe(this.deps.log, () => entry.sdh?.media.setMuted(call.muted));
    }
  }

  /** Ends every call (daemon stopping) and waits for their media to close. */
  async endAll(): Promise<void> {
    const entries = [...this.calls.values()];
    await Promise.all(entries.map((e) => this.hangup(e).catch(() => {})));
    await Promise.all(entries.map((e) => e.sdh?.closeMedia().catch(() => null)));
  }

  // ── actions ───────────────────────────────────────────────────────────────────────────────

  /** The desk rings for this offer: 180 Ringing, while the INVITE still waits for an answer. */
  private ring(entry: CallEntry): void {
    const invitation = entry.session as Invitation;
    if (entry.direction !== "inbound" || invitation.state !== SessionState.Initial || entry.rung) return;
    entry.rung = true;
    invitation
      .progress()
      .catch((error: unknown) =>
        this.deps.log.warn({ callId: entry.id, error: String(error) }, "180 failed"),
      );
  }

  private async answer(entry: CallEntry): Promise<void> {
    const invitation = entry.session as Invitation;
    if (entry.direction !== "inbound" || invitation.state !== SessionState.Initial || entry.mediaPending)
      return;
    const pending = this.createMedia(entry);
    // An auto-answered call has not rung: when its media is slow to come (STUN/TURN round trips
    // over the internet, a TURN server that does not answer: its Allocate times out after ~6 s)
    // the caller hears ringing meanwhile, not silence after the 100 Trying.
    const slow = entry.rung ? null : setTimeout(() => this.ring(entry), SLOW_MEDIA_RING_MS);
    const sdh = await pending;
    if (slow) clearTimeout(slow);
    if (!sdh) {
      // No RTP port, no audio device, no ICE candidate...: a final answer at once, not a call left
      // ringing. 480 Temporarily Unavailable (RFC 3261 §21.4.18: this callee, for now; Retry-After
      // says when to try again), not 503: a proxy never relays a 503 (§16.7 step 6), Kamailio
      // sends the caller a 500 of its own in its place, without our Retry-After and Warning.
      if (!entry.ended && invitation.state === SessionState.Initial) {
        entry.ending = "failed";
        this.refuseNow(entry, 480, [
          "Retry-After: 5",
          warning(399, `No media resources: ${entry.detail ?? "media unavailable"}`),
        ]);
      }
      return;
    }
    if (entry.ended || invitation.state !== SessionState.Initial) {
      await sdh.closeMedia().catch(() => null);
      return;
    }
    const offer = invitation.request.body;
    if (offer) {
      try {
        sdh.prepare(offer);
      } catch (error) {
        const status = statusForMediaError(error);
        this.deps.log.warn({ callId: entry.id, status, error: String(error) }, "cannot answer this offer");
        entry.ending = "failed";
        entry.detail = status === 488 ? "488 Not Acceptable Here" : `${status} ${String(error)}`;
        this.refuseNow(entry, status, [warning(status === 488 ? 305 : 399, String(error))]);
        return;
      }
    }
    try {
      await invitation.accept({ extraHeaders: this.acceptHeaders(entry) });
    } catch (error) {
      entry.ending ??= "failed";
      entry.detail ??= error instanceof Error ? error.message : String(error);
      this.deps.log.warn({ callId: entry.id, error: entry.detail }, "answer failed");
      // sip.js may throw before it answered anything and leave the session "Establishing" for
      // good: whatever it did, the INVITE gets a final response and the desk hears the call ended.
      if ((invitation.state as SessionState) !== SessionState.Established)
        this.refuseNow(entry, 500, [warning(399, entry.detail)]);
    }
  }

  /**
   * The desk (ctl reject, headset reject, ring timeout, busy) refuses a call. Whatever state
   * sip.js is in, the call ends here: a final response if the INVITE still waits for one, a BYE
   * if the call got answered meanwhile, and call_ended to the desk in every case.
   */
  private async reject(entry: CallEntry, code: 480 | 486 | 603): Promise<void> {
    if (entry.direction !== "inbound" || entry.answered) return this.hangup(entry);
    entry.ending ??= "rejected";
    entry.detail ??= `${code}`;
    this.endOnWire(entry, code);
    await this.finish(entry);
  }

  /** The desk hangs up: ends the call on the wire as far as sip.js can, and always for the desk. */
  private async hangup(entry: CallEntry): Promise<void> {
    entry.ending ??= "local_hangup";
    entry.referral?.abandon("the desk hung up");
    this.endOnWire(entry, 603);
    await this.finish(entry);
  }

  /**
   * What can be sent to end the call in sip.js's current state: a final response to a pending
   * INVITE (RFC 3261 §13.3.1.3), a CANCEL for our own (§9.1), a BYE on a confirmed dialog (§15;
   * on a dialog still waiting for its ACK, sip.js sends it when the ACK or timer L comes, so its
   * promise is not awaited: the desk does not wait for the wire). Never throws.
   */
  private endOnWire(entry: CallEntry, status: number): void {
    const s = entry.session;
    const failed = (error: unknown) => {
      this.deps.log.warn(
        { callId: entry.id, state: s.state, error: String(error) },
        "could not end the call on the wire; ending it for the desk",
      );
      if (entry.direction === "inbound" && !entry.answered) this.rejectRaw(entry, 500);
    };
    try {
      let sent: Promise<unknown> | undefined;
      if (s.state === SessionState.Established) sent = s.bye();
      else if (entry.direction === "outbound") {
        if (s.state === SessionState.Initial || s.state === SessionState.Establishing)
          sent = (s as Inviter).cancel();
      } else if (s.state === SessionState.Initial || s.state === SessionState.Establishing) {
        // Establishing: an answer is under way (sip.js's accept); the INVITE still has no final
        // response, so the call can still be refused.
        sent = (s as Invitation).reject({ statusCode: status });
      }
      sent?.catch(failed);
    } catch (error) {
      failed(error);
    }
  }

  /** A final response straight through the INVITE's server transaction, when sip.js's reject refused. */
  private rejectRaw(entry: CallEntry, status: number): void {
    const incoming = (entry.session as unknown as { incomingInviteRequest?: Core.IncomingInviteRequest })
      .incomingInviteRequest;
    safe(this.deps.log, () => incoming?.reject({ statusCode: status }));
  }

  /** Refuses an inbound call now (a final response) and reports it ended. */
  private refuseNow(entry: CallEntry, status: number, extraHeaders: string[]): void {
    const invitation = entry.session as Invitation;
    try {
      invitation.reject({ statusCode: status, extraHeaders }).catch(() => this.rejectRaw(entry, status));
    } catch {
      this.rejectRaw(entry, status);
    }
    void this.finish(entry);
  }

  private async hold(entry: CallEntry, on: boolean): Promise<void> {
    const s = entry.session;
    const sdh = entry.sdh;
    const emitHeld = (held: boolean) =>
      this.deps.emit({ type: "call_held", callId: entry.id, by: "local", held });
    if (!sdh || s.state !== SessionState.Established) {
      emitHeld(!on);
      return;
    }
    // RFC 3261 §14.1: no re-INVITE while the initial INVITE transaction is still open (its ACK).
    await Promise.race([entry.confirmed, sleep(5000)]);
    if (s.state !== SessionState.Established) {
      emitHeld(!on);
      return;
    }
    const before = sdh.hold;
    sdh.hold = on;
    // RFC 3264 §8.4: hold by re-INVITE offering sendonly (inactive if the far end holds us).
    const options: HoldOptions = { hold: on };
    const guard = this.guards.get(entry.id);
    try {
      await s.invite({
        sessionDescriptionHandlerOptions: options,
        // RFC 4028: a re-INVITE without Session-Expires would turn the far end's session timer off
        requestOptions: { extraHeaders: guard?.reinviteHeaders() ?? [] },
        requestDelegate: {
          onAccept: (response) => {
            guard?.reinviteAccepted(response.message.getHeader("session-expires"));
            emitHeld(on);
          },
          onReject: (response) => {
            sdh.hold = before;
            this.deps.log.warn({ callId: entry.id, status: response.message.statusCode }, "hold refused");
            emitHeld(before);
          },
        },
      });
    } catch (error) {
      sdh.hold = before;
      this.deps.log.warn({ callId: entry.id, error: String(error) }, "hold failed");
      emitHeld(before);
    }
  }

  private async transfer(entry: CallEntry, target: string): Promise<void> {
    const s = entry.session;
    const emit = (ok: boolean, detail: string | null) =>
      this.deps.emit({ type: "call_transferred", callId: entry.id, target, ok, detail, by: "local" });
    const uri = Grammar.URIParse(resolveTarget(target, this.deps.domain));
    if (!uri || s.state !== SessionState.Established) {
      emit(false, uri ? "call not established" : "bad target");
      return;
    }
    await Promise.race([entry.confirmed, sleep(5000)]);
    let done = false;
    const finish = (ok: boolean, detail: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      emit(ok, detail);
      if (ok) {
        // RFC 5589 §6.1: the transferor ends its dialog once the transfer succeeded.
        entry.ending = "transferred";
        entry.detail = detail;
        if (s.state === SessionState.Established) s.bye().catch(() => {});
      }
    };
    const timer = setTimeout(() => finish(false, "no final NOTIFY"), TRANSFER_TIMEOUT_MS);
    timer.unref();
    try {
      // RFC 3515 blind transfer: REFER with Refer-To, outcome in NOTIFY message/sipfrag.
      await s.refer(uri, {
        requestDelegate: {
          onReject: (response) =>
            finish(false, `${response.message.statusCode} ${response.message.reasonPhrase}`),
        },
        onNotify: (notification) => {
          safe(this.deps.log, () => notification.accept());
          const frag = sipfragStatus(notification.request.body);
          if (!frag || frag.code < 200) return;
          finish(frag.code < 300, `${frag.code} ${frag.reason}`.trim());
        },
      });
    } catch (error) {
      finish(false, String(error instanceof Error ? error.message : error));
    }
  }

  private async dtmf(entry: CallEntry, digits: string): Promise<void> {
    if (!entry.sdh || entry.session.state !== SessionState.Established) return;
    await entry.sdh.media.sendDtmf(digits);
  }

  private async dial(target: string): Promise<void> {
    const log = this.deps.log;
    const uri = Grammar.URIParse(resolveTarget(target, this.deps.domain));
    if (!uri) {
      log.warn({ target }, "cannot dial: bad target");
      return;
    }
    await this.place(uri, target, {}).placed;
  }

  /**
   * A new outbound call (a dial, or the call a far end's transfer asks for). `onFinal` hears the
   * final status of the INVITE once, whatever ends it (2xx, a rejection, a media failure, CANCEL).
   */
  private place(
    uri: URI,
    target: string,
    options: {
      readonly extraHeaders?: string[];
      readonly onFinal?: (code: number, reason: string) => void;
    },
  ): { readonly id: string; readonly placed: Promise<void> } {
    const inviter = new Inviter(this.ua, uri, { extraHeaders: options.extraHeaders ?? [] });
    const id = inviter.request.callId;
    let heard = false;
    const final = (code: number, reason: string) => {
      if (heard) return;
      heard = true;
      safe(this.deps.log, () => options.onFinal?.(code, reason));
    };
    return { id, placed: this.invite(inviter, target, final) };
  }

  private async invite(
    inviter: Inviter,
    target: string,
    final: (code: number, reason: string) => void,
  ): Promise<void> {
    const id = inviter.request.callId;
    const entry = newEntry(id, "outbound", inviter);
    this.calls.set(id, entry);
    inviter.delegate = {
      // With a delegate, sip.js leaves answering the BYE to us (RFC 3261 §15.1.2: 200 OK).
      onBye: (bye) => {
        entry.ending ??= "remote_hangup";
        safe(this.deps.log, () => bye.accept());
      },
    };
    this.watch(entry);
    this.answerInDialog(entry);
    this.deps.emit({ type: "call_dialling", callId: id, target });
    const sdh = await this.createMedia(entry);
    if (!sdh) {
      entry.ending = "failed";
      entry.detail ??= "media unavailable";
      final(503, "Service Unavailable");
      void this.finish(entry);
      return;
    }
    if (entry.ending) {
      final(487, "Request Terminated");
      void this.finish(entry);
      return;
    }
    try {
      await inviter.invite({
        requestDelegate: {
          onAccept: (response) =>
            final(response.message.statusCode ?? 200, response.message.reasonPhrase ?? "OK"),
          onReject: (response) => {
            entry.ending ??= "failed";
            entry.detail = `${response.message.statusCode} ${response.message.reasonPhrase}`;
            final(response.message.statusCode ?? 500, response.message.reasonPhrase ?? "");
          },
        },
      });
    } catch (error) {
      entry.ending ??= "failed";
      entry.detail ??= String(error instanceof Error ? error.message : error);
      final(500, "Server Internal Error");
      void this.finish(entry);
    }
  }

  // ── requests inside a call (in-dialog.ts, refer.ts) ───────────────────────────────────────

  private answerInDialog(entry: CallEntry): void {
    this.dialogLog ??= this.deps.log.child("dialog");
    answerInDialog(entry.session, this.dialogLog, {
      digit: (digit) => this.digitReceived(entry, digit, "info"),
      refer: (request) => {
        const count = entry.refers++;
        const referral = Referral.receive(
          request,
          entry.session,
          this.referralHost(entry),
          count,
          entry.referral !== null,
        );
        if (!referral) return;
        entry.referral = referral;
        void referral.settled.then(() => {
          if (entry.referral === referral) entry.referral = null;
        });
      },
    });
  }

  /** Every DTMF digit the far end sends, RFC 4733 events or SIP INFO, comes through here. */
  private digitReceived(entry: CallEntry, digit: string, via: "rtp" | "info"): void {
    this.deps.log.info({ callId: entry.id, digit, via }, "DTMF received");
  }

  private referralHost(entry: CallEntry): ReferralHost {
    return {
      log: this.deps.log.child("refer"),
      acceptRefer: this.deps.acceptRefer ?? true,
      place: (uri, extraHeaders, onFinal) => {
        const id = this.place(uri, uri.toString(), { extraHeaders, onFinal }).id;
        this.referralLegs.set(id, entry);
        return id;
      },
      drop: (callId) => {
        const call = this.calls.get(callId);
        if (call && !call.ended) void this.hangup(call);
      },
      report: (ok, target, detail) =>
        this.deps.emit({ type: "call_transferred", callId: entry.id, target, ok, detail, by: "remote" }),
      handOver: (callId, target) => {
        const next = this.calls.get(callId);
        if (!next || next.ended) return;
        if (entry.ending === "local_hangup") {
          // the operator hung up while the transferor heard the outcome: the new call goes too
          void this.hangup(next);
          return;
        }
        entry.ending = "transferred";
        entry.detail = `by the far end to ${target}`;
        entry.followedBy = { callId, target };
        if (entry.session.state === SessionState.Established) void this.hangup(entry);
      },
    };
  }

  // ── keeping calls honest (issue 11): media timeout, session timers, dialog check ──────────────

  /** Call-IDs of the calls the SIP side holds and has not finished (the runner reconciles with them). */
  sessionIds(): string[] {
    // A call whose end waits for the outcome of the far end's transfer (finish) is still the desk's
    // (bounded: the transfer settles within its ring limit); the call placed for that transfer is
    // not the desk's until the old one hands over (call_ended with followedBy).
    const live = (e: CallEntry) => !e.ended || e.referral !== null;
    const pendingLeg = (e: CallEntry) => {
      const origin = this.referralLegs.get(e.id);
      return origin !== undefined && this.calls.has(origin.id);
    };
    return [...this.calls.values()].filter((e) => live(e) && !pendingLeg(e)).map((e) => e.id);
  }

  /** Ends a call the desk does not know (reconciliation): BYE, CANCEL or reject by its state. */
  terminate(callId: string, detail: string): Promise<void> {
    const entry = this.calls.get(callId);
    if (!entry || entry.ended) return Promise.resolve();
    return this.endFor(entry, "failed", detail);
  }

  /** In-dialog OPTIONS on every established call (after a re-registration on a new connection). */
  async checkDialogs(timeoutMs: number): Promise<void> {
    await Promise.all([...this.guards.values()].map((g) => g.check(timeoutMs).catch(() => {})));
  }

  /** Ends a call for a reason of ours: BYE where it can still be sent, then call_ended. */
  private endFor(entry: CallEntry, reason: EndReason, detail: string): Promise<void> {
    if (entry.ended) return Promise.resolve();
    if (!entry.ending) {
      entry.ending = reason;
      entry.detail = detail;
    }
    this.deps.log.warn({ callId: entry.id, reason, detail }, "ending the call");
    return this.hangup(entry);
  }

  /** RFC 4028 §9: a Session-Expires below our Min-SE gets 422 before the desk sees the offer. */
  private refusesSessionTimer(invitation: Invitation): boolean {
    const m = invitation.request;
    const answer = answerTimerRequest(
      {
        sessionExpires: m.getHeader("session-expires") ?? m.getHeader("x"),
        minSe: m.getHeader("min-se"),
        supported: m.getHeaders("supported"),
      },
      this.deps.sessionTimerMinSe ?? MIN_SE_SECONDS,
    );
    if (answer.kind === "too_small") {
      this.deps.log.info({ callId: m.callId, minSe: answer.minSe }, "session interval too small: 422");
      safe(this.deps.log, () => invitation.reject({ statusCode: 422, extraHeaders: [...answer.headers] }));
      return true;
    }
    if (answer.kind === "accept") this.timerAnswers.set(m.callId, answer);
    return false;
  }

  private acceptHeaders(entry: CallEntry): string[] {
    const answer = this.timerAnswers.get(entry.id);
    return answer?.kind === "accept" ? [...answer.headers] : [];
  }

  private startGuard(entry: CallEntry): void {
    if (this.guards.has(entry.id)) return;
    const guard = new CallGuard({
      ua: this.ua,
      session: entry.session,
      callId: entry.id,
      log: this.deps.log,
      end: (reason, detail) => void this.endFor(entry, reason, detail),
      minSe: this.deps.sessionTimerMinSe ?? MIN_SE_SECONDS,
    });
    this.guards.set(entry.id, guard);
    guard.start(this.timerAnswers.get(entry.id) ?? null);
  }

  private stopGuard(entry: CallEntry): void {
    this.guards.get(entry.id)?.stop();
    this.guards.delete(entry.id);
    this.timerAnswers.delete(entry.id);
  }

  // ── plumbing ──────────────────────────────────────────────────────────────────────────────

  private createMedia(entry: CallEntry): Promise<MediaSdh | null> {
    entry.mediaPending ??= this.deps.media
      .create({
        callId: entry.id,
        // Inbound: the offer decides the transport (DTLS-SRTP + ICE or plain); "" = offerless INVITE.
        ...(entry.direction === "inbound" ? { offer: (entry.session as Invitation).request.body ?? "" } : {}),
      })
      .then((media) => {
        const sdh = new MediaSdh(media, this.deps.log, (d) => this.onRemoteDirection(entry, d));
        entry.sdh = sdh;
        // No closure made here may name `media`: closures of one scope share one context, and
        // the SDH's callback above would then keep the media alive after the call (sdh.ts).
        try {
          media.onDtmf((digit) => this.digitReceived(entry, digit, "rtp"));
        } catch (error) {
          this.deps.log.warn({ error: String(error) }, "SIP operation failed");
        }
        media.onMediaTimeout((detail) => this.endFor(entry, "media_timeout", detail));
        if (this.desiredMute?.id === entry.id && this.desiredMute.muted) {
          entry.muted = true;
          media.setMuted(true);
        }
        return sdh;
      })
      .catch((error: unknown) => {
        this.deps.log.error({ callId: entry.id, error: String(error) }, "cannot create the media session");
        entry.detail = `media: ${error instanceof Error ? error.message : String(error)}`;
        return null;
      });
    return entry.mediaPending;
  }

  private onRemoteDirection(entry: CallEntry, direction: MediaDirection): void {
    this.reportEncryption(entry);
    const held = direction === "sendonly" || direction === "inactive";
    if (held === entry.remoteHeld) return;
    entry.remoteHeld = held;
    if (!entry.answered) return;
    this.deps.log.info({ callId: entry.id, held }, "far end hold");
    this.deps.emit({ type: "call_held", callId: entry.id, by: "remote", held });
  }

  /**
   * After each offer/answer of an answered call: the media's protection as the media session
   * has it now (a re-INVITE may have changed it, e.g. clear → SDES). The media session is the
   * one source of it; this side keeps no copy, and the desk ignores a report that changes nothing
   * (the media logs each real change, "media protection changed").
   */
  private reportEncryption(entry: CallEntry): void {
    const encryption = entry.sdh?.media.encryption;
    if (!entry.answered || !encryption) return;
    this.deps.emit({ type: "call_encryption", callId: entry.id, encryption });
  }

  private watch(entry: CallEntry): void {
    entry.session.stateChange.addListener((state) => {
      safe(this.deps.log, () => {
        if (state === SessionState.Established && !entry.answered) {
          entry.answered = true;
          // We send the ACK of an outbound call as the 2xx arrives.
          if (entry.direction === "outbound") entry.confirm();
          const encryption = entry.sdh?.media.encryption;
          this.deps.log.info({ callId: entry.id, encryption }, "call answered");
          this.deps.emit({ type: "call_answered", callId: entry.id, ...(encryption ? { encryption } : {}) });
          this.startGuard(entry);
          // A far end that answered with sendonly already holds us.
          if (entry.remoteHeld)
            this.deps.emit({ type: "call_held", callId: entry.id, by: "remote", held: true });
        } else if (state === SessionState.Terminated) {
          void this.finish(entry);
        }
      });
    });
  }

  private async finish(entry: CallEntry): Promise<void> {
    if (entry.ended) return;
    entry.ended = true;
    this.stopGuard(entry);
    let stats: MediaStats | null = null;
    const sdh = entry.sdh ?? (entry.mediaPending ? await entry.mediaPending : null);
    if (sdh) stats = await sdh.closeMedia().catch(() => null);
    // The far end hung up while the call it transferred us to rings: its outcome decides the reason.
    if (entry.referral) await entry.referral.settled;
    this.calls.delete(entry.id);
    this.referralLegs.delete(entry.id);
    const reason: EndReason = entry.ending ?? this.endedBySipJs(entry);
    this.deps.log.info({ callId: entry.id, reason, detail: entry.detail }, "call ended");
    const next = entry.followedBy ? this.calls.get(entry.followedBy.callId) : undefined;
    this.deps.emit({
      type: "call_ended",
      callId: entry.id,
      reason,
      stats,
      detail: entry.detail,
      ...(entry.followedBy && next && !next.ended ? { followedBy: entry.followedBy } : {}),
    });
  }

  /**
   * Why a call ended that sip.js ended by itself (nothing we did or saw set `ending`): an inbound
   * call answered but never ACKed was ended by timer L/H with a BYE (RFC 3261 §13.3.1.4): no_ack.
   */
  private endedBySipJs(entry: CallEntry): EndReason {
    if (!entry.answered) return entry.direction === "inbound" ? "cancelled" : "failed";
    if (entry.direction === "inbound" && !entry.acked) {
      entry.detail ??= "no ACK for our 200 OK";
      return "no_ack";
    }
    return "remote_hangup";
  }
}

function parseIdentity(header: string | undefined): IdentityLike | null {
  if (!header) return null;
  try {
    const parsed = Grammar.nameAddrHeaderParse(header);
    return parsed ? { displayName: parsed.displayName, user: parsed.uri.user } : null;
  } catch {
    return null;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function safe(log: Logger, fn: () => unknown): void {
  try {
    const r = fn();
    if (r instanceof Promise)
      r.catch((error: unknown) => log.warn({ error: String(error) }, "SIP operation failed"));
  } catch (error) {
    log.warn({ error: String(error) }, "SIP operation failed");
  }
}
