/**
 * A fast path in front of sip.js's generated SIP parser, for the headers every call carries.
 *
 * sip.js 0.21 parses each header with a bytecode-interpreted PEG parser: 0.7 ms for a warm
 * INVITE on this machine, 1.2–1.9 ms in the daemon, most of the time between an INVITE arriving
 * and our 100 Trying leaving (README § Performance). The headers of real traffic are plain:
 * `<sip:1017@10.0.0.5:5060;transport=tcp>;tag=abc`. This module parses that plain subset by
 * hand and builds exactly what the PEG parser builds (the same URI and NameAddrHeader
 * constructors, the same fields, the same odd corners, e.g. a Contact's `position`/`offset`);
 * anything outside the subset — quoted pairs, escapes, IPv6, URI headers, parameters with
 * special rules (ttl, maddr, user, method, q) — returns undefined, and sip.js's own parser
 * decides. Whatever the fast path accepts is checked against the PEG parser by a differential
 * test over real and generated headers (test/sip/fast-grammar.test.ts).
 *
 * Installed by wrapping `Grammar.parse`, which sip.js's message parser and its API call through
 * the Grammar namespace object.
 */
import { Grammar, NameAddrHeader, URI } from "./sipjs.js";

type Params = Record<string, string | undefined>;

interface SipUri {
  readonly scheme: string;
  readonly user: string | undefined;
  readonly host: string;
  readonly hostType: "IPv4" | "domain";
  readonly port: number | undefined;
  readonly params: Params | undefined;
}

