/**
 * The first look at every message arriving on the SIP connection, before sip.js parses it.
 *
 * A bare sip.js 0.21 agent dies on RFC 4475 §3.3.7 `unkscm` and §3.3.8 `novelsc`: its parser
 * yields a request without a Request-URI and the user agent throws "Request-URI undefined."
 * inside the transport callback (sip-lab.md). So requests are screened here:
 * - a Request-URI scheme other than sip, sips or tel → 416 Unsupported URI Scheme (RFC 3261 §8.2.2.1);
 * - a SIP-Version other than SIP/2.0 → 505 Version Not Supported (RFC 3261 §21.5.7, RFC 4475 §3.1.2.17);
 * - a request line that is not `Method SP Request-URI SP SIP-Version` → 400 (RFC 3261 §7.1, §25.1);
 * - a header that may appear once appearing more often (three From headers, two Content-Lengths,
 *   RFC 3261 §7.3.1, §20; RFC 4475 §3.3 `multi01` and `mcl01`) → 400 with a Warning, before
 *   sip.js builds a transaction, a dialog or a call out of whichever copy its parser keeps (an
 *   INVITE with three From headers used to be answered 200);
 * and whatever cannot be answered (no Via, From, To, Call-ID or CSeq to copy, RFC 3261 §8.2.6.2)
 * is dropped. ACK is never answered (RFC 3261 §17.2.1). Responses pass through.
 */
import { warning } from "./offer-check.js";

export type Verdict =
  | { readonly kind: "pass" }
  | { readonly kind: "reply"; readonly status: number; readonly response: string; readonly why: string }
  | { readonly kind: "drop"; readonly why: string };

const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/;
/** Headers a request carries at most once (RFC 3261 §20), by compact and full name. */
const SINGLE: Readonly<Record<string, string>> = {
  f: "From",
  from: "From",
  t: "To",
  to: "To",
  i: "Call-ID",
  "call-id": "Call-ID",
  cseq: "CSeq",
  "max-forwards": "Max-Forwards",
  c: "Content-Type",
  "content-type": "Content-Type",
  l: "Content-Length",
  "content-length": "Content-Length",
};
const SINGLE_LINE = new RegExp(`\\r\\n(${Object.keys(SINGLE).join("|")})[ \\t]*:`, "gi");
const KNOWN_SCHEMES = new Set(["sip", "sips", "tel"]);

const REASONS: Record<number, string> = {
  400: "Bad Request",
  416: "Unsupported URI Scheme",
  505: "Version Not Supported",
};

export function screen(text: string): Verdict {
  const eol = text.indexOf("\r\n");
  const first = eol < 0 ? text : text.slice(0, eol);
  if (first.startsWith("SIP/")) return { kind: "pass" };
  const parts = first.split(" ");
  const method = parts[0] ?? "";
  if (!TOKEN.test(method)) return { kind: "drop", why: "not a SIP request or response" };
  const reply = (status: number, why: string, extra: readonly string[] = []): Verdict => {
    if (method.toUpperCase() === "ACK") return { kind: "drop", why: `${why} (ACK is never answered)` };
    const response = buildResponse(text, status, REASONS[status], extra);
    return response === null
      ? { kind: "drop", why: `${why} (no headers to answer with)` }
      : { kind: "reply", status, response, why };
  };
  if (parts.length !== 3) return reply(400, "malformed request line");
  const uri = parts[1] ?? "";
  const version = parts[2] ?? "";
  if (!/^SIP\/\d+\.\d+$/i.test(version)) return reply(400, "malformed SIP-Version");
  if (version.toUpperCase() !== "SIP/2.0") return reply(505, `version ${version}`);
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)?.[1];
  if (scheme === undefined) return reply(400, "Request-URI without a scheme");
  if (!KNOWN_SCHEMES.has(scheme.toLowerCase())) return reply(416, `Request-URI scheme "${scheme}"`);
  const repeated = repeatedHeaders(text);
  if (repeated.length > 0) {
    const what = `Duplicate ${repeated.join(", ")} header${repeated.length > 1 ? "s" : ""}`;
    return reply(400, what.toLowerCase(), [warning(399, what)]);
  }
  return { kind: "pass" };
}

/** The single-value headers (RFC 3261 §20) that `text`'s header section repeats, by full name. */
export function repeatedHeaders(text: string): string[] {
  const headEnd = text.indexOf("\r\n\r\n");
  const head = headEnd < 0 ? text : text.slice(0, headEnd);
  const seen = new Set<string>();
  const repeated = new Set<string>();
  // Only the lines that start one of SINGLE's headers: every message passes here, so no line is
  // split out (a folded continuation starts with a space or tab and never matches, §7.3.1).
  for (const m of head.matchAll(SINGLE_LINE)) {
    const name = SINGLE[(m[1] as string).toLowerCase()] as string;
    if (seen.has(name)) repeated.add(name);
    seen.add(name);
  }
  return [...repeated];
}

/**
 * A stateless response to a raw request (RFC 3261 §8.2.6): Via, From, To, Call-ID and CSeq copied
 * from the request (the first copy of a repeated one), a To tag added, then `extra` headers.
 * Null when one of them is missing.
 */
export function buildResponse(
  request: string,
  status: number,
  reason = REASONS[status] ?? "Error",
  extra: readonly string[] = [],
): string | null {
  const headEnd = request.indexOf("\r\n\r\n");
  const head = headEnd < 0 ? request : request.slice(0, headEnd);
  // Unfold continuation lines (RFC 3261 §7.3.1).
  const lines = head
    .replace(/\r\n[ \t]+/g, " ")
    .split("\r\n")
    .slice(1);
  const vias: string[] = [];
  const single: Record<"from" | "to" | "call-id" | "cseq", string[]> = {
    from: [],
    to: [],
    "call-id": [],
    cseq: [],
  };
  const COMPACT: Record<string, string> = { v: "via", f: "from", t: "to", i: "call-id" };
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const raw = line.slice(0, colon).trim().toLowerCase();
    const name = COMPACT[raw] ?? raw;
    const value = line.slice(colon + 1).trim();
    if (name === "via") vias.push(value);
    else if (name === "from" || name === "to" || name === "call-id" || name === "cseq")
      single[name].push(value);
  }
  if (vias.length === 0) return null;
  const [from, to, callId, cseq] = [single.from, single.to, single["call-id"], single.cseq].map((v) =>
    v.length >= 1 ? v[0] : undefined,
  );
  if (from === undefined || to === undefined || callId === undefined || cseq === undefined) return null;
  const toTagged = /;\s*tag\s*=/i.test(to) ? to : `${to};tag=${randomTag()}`;
  return [
    `SIP/2.0 ${status} ${reason}`,
    ...vias.map((v) => `Via: ${v}`),
    `From: ${from}`,
    `To: ${toTagged}`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq}`,
    ...extra,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

function randomTag(): string {
  return Math.random().toString(36).slice(2, 12);
}
