/**
 * What the SIP side needs from the config. Built by the config layer (sip.* keys); auto-answer and
 * transfer targets are core policy and do not appear here.
 */
import { everyKeyRead } from "../config/every-key-read.js";
import type { Config } from "../config/schema.js";

export interface SipOptions {
  /** ws://, wss://, tcp://host:port or tls://host:port; the first is the primary, the rest are fallbacks tried in order. */
  readonly servers: readonly string[];
  /** Address of record, e.g. `sip:1017@pbx.example.org`. */
  readonly aor: string;
  readonly username: string;
  readonly password: string;
  readonly displayName?: string;
  /** PEM file with the CA that signs the server's certificate (wss://, tls://); the system CAs otherwise. */
  readonly caFile?: string;
  /** Verify the server's certificate (wss://, tls://). */
  readonly rejectUnauthorized: boolean;
  /** Expiry asked for in REGISTER, seconds. */
  readonly registerExpires: number;
  /** CRLF keep-alive period (RFC 5626 §4.4.1), seconds; must stay below any server idle timeout. 0 = off. */
  readonly keepAliveSeconds: number;
  /** SIP-level liveness check period (OPTIONS to our own AOR through the registrar), seconds. 0 = off. */
  readonly livenessSeconds: number;
  /** Headers in which the PBX puts IVR facts. */
  readonly callInfoHeaders: { readonly language: string; readonly service: string; readonly queue: string };
  readonly userAgent: string;
  /** Follow the far end's transfers (incoming REFER, RFC 3515); false refuses them with 603. Default true. */
  readonly acceptRefer?: boolean;
}

export const defaultCallInfoHeaders = {
  language: "X-Caller-Language",
  service: "X-Service",
  queue: "X-Queue",
} as const;

/** Defaults for everything but the server and credentials. */
export const sipDefaults = {
  rejectUnauthorized: true,
  registerExpires: 600,
  keepAliveSeconds: 25,
  livenessSeconds: 30,
  callInfoHeaders: defaultCallInfoHeaders,
  userAgent: "Cuffia",
  acceptRefer: true,
} as const;

/**
 * The `sip:` section as the SIP side takes it; undefined without one. `version` goes after the
 * configured User-Agent (`Cuffia/0.1.0`).
 */
export function sipOptionsFromConfig(config: Config, version: string): SipOptions | undefined {
  if (!config.sip) return undefined;
  const {
    server,
    fallback_servers,
    aor,
    username,
    password,
    display_name,
    ca_file,
    tls_verify,
    register_expires,
    keepalive_seconds,
    liveness_seconds,
    call_info_headers,
    user_agent,
    accept_refer,
    // Core policy (config/policy.ts), not the SIP side's.
    auto_answer: _autoAnswer,
    transfer_targets: _transferTargets,
    ...rest
  } = config.sip;
  everyKeyRead(rest);
  return {
    servers: [server, ...fallback_servers],
    aor,
    username,
    password,
    ...(display_name !== undefined ? { displayName: display_name } : {}),
    ...(ca_file !== undefined ? { caFile: ca_file } : {}),
    rejectUnauthorized: tls_verify,
    registerExpires: register_expires,
    keepAliveSeconds: keepalive_seconds,
    livenessSeconds: liveness_seconds,
    callInfoHeaders: call_info_headers,
    userAgent: `${user_agent}/${version}`,
    acceptRefer: accept_refer,
  };
}
