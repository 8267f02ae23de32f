/**
 * Is the dialog still alive at the far end? An in-dialog OPTIONS (RFC 3261 §11, §12.2.1.1) sent
 * along the dialog's route set. Used after the desk re-registers on a new connection during a
 * call: over ws:// the proxy routed the dialog by the old WebSocket, and a far end (or proxy) that
 * lost it answers 481, or nothing at all.
 *
 * Any final response other than 481 and 408 proves the dialog (a 405/501 comes from the far end
 * that holds it); 481, 408 or no answer within `timeoutMs` means it is gone (RFC 3261 §12.2.1.2).
 */
import type { Session, UserAgent } from "sip.js";

export type DialogCheck =
  | { readonly alive: true; readonly status: number }
  | { readonly alive: false; readonly detail: string };

export function checkDialog(ua: UserAgent, session: Session, timeoutMs: number): Promise<DialogCheck> {
  return new Promise((resolve) => {
    // `dialog` is internal in sip.js's typings; it is the SessionDialog of an established session.
    const dialog = (
      session as unknown as { dialog?: { createOutgoingRequestMessage(method: string): unknown } }
    ).dialog;
    if (!dialog) {
      resolve({ alive: false, detail: "no dialog" });
      return;
    }
    let settled = false;
    const settle = (r: DialogCheck) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(
      () => settle({ alive: false, detail: `dialog check: no answer to OPTIONS within ${timeoutMs} ms` }),
      timeoutMs,
    );
    timer.unref();
    const judge = (status: number, reason: string) =>
      settle(
        status === 481 || status === 408
          ? { alive: false, detail: `dialog check: ${status} ${reason}`.trim() }
          : { alive: true, status },
      );
    try {
      const message = dialog.createOutgoingRequestMessage("OPTIONS");
      ua.userAgentCore.request(message as Parameters<UserAgent["userAgentCore"]["request"]>[0], {
        onAccept: (r) => judge(r.message.statusCode ?? 200, r.message.reasonPhrase ?? ""),
        onReject: (r) => judge(r.message.statusCode ?? 500, r.message.reasonPhrase ?? ""),
      });
    } catch (error) {
      settle({
        alive: false,
        detail: `dialog check: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
  });
}