// RFC 3261 §25.1 character classes, cut down to what the fast path accepts.
const USER = /^[A-Za-z0-9\-_.!~*'()&=+$,]+$/;
const PARAM = /^[A-Za-z0-9\-_.!~*']+$/;
const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const DIGITS = /^[0-9]{1,9}$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const OCTET = /^(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;
const WORD = "[A-Za-z0-9\\-.!%*_+`'~]+";
const CALL_ID = new RegExp(`^${WORD}(?:@${WORD})?$`);
/** The methods sip.js's grammar names; a longer token starting with one of them is not parsed alike. */
const METHODS = [
  "INVITE",
  "ACK",
  "VXACH",
  "OPTIONS",
  "BYE",
  "CANCEL",
  "REGISTER",
  "SUBSCRIBE",
  "NOTIFY",
  "REFER",
  "PUBLISH",
];
const TRANSPORTS = ["udp", "tcp", "sctp", "tls"];
const MEDIA_TYPES = new Set(["text", "image", "audio", "video", "application", "message", "multipart"]);
const REASON = /^[A-Za-z0-9 ;/?:@&=+$,\-_.!~*'()]*$/;
const DISPLAY_TOKENS = new RegExp(`^${WORD}(?: +${WORD})* +$`);

/**
 * Whether `value` extends one of `literals` (ignoring case) without being it. sip.js's PEG choice
 * commits to the literal it matched first, so such a value ("transport=udpx", "INVITEX") fails
 * there as a whole, where a hand parser would take it as a plain token.
 */
function extendsLiteral(value: string, literals: readonly string[]): boolean {
  const v = value.toLowerCase();
  return literals.some((l) => v !== l.toLowerCase() && v.startsWith(l.toLowerCase()));
}

/** `;a=b;c` → [["a", "b"], ["c", undefined]], names as written; [] for "". */
function splitParams(s: string): Array<[string, string | undefined]> {
  if (s === "") return [];
  return s
    .slice(1)
    .split(";")
    .map((part) => {
      const eq = part.indexOf("=");
      return eq < 0 ? [part, undefined] : [part.slice(0, eq), part.slice(eq + 1)];
    });
}

function method(s: string): string | undefined {
  return /^[A-Z]+$/.test(s) && !extendsLiteral(s, METHODS) ? s : undefined;
}

function hostType(host: string): "IPv4" | "domain" | undefined {
  const labels = host.split(".");
  if (labels.length === 4 && labels.every((l) => OCTET.test(l))) return "IPv4";
  if (!labels.every((l) => LABEL.test(l))) return undefined;
  const top = labels[labels.length - 1] ?? "";
  return /^[A-Za-z]/.test(top) ? "domain" : undefined;
}

/** Adds one generic parameter (name lower-cased) to `into`; false if it is unusual. */
function genericParam(into: Params, name: string, value: string | undefined): boolean {
  if (!PARAM.test(name) || (value !== undefined && !TOKEN.test(value))) return false;
  into[name.toLowerCase()] = value;
  return true;
}

/** `;a=b;c` → { a: "b", c: undefined }, names lower-cased; undefined if any part is unusual. */
function genericParams(s: string): Params | undefined {
  if (s !== "" && !s.startsWith(";")) return undefined;
  const into: Params = {};
  for (const [name, value] of splitParams(s)) if (!genericParam(into, name, value)) return undefined;
  return into;
}

function sipUri(s: string): SipUri | undefined {
  const m = /^(sips?):(?:([^@:;?]+)@)?([A-Za-z0-9.-]+)(?::([0-9]{1,5}))?((?:;[^;?]*)*)$/.exec(s);
  if (!m) return undefined;
  const [, scheme = "", user, host = "", port, rest = ""] = m;
  if (user !== undefined && !USER.test(user)) return undefined;
  const type = hostType(host);
  if (!type) return undefined;
  let params: Params | undefined;
  if (rest !== "") {
    params = {};
    for (const [written, value] of splitParams(rest)) {
      const name = written.toLowerCase();
      if (!PARAM.test(name) || (value !== undefined && !PARAM.test(value))) return undefined;
      if (name === "transport") {
        if (value === undefined || extendsLiteral(value, TRANSPORTS)) return undefined;
        params.transport = value.toLowerCase();
      } else if (name.startsWith("lr")) {
        if (name !== "lr" || value !== undefined) return undefined;
        params.lr = undefined;
      } else if (name === "user" && value !== undefined) {
        if (extendsLiteral(value, ["phone", "ip"])) return undefined;
        params.user = value.toLowerCase();
      } else if (name === "user" || name === "method" || name === "ttl" || name === "maddr") {
        return undefined;
      } else {
        params[name] = value;
      }
    }
  }
  return {
    scheme,
    user,
    host,
    hostType: type,
    port: port === undefined ? undefined : Number.parseInt(port, 10),
    params,
  };
}

function toUri(u: SipUri): URI {
  return new URI(u.scheme, u.user as string, u.host, u.port, u.params as never);
}

interface NameAddrParts {
  readonly uri: SipUri;
  readonly displayName: string | undefined;
  /** What follows the closing `>` (header parameters), not yet parsed. */
  readonly rest: string;
}

/** `"Name" <uri>;params` or `Name <uri>;params` or `<uri>;params`. */
function nameAddr(s: string): NameAddrParts | undefined {
  const lt = s.indexOf("<");
  const gt = s.indexOf(">");
  if (lt < 0 || gt < lt) return undefined;
  const display = s.slice(0, lt);
  let displayName: string | undefined;
  if (display !== "") {
    const quoted = /^"([^"\\\x00-\x1f\x7f]*)" *$/.exec(display);
    if (quoted) displayName = quoted[1];
    else if (DISPLAY_TOKENS.test(display)) displayName = display.trim();
    else return undefined;
  }
  const uri = sipUri(s.slice(lt + 1, gt));
  if (!uri) return undefined;
  return { uri, displayName, rest: s.slice(gt + 1) };
}

/** From and To: sip.js sets the tag after the other parameters. */
function fromTo(s: string): NameAddrHeader | undefined {
  const na = nameAddr(s);
  if (!na) return undefined;
  const params = genericParams(na.rest);
  if (!params) return undefined;
  const tag = params.tag;
  if ("tag" in params) {
    if (tag === undefined || (na.rest.match(/;tag=/gi)?.length ?? 0) !== 1) return undefined;
    delete params.tag;
  }
  const header = new NameAddrHeader(toUri(na.uri), na.displayName as string, params as never);
  if (tag) header.setParam("tag", tag);
  return header;
}

interface MultiHeader {
  readonly position: number;
  readonly offset: number;
  readonly parsed: NameAddrHeader;
}

/** Contact and Record-Route: comma-separated name-addrs, with where each one starts and ends. */
function nameAddrList(s: string, contact: boolean): MultiHeader[] | undefined {
  if (s.includes('"')) return undefined; // commas inside quoted display names
  const out: MultiHeader[] = [];
  let start = 0;
  while (start <= s.length) {
    const comma = s.indexOf(",", start);
    const end = comma < 0 ? s.length : comma;
    const element = s.slice(start, end);
    // (spaces before a comma: sip.js counts them into the element's end; not worth mirroring)
    if (element === "" || element.trim() !== element) return undefined;
    const na = nameAddr(element);
    if (!na) return undefined;
    if (na.rest !== "" && !na.rest.startsWith(";")) return undefined;
    const params: Params = {};
    for (const [written, value] of splitParams(na.rest)) {
      const name = written.toLowerCase();
      if (contact && name === "q") return undefined;
      if (contact && name === "expires" && value !== undefined && /^[0-9]/.test(value)) {
        // sip.js's grammar takes the digits and commits: "expires=60x" fails as a whole
        if (!DIGITS.test(value)) return undefined;
        params.expires = String(Number.parseInt(value, 10));
      } else if (!genericParam(params, written, value)) return undefined;
    }
    const parsed = new NameAddrHeader(toUri(na.uri), na.displayName as string, params as never);
    out.push({ position: start + element.length, offset: start, parsed });
    if (comma < 0) break;
    start = comma + 1;
    while (s[start] === " ") start++;
  }
  return out;
}

function via(s: string): Record<string, unknown> | undefined {
  const m = /^SIP\/2\.0\/([A-Za-z]+) +([A-Za-z0-9.-]+)(?::([0-9]{1,5}))?((?:;[^;]*)*)$/.exec(s);
  if (!m) return undefined;
  const [, transport = "", host = "", port, rest = ""] = m;
  if (extendsLiteral(transport, TRANSPORTS)) return undefined;
  const type = hostType(host);
  if (!type) return undefined;
  const data: Record<string, unknown> = { protocol: "SIP", transport, host_type: type, host };
  if (port !== undefined) data.port = Number.parseInt(port, 10);
  if (rest === "") return data;
  const seen = new Set<string>();
  for (const [name, value] of splitParams(rest)) {
    const key = name.toLowerCase();
    if (seen.has(key)) return undefined;
    seen.add(key);
    if (key === "branch" && value !== undefined && TOKEN.test(value)) data.branch = value;
    else if (key === "received" && value !== undefined && hostType(value) === "IPv4") {
      data.received = value;
      data.host_type = "IPv4"; // sip.js's grammar: the last address parsed sets host_type
    } else if (key === "rport" && value !== undefined && /^[0-9]{0,9}$/.test(value)) data.rport = value;
    else if (key === "rport" && value === undefined) {
      // a bare rport (RFC 3581 §3): sip.js's grammar files it as a generic parameter
      const params = (data.params ?? {}) as Params;
      params.rport = undefined;
      data.params = params;
    } else return undefined;
  }
  return data;
}

function requestOrStatus(s: string): Record<string, unknown> | undefined {
  if (s.startsWith("SIP/2.0 ")) {
    const m = /^SIP\/2\.0 ([1-6][0-9][0-9]) (.*)$/.exec(s);
    if (!m || !REASON.test(m[2] ?? "")) return undefined;
    return { sip_version: "SIP/2.0", status_code: Number.parseInt(m[1] ?? "", 10), reason_phrase: m[2] };
  }
  const parts = s.split(" ");
  if (parts.length !== 3 || parts[2] !== "SIP/2.0") return undefined;
  const name = method(parts[0] ?? "");
  const uri = sipUri(parts[1] ?? "");
  if (!name || !uri) return undefined;
  return { method: name, uri: toUri(uri), sip_version: "SIP/2.0" };
}

/** The fast parse of `input` by sip.js rule `rule`, or undefined when sip.js's parser must decide. */
export function fastParse(input: string, rule: string): unknown {
  switch (rule) {
    case "Request_Response":
      return requestOrStatus(input);
    case "Via":
      return via(input);
    case "From":
    case "To":
      return fromTo(input);
    case "Contact":
      return nameAddrList(input, true);
    case "Record_Route":
      return nameAddrList(input, false);
    case "Call_ID":
      return CALL_ID.test(input) ? input : undefined;
    case "CSeq": {
      const m = /^([0-9]{1,9}) ([A-Z]+)$/.exec(input);
      const name = m ? method(m[2] ?? "") : undefined;
      return m && name ? { value: Number.parseInt(m[1] ?? "", 10), method: name } : undefined;
    }
    case "Max_Forwards":
    case "Content_Length":
      return DIGITS.test(input) ? Number.parseInt(input, 10) : undefined;
    case "Content_Type": {
      const m = /^([A-Za-z]+)\/([A-Za-z0-9\-.!%*_+`'~]+)$/.exec(input);
      return m && MEDIA_TYPES.has((m[1] ?? "").toLowerCase()) ? input : undefined;
    }
    default:
      return undefined;
  }
}

type ParseFn = (input: string, startRule: string) => unknown;
let original: ParseFn | null = null;

/** Puts the fast path in front of sip.js's Grammar.parse (idempotent). */
export function installFastGrammar(): void {
  if (original) return;
  const peg = Grammar.parse as ParseFn;
  original = peg;
  (Grammar as { parse: ParseFn }).parse = (input, startRule) => {
    const fast = fastParse(input, startRule);
    return fast === undefined ? peg(input, startRule) : fast;
  };
}

/** sip.js's own parser, whatever is installed (for tests and comparisons). */
export function pegParse(input: string, startRule: string): unknown {
  return (original ?? (Grammar.parse as ParseFn))(input, startRule);
}
