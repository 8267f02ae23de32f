/**
 * RFC 4028 session timers, when the far end asks for them (we never ask first). sip.js has no
 * support, so the call table feeds this module the INVITEs and refreshes it sees and gives it two
 * actions: send a refresh (re-INVITE) and end the call.
 *
 * ```
 *  INVITE with Session-Expires ──< Min-SE──▶ 422 + Min-SE (RFC 4028 §9), never offered to the desk
 *        │ otherwise: 200 OK copies Session-Expires;refresher=…, Require: timer if the UAC supports it
 *        ▼
 *   running(interval, refresher) ──refresh 2xx either way──▶ running(new interval, new refresher)
 *        │ refresher = us: re-INVITE at interval/2 (§7.4)
 *        │ no refresh by interval − min(32, interval/3) (§10)
 *        ▼
 *   expired: BYE, end_reason session_expired
 * ```
 */

/** The smallest session interval we accept; RFC 4028 §4 says it MUST NOT be below 90 s. */
export const MIN_SE_SECONDS = 90;
/**
 * The largest session interval we agree to (§9 lets the UAS reduce it): a day. Also keeps the
 * timers below Node's 2^31 ms limit, past which a timeout fires at once.
 */
export const MAX_SE_SECONDS = 86_400;

export type Refresher = "uac" | "uas";

export interface SessionExpires {
  readonly seconds: number;
  readonly refresher: Refresher | null;
}

/** Parses `Session-Expires: 1800;refresher=uac` (RFC 4028 §4); null when absent or malformed. */
export function parseSessionExpires(value: string | undefined): SessionExpires | null {
  if (value === undefined) return null;
  const m = /^\s*(\d{1,10})\s*(;.*)?$/.exec(value);
  if (!m?.[1]) return null;
  const seconds = Number(m[1]);
  const refresher = /;\s*refresher\s*=\s*(uac|uas)\b/i.exec(m[2] ?? "")?.[1]?.toLowerCase();
  return { seconds, refresher: refresher === "uac" || refresher === "uas" ? refresher : null };
}

/** Parses `Min-SE: 90` (RFC 4028 §5); null when absent or malformed. */
export function parseMinSe(value: string | undefined): number | null {
  const m = value === undefined ? null : /^\s*(\d{1,10})\s*(;.*)?$/.exec(value);
  return m?.[1] ? Number(m[1]) : null;
}

/** Whether an option tag is listed in Supported/Require headers (comma lists, several headers). */
export function hasOptionTag(values: readonly string[], tag: string): boolean {
  return values.some((v) => v.split(",").some((t) => t.trim().toLowerCase() === tag));
}

/** What the headers of a (re-)INVITE we received ask for. */
export interface TimerRequest {
  readonly sessionExpires: string | undefined;
  readonly minSe: string | undefined;
  readonly supported: readonly string[];
}

export type TimerAnswer =
  | { readonly kind: "none" }
  | { readonly kind: "too_small"; readonly minSe: number; readonly headers: readonly string[] }
  | {
      readonly kind: "accept";
      readonly seconds: number;
      /** Who refreshes, seen from our side. */
      readonly refresher: "us" | "them";
      /** Headers for our 2xx. */
      readonly headers: readonly string[];
    };

/**
 * The UAS rules of RFC 4028 §9 for an INVITE (initial or refresh) we received.
 * A refresher the UAC did not choose is the UAS (us): we then notice a dead dialog by our own
 * refresh failing, whatever the far end does.
 */
export function answerTimerRequest(request: TimerRequest, minSe = MIN_SE_SECONDS): TimerAnswer {
  const se = parseSessionExpires(request.sessionExpires);
  if (!se) return { kind: "none" };
  const floor = Math.max(minSe, parseMinSe(request.minSe) ?? 0);
  // A far end whose own minimum is over a day asks for no timer we could keep (Node's timers stop
  // at 2^31 ms and would fire at once): no Session-Expires in our 2xx, so no session timer (§9).
  if (floor > MAX_SE_SECONDS) return { kind: "none" };
  const uacSupports = hasOptionTag(request.supported, "timer");
  let seconds = Math.min(se.seconds, Math.max(MAX_SE_SECONDS, floor));
  if (seconds < floor) {
    // §9: a UAC that supports timers retries after a 422 with a larger value.
    if (uacSupports) return { kind: "too_small", minSe: floor, headers: [`Min-SE: ${floor}`] };
    // One that does not (a proxy inserted the header) cannot: as it is us who refresh then,
    // refresh at our floor rather than flood the dialog with re-INVITEs (§8.1 has the proxy raise
    // a too-small value the same way).
    seconds = floor;
  }
  // §9: without the UAC's support only the UAS can refresh.
  const refresher: Refresher = uacSupports && se.refresher === "uac" ? "uac" : "uas";
  const headers = [`Session-Expires: ${seconds};refresher=${refresher}`];
  // §9: Require: timer when the UAC refreshes; harmless (it supports it) when we do.
  if (uacSupports) headers.push("Require: timer");
  return { kind: "accept", seconds, refresher: refresher === "uac" ? "them" : "us", headers };
}

