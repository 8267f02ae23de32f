/**
 * DTMF carried by SIP INFO (pure): the legacy bodies PBXs and phones still send instead of, or
 * besides, RFC 4733 telephone-events.
 *
 * - `application/dtmf-relay` (Cisco's, also Asterisk's and Linphone's): `Signal=5\r\nDuration=160`;
 *   Signal is 0-9 * # A-D (some send the event code 10-15 for * # A-D, RFC 4733 §3.2), `!` or 16 is a
 *   hook flash; Duration, when present, is milliseconds.
 * - `application/dtmf`: the digit alone.
 * - no body at all: a dialog keep-alive probe (RFC 6086 §4.2.1 allows INFO without a body).
 */

export type InfoVerdict =
  | { readonly kind: "digit"; readonly digit: string; readonly durationMs: number | null }
  | { readonly kind: "flash" }
  | { readonly kind: "empty" }
  /** A body we do not read: 415 with Accept (RFC 3261 §8.2.3, §21.4.13). */
  | { readonly kind: "unsupported"; readonly contentType: string }
  /** A DTMF body we cannot read: 400. */
  | { readonly kind: "malformed"; readonly why: string };

/** The body types we read, for the Accept header of a 415. */
export const INFO_ACCEPT = "application/dtmf-relay, application/dtmf";

const DIGIT = /^[0-9*#A-D]$/;
/** RFC 4733 §3.2 event codes 10-15 as some phones write them in dtmf-relay. */
const EVENT_CODES: Record<string, string> = {
  "10": "*",
  "11": "#",
  "12": "A",
  "13": "B",
  "14": "C",
  "15": "D",
};

export function readInfoDtmf(contentType: string | undefined, body: string): InfoVerdict {
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (body.trim() === "" && type === "") return { kind: "empty" };
  if (type === "application/dtmf-relay") return readRelay(body);
  if (type === "application/dtmf") {
    const digit = body.trim().toUpperCase();
    return DIGIT.test(digit)
      ? { kind: "digit", digit, durationMs: null }
      : { kind: "malformed", why: `application/dtmf body "${clip(body)}" is not one digit` };
  }
  return { kind: "unsupported", contentType: type || "(none)" };
}

function readRelay(body: string): InfoVerdict {
  const fields = new Map<string, string>();
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") continue;
    const eq = line.indexOf("=");
    if (eq <= 0) return { kind: "malformed", why: `dtmf-relay line "${clip(line)}" is not Name=value` };
    const name = line.slice(0, eq).trim().toLowerCase();
    if (fields.has(name)) return { kind: "malformed", why: `dtmf-relay repeats ${name}` };
    fields.set(name, line.slice(eq + 1).trim());
  }
  const signal = fields.get("signal");
  if (signal === undefined) return { kind: "malformed", why: "dtmf-relay without Signal" };
  const duration = fields.get("duration");
  let durationMs: number | null = null;
  if (duration !== undefined) {
    if (!/^[0-9]{1,6}$/.test(duration))
      return { kind: "malformed", why: `dtmf-relay Duration "${clip(duration)}" is not milliseconds` };
    durationMs = Number(duration);
  }
  if (signal === "!" || signal === "16") return { kind: "flash" };
  const digit = EVENT_CODES[signal] ?? signal.toUpperCase();
  if (!DIGIT.test(digit))
    return { kind: "malformed", why: `dtmf-relay Signal "${clip(signal)}" is not a digit` };
  return { kind: "digit", digit, durationMs };
}

function clip(text: string): string {
  const t = text.replace(/[\r\n]+/g, " ").trim();
  return t.length > 20 ? `${t.slice(0, 20)}…` : t;
}
