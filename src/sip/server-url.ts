/**
 * The `sip.server` URIs the SIP side accepts: ws://, wss://, tcp://host:port, tls://host:port.
 * UDP is refused: sip.js implements none of the retransmission timers an unreliable transport
 * needs (RFC 3261 §17.1.1.2 Timer A, §17.1.2.2 Timer E, §17.2.1 Timer G; see sip-lab.md).
 */
export type SipTransportKind = "ws" | "wss" | "tcp" | "tls";

export interface SipServer {
  readonly kind: SipTransportKind;
  readonly host: string;
  readonly port: number;
  /** For ws/wss: the full URL (with path); for tcp/tls: `tcp://host:port`. */
  readonly url: string;
  /** Via/Contact `transport` parameter (RFC 7118 §5 for ws/wss, RFC 3261 §19.1.1). */
  readonly viaTransport: "WS" | "WSS" | "TCP" | "TLS";
}

export class SipServerError extends Error {
  readonly code = "bad_server";
  constructor(message: string) {
    super(message);
    this.name = "SipServerError";
  }
}

const DEFAULT_PORT: Record<SipTransportKind, number> = { ws: 80, wss: 443, tcp: 5060, tls: 5061 };

export function parseServer(text: string): SipServer {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SipServerError(
      `not a URI: "${text}" (expected ws://, wss://, tcp://host:port or tls://host:port)`,
    );
  }
  const scheme = url.protocol.replace(/:$/, "").toLowerCase();
  if (scheme === "udp") {
    throw new SipServerError(
      "udp:// is not supported: the SIP stack has no retransmission timers for unreliable transports (RFC 3261 §17); use tcp:// or tls://",
    );
  }
  if (scheme !== "ws" && scheme !== "wss" && scheme !== "tcp" && scheme !== "tls") {
    throw new SipServerError(`unsupported scheme "${scheme}:" (expected ws://, wss://, tcp:// or tls://)`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") throw new SipServerError(`no host in "${text}"`);
  const port = url.port === "" ? DEFAULT_PORT[scheme] : Number(url.port);
  const viaTransport = scheme.toUpperCase() as SipServer["viaTransport"];
  const display = host.includes(":") ? `[${host}]` : host;
  return {
    kind: scheme,
    host,
    port,
    url: scheme === "ws" || scheme === "wss" ? url.toString() : `${scheme}://${display}:${port}`,
    viaTransport,
  };
}