/** What the 2xx to our refresh says (RFC 4028 §7.2): refresher=uac is still us. */
export function readRefreshAnswer(
  sessionExpires: string | undefined,
  asked: number,
): { readonly seconds: number; readonly refresher: "us" | "them" } {
  const se = parseSessionExpires(sessionExpires);
  // §7.2: a 2xx without Session-Expires comes from a UAS without timer support: we keep refreshing.
  if (!se) return { seconds: asked, refresher: "us" };
  return {
    seconds: Math.max(1, Math.min(se.seconds, MAX_SE_SECONDS)),
    refresher: se.refresher === "uas" ? "them" : "us",
  };
}

/** When the side that does not refresh gives up: interval − min(32 s, interval/3) (RFC 4028 §10). */
export function expiryMs(seconds: number): number {
  return (seconds - Math.min(32, seconds / 3)) * 1000;
}

export interface TimerHost {
  /** Sends a refresh (re-INVITE) with these headers; resolves with the final status and the 2xx's Session-Expires. */
  refresh(headers: readonly string[]): Promise<{ readonly status: number; readonly sessionExpires?: string }>;
  /** Ends the call (BYE) because the session expired. */
  expire(detail: string): void;
  /** Ends the call because a refresh proved the dialog gone (481, 408). */
  lost(detail: string): void;
  readonly log: { debug(o: object, m: string): void; info(o: object, m: string): void };
}

export interface TimerClock {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realClock: TimerClock = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** One call's session timer, running once the call is established. */
export class SessionTimer {
  private refreshHandle: unknown = null;
  private expiryHandle: unknown = null;
  private stopped = false;
  /** Whether a session interval is agreed (false before the first, after stop() or off()). */
  running = false;
  seconds = 0;
  refresher: "us" | "them" = "us";

  constructor(
    private readonly host: TimerHost,
    private readonly clock: TimerClock = realClock,
    private readonly minSe = MIN_SE_SECONDS,
  ) {}

  /**
   * Headers for a re-INVITE of ours, which is a refresh (RFC 4028 §7.4): the same interval, and
   * the refresher stays who it is (refresher=uac is us as the sender of this request).
   */
  requestHeaders(): string[] {
    return [
      `Session-Expires: ${this.seconds};refresher=${this.refresher === "us" ? "uac" : "uas"}`,
      `Min-SE: ${this.minSe}`,
      "Supported: timer",
    ];
  }

  /** A 2xx to a re-INVITE of ours carrying requestHeaders(): the session is refreshed (§7.2). */
  accepted(sessionExpires: string | undefined): void {
    if (this.stopped || !this.running) return;
    const next = readRefreshAnswer(sessionExpires, this.seconds);
    this.refreshed(next.seconds, next.refresher);
  }

  /** Starts (or restarts after a refresh) with the interval and refresher just agreed. */
  refreshed(seconds: number, refresher: "us" | "them"): void {
    if (this.stopped) return;
    this.clear();
    this.running = true;
    this.seconds = seconds;
    this.refresher = refresher;
    this.host.log.debug({ seconds, refresher }, "session timer");
    this.expiryHandle = this.clock.set(
      () =>
        this.host.expire(
          `no session refresh within ${seconds} s (RFC 4028, refresher ${refresher === "us" ? "us" : "far end"})`,
        ),
      expiryMs(seconds),
    );
    // §7.4: the refresher sends its refresh at half the interval.
    if (refresher === "us")
      this.refreshHandle = this.clock.set(() => void this.sendRefresh(), (seconds * 1000) / 2);
  }

  stop(): void {
    this.stopped = true;
    this.running = false;
    this.clear();
  }

  /** The far end turned the timer off (a refresh without Session-Expires); a later one may turn it on. */
  off(): void {
    this.running = false;
    this.clear();
  }

  private clear(): void {
    if (this.refreshHandle !== null) this.clock.clear(this.refreshHandle);
    if (this.expiryHandle !== null) this.clock.clear(this.expiryHandle);
    this.refreshHandle = null;
    this.expiryHandle = null;
  }

  private async sendRefresh(): Promise<void> {
    this.refreshHandle = null;
    if (this.stopped) return;
    let result: { status: number; sessionExpires?: string };
    try {
      result = await this.host.refresh(this.requestHeaders());
    } catch (error) {
      this.host.log.info({ error: String(error) }, "session refresh not sent; retrying");
      this.retrySoon();
      return;
    }
    if (this.stopped) return;
    if (result.status >= 200 && result.status < 300) {
      this.accepted(result.sessionExpires);
    } else if (result.status === 481 || result.status === 408) {
      // RFC 3261 §12.2.1.2: 481/408 to an in-dialog request ends the dialog.
      this.host.lost(`session refresh: ${result.status}`);
    } else {
      // 491 (glare with the far end's re-INVITE), 5xx…: the session goes on until expiry; try again.
      this.host.log.info({ status: result.status }, "session refresh refused; retrying");
      this.retrySoon();
    }
  }

  private retrySoon(): void {
    if (this.stopped || this.refreshHandle !== null) return;
    // RFC 3261 §14.1 (491): wait a little; still well before the expiry timer.
    this.refreshHandle = this.clock.set(
      () => void this.sendRefresh(),
      Math.min(4000, (this.seconds * 1000) / 8),
    );
  }
}
