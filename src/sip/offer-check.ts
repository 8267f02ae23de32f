/**
 * What can be decided about an incoming INVITE before the desk is told of it: the checks of
 * RFC 3261 §8.2.2.3 (Require), §8.2.3 (content processing) and §13.3.1.1 (the offer). A call the
 * desk could never take is refused here, at once, with a final response and a `Warning`
 * (RFC 3261 §20.43) that says why, so the operator's headset never rings for it and the desk
 * never holds it (before, an SDP body without Content-Type left the desk `ringing` for good).
 *
 * Pure: the request is read through a tiny interface, the SDP is judged by the media side's
 * `checkOffer` (the same negotiation the answer will run, without binding any port).
 */
import { hostname } from "node:os";
import { MediaError } from "../media/media.js";

export interface OfferRequest {
  readonly body: string;
  /** Every value of a header (comma-separated lists not split). */
  headers(name: string): readonly string[];
}

export interface Refusal {
  readonly status: 400 | 415 | 420 | 488;
  readonly reasonPhrase: string;
  /** Extra headers of the response: Warning, and Accept / Unsupported where they apply. */
  readonly extraHeaders: readonly string[];
  /** For the log and the call record. */
  readonly why: string;
}

export interface OfferCheckOptions {
  /** Option tags we support (RFC 3261 §19.2); anything else in Require gets 420. */
  readonly supported: readonly string[];
  /** Judges an SDP offer; throws MediaError ("malformed" or "incompatible") when unusable. */
  readonly checkSdp?: (sdp: string) => void;
  /** warn-agent of our Warning headers (RFC 3261 §20.43). */
  readonly agent?: string;
}

/** The warn-agent: this box's host name when it is a plain token, else a pseudonym. */
export const WARN_AGENT = /^[A-Za-z0-9.-]+$/.test(hostname()) ? hostname() : "cuffia";

/** `Warning: 399 host "text"` with the text made safe for a quoted-string. */
export function warning(code: number, text: string, agent = WARN_AGENT): string {
  const safe = text.replace(/[\\"\r\n\x00-\x1f\x7f]/g, " ").slice(0, 200);
  return `Warning: ${code} ${agent} "${safe}"`;
}

/** The option tags of every Require header, lower-cased (RFC 3261 §20.32: tags are case-insensitive). */
function tags(values: readonly string[]): string[] {
  return values.flatMap((v) =>
    v
      .split(",")
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== ""),
  );
}

/** The warn-code for an unusable offer (RFC 3261 §20.43, codes 300-399). */
function warnCodeFor(error: MediaError): number {
  if (error.code === "malformed") return 399;
  const m = error.message;
  if (/no active audio stream/.test(m)) return 304; // Media type not available
  if (/^transport /.test(m)) return 302; // Incompatible transport protocol
  // The media security policy (rtp.encryption): SRTP wanted or refused, SDES keys over clear
  // signalling, no usable a=crypto: the transport protocol (RTP/AVP vs RTP/SAVP) does not fit.
  if (/encrypt|SRTP|SDES|a=crypto|a=fingerprint/.test(m)) return 302;
  if (/not IPv4/.test(m)) return 301; // Incompatible network address formats
  return 305; // Incompatible media format (no common codec)
}

/** Null when the INVITE may be offered to the desk; else the final response to send now. */
export function checkOffer(request: OfferRequest, options: OfferCheckOptions): Refusal | null {
  const agent = options.agent ?? WARN_AGENT;
  // §8.2.2.3: an extension we do not support is refused with 420 and Unsupported.
  const supported = new Set(options.supported.map((t) => t.toLowerCase()));
  const unsupported = [...new Set(tags(request.headers("require")))].filter((t) => !supported.has(t));
  if (unsupported.length > 0) {
    return {
      status: 420,
      reasonPhrase: "Bad Extension",
      extraHeaders: [
        `Unsupported: ${unsupported.join(", ")}`,
        warning(399, `Unsupported extension: ${unsupported.join(", ")}`, agent),
      ],
      why: `Require: ${unsupported.join(", ")}`,
    };
  }
  const body = request.body;
  if (body.trim() === "") return null; // an offerless INVITE: our offer goes in the 200 OK
  // §20.15: a non-empty body MUST come with a Content-Type.
  const contentType = request.headers("content-type")[0];
  if (contentType === undefined || contentType.trim() === "") {
    return {
      status: 400,
      reasonPhrase: "Bad Request",
      extraHeaders: [warning(399, "Missing Content-Type", agent)],
      why: "body without Content-Type",
    };
  }
  const mediaType = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  const encodings = tags(request.headers("content-encoding")).filter((e) => e !== "identity");
  // §20.11: an INVITE's SDP is a "session" body; any other disposition is not an offer we take
  const disposition = (request.headers("content-disposition")[0] ?? "session")
    .split(";")[0]
    ?.trim()
    .toLowerCase();
  // §8.2.3: a body we cannot read is refused with 415 and what we accept.
  if (mediaType !== "application/sdp" || encodings.length > 0 || disposition !== "session") {
    const what =
      encodings.length > 0
        ? `Content-Encoding ${encodings.join(", ")}`
        : mediaType !== "application/sdp"
          ? mediaType
          : `Content-Disposition ${disposition}`;
    return {
      status: 415,
      reasonPhrase: "Unsupported Media Type",
      extraHeaders: [
        "Accept: application/sdp",
        "Accept-Encoding: identity",
        warning(399, `Unsupported body: ${what}`, agent),
      ],
      why: `body ${what}`,
    };
  }
  // §13.3.1.1: an offer we cannot answer is refused with 488 (and a 3xx warn-code, §20.43).
  try {
    options.checkSdp?.(body);
  } catch (error) {
    const e = error instanceof MediaError ? error : new MediaError("malformed", String(error));
    const code = warnCodeFor(e);
    return {
      status: 488,
      reasonPhrase: "Not Acceptable Here",
      extraHeaders: [
        warning(code, e.code === "malformed" ? `Malformed SDP: ${e.message}` : e.message, agent),
      ],
      why: `offer: ${e.message}`,
    };
  }
  return null;
}
