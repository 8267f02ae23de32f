/**
 * A bare broker check for `cuffia doctor`: CONNECT with the desk's credentials, TLS files and
 * protocol, then DISCONNECT at once. No will, no subscription, nothing published: it must not
 * disturb the retained presence of a desk that may be running. MQTT.js stays in this folder.
 */
import { readFile } from "node:fs/promises";
import mqtt, { type IClientOptions } from "mqtt";

export interface BrokerProbeOptions {
  readonly url: string;
  readonly clientId: string;
  readonly protocolVersion: 4 | 5;
  readonly keepaliveSeconds: number;
  readonly username?: string;
  readonly password?: string;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

export type BrokerProbeOutcome =
  | { readonly kind: "connected" }
  /** CONNACK refused: MQTT 3.1.1 return code (1-5) or MQTT 5 reason code (0x80 and up). */
  | { readonly kind: "refused"; readonly code: number; readonly reason: string }
  | { readonly kind: "unreachable"; readonly error: string }
  | { readonly kind: "timeout"; readonly seconds: number }
  /** A TLS file could not be read, or the client could not be built. */
  | { readonly kind: "error"; readonly error: string };

export async function probeBroker(o: BrokerProbeOptions, budgetMs: number): Promise<BrokerProbeOutcome> {
  const files: Record<string, Buffer> = {};
  for (const [key, path] of [
    ["ca", o.caFile],
    ["cert", o.certFile],
    ["key", o.keyFile],
  ] as const) {
    if (path === undefined) continue;
    try {
      files[key] = await readFile(path);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return { kind: "error", error: `cannot read mqtt.${key}_file ${path} (${err.code ?? err.message})` };
    }
  }
  const options: IClientOptions = {
    clientId: o.clientId,
    protocolVersion: o.protocolVersion,
    keepalive: o.keepaliveSeconds,
    reconnectPeriod: 0,
    connectTimeout: budgetMs,
    clean: true,
    rejectUnauthorized: true,
    ...(o.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 0 } } : {}),
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
    ...files,
  };
  return new Promise<BrokerProbeOutcome>((resolve) => {
    let lastError: string | null = null;
    let done = false;
    const client = mqtt.connect(o.url, options);
    const finish = (o: BrokerProbeOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      client.removeAllListeners();
      client.on("error", () => undefined);
      // Connected: a clean DISCONNECT. Otherwise just drop whatever is half open.
      const fallback = setTimeout(() => resolve(o), 2000);
      client.end(o.kind !== "connected", () => {
        clearTimeout(fallback);
        resolve(o);
      });
    };
    const timer = setTimeout(
      () =>
        finish(
          lastError !== null
            ? { kind: "unreachable", error: lastError }
            : { kind: "timeout", seconds: Math.round(budgetMs / 100) / 10 },
        ),
      budgetMs,
    );
    client.on("connect", () => finish({ kind: "connected" }));
    client.on("error", (err: Error & { code?: unknown }) => {
      if (typeof err.code === "number" && err.code > 0) {
        finish({
          kind: "refused",
          code: err.code,
          reason: `${err.message.replace(/^Connection refused:\s*/i, "")} (code ${err.code})`,
        });
        return;
      }
      lastError = err.message || String(err.code ?? err);
    });
    client.on("close", () => {
      if (lastError !== null) finish({ kind: "unreachable", error: lastError });
    });
  });
}
