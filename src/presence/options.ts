/**
 * What the presence side needs from the config (`mqtt:` section). The config schema lives in
 * src/config/; this is the already-validated, frozen shape it hands down.
 */
import { everyKeyRead } from "../config/every-key-read.js";
import type { Config } from "../config/schema.js";
export interface PresenceOptions {
  /** `mqtt://`, `mqtts://`, `ws://`, `wss://` broker URL, or `embedded` to run aedes in-process. */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** `P` in contracts/mqtt.md (default `cuffia`). */
  readonly topicPrefix: string;
  /** Queue names whose `P/queues/Q/stats` the desk shows, summed. */
  readonly queues: readonly string[];
  /** 5 (default) or 4 (MQTT 3.1.1) for older brokers. */
  readonly protocolVersion: 4 | 5;
  /** Stable per box; `cuffia-<agentId>` when absent. Must be unique across the fleet. */
  readonly clientId?: string;
  /** The broker sends our will after 1.5 × this when the box dies; 15 s is our default. */
  readonly keepaliveSeconds: number;
  /** PEM files for mqtts:// and wss://: a private CA, and a client certificate for mutual TLS. */
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Queue figures not refreshed for this long are shown as unknown. */
  readonly statsStaleSeconds: number;
  /** Cap of the durable event outbox on disk; events beyond it are dropped with a warning. */
  readonly outboxMaxBytes: number;
  /** A command whose `ts` is further ahead of the desk's clock than this is refused (default 30 s). */
  readonly maxClockSkewSeconds?: number;
  /**
   * MQTT 5 response topics the desk answers on besides its own `P/agents/A/commands/result`: this
   * topic and the topics under it. Absent: only the default result topic.
   */
  readonly responseTopicPrefix?: string;
  /** Port of the embedded broker (url `embedded`), 1883 when absent. */
  readonly embeddedPort?: number;
}

export const EMBEDDED_URL = "embedded";
export const DEFAULT_EMBEDDED_PORT = 1883;

/** The `mqtt:` section as the presence side takes it; undefined without one. */
export function presenceOptionsFromConfig(config: Config): PresenceOptions | undefined {
  if (!config.mqtt) return undefined;
  const {
    url,
    username,
    password,
    topic_prefix,
    queues,
    protocol_version,
    client_id,
    keepalive_seconds,
    ca_file,
    cert_file,
    key_file,
    stats_stale_seconds,
    outbox_max_mb,
    max_clock_skew_seconds,
    response_topic_prefix,
    embedded_port,
    ...rest
  } = config.mqtt;
  everyKeyRead(rest);
  return {
    url,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    topicPrefix: topic_prefix,
    queues,
    protocolVersion: protocol_version,
    ...(client_id !== undefined ? { clientId: client_id } : {}),
    keepaliveSeconds: keepalive_seconds,
    ...(ca_file !== undefined ? { caFile: ca_file } : {}),
    ...(cert_file !== undefined ? { certFile: cert_file } : {}),
    ...(key_file !== undefined ? { keyFile: key_file } : {}),
    statsStaleSeconds: stats_stale_seconds,
    outboxMaxBytes: Math.round(outbox_max_mb * 1024 * 1024),
    maxClockSkewSeconds: max_clock_skew_seconds,
    ...(response_topic_prefix !== undefined ? { responseTopicPrefix: response_topic_prefix } : {}),
    embeddedPort: embedded_port,
  };
}
