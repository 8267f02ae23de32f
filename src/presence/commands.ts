/**
 * Remote commands from the switchboard (`P/agents/A/commands`): validated, then mapped to desk
 * commands. Pure: the clock and MQTT 5 properties come in as arguments.
 */
import { z } from "zod";
import type { Command } from "../core/types.js";

export const MAX_COMMAND_BYTES = 4096;

/** A command older than this is never acted on: a long outage must not replay "pause" (contract). */
export const COMMAND_MAX_AGE_MS = 60_000;

/** How far ahead of the desk's clock a command's `ts` may be (mqtt.max_clock_skew_seconds). */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 30_000;

const id = z.string().min(1).max(128);
const ts = z.iso.datetime({ offset: true }).optional();
const base = { v: z.literal(1), id, ts };
const text = (max: number) => z.string().trim().min(1).max(max);

// Strict objects: a misspelt field ("reasn") must be refused, not silently ignored.
const commandSchema = z.discriminatedUnion("action", [
  z.strictObject({ ...base, action: z.literal("login") }),
  z.strictObject({ ...base, action: z.literal("logout") }),
  z.strictObject({ ...base, action: z.literal("pause"), reason: text(64).optional() }),
  z.strictObject({ ...base, action: z.literal("unpause") }),
  z.strictObject({ ...base, action: z.literal("ready") }),
  z.strictObject({ ...base, action: z.literal("hangup") }),
  z.strictObject({ ...base, action: z.literal("transfer"), target: text(128) }),
]);

export type RemoteCommand = z.infer<typeof commandSchema>;
export const ACTIONS = ["login", "logout", "pause", "unpause", "ready", "hangup", "transfer"] as const;

export interface CommandMeta {
  /** The PUBLISH had the retain flag: a retained command would replay on every subscribe. */
  readonly retained: boolean;
  /** MQTT 5 message expiry left on delivery (seconds), when the sender set one. */
  readonly expirySeconds?: number;
}

export type CommandParse =
  | { readonly ok: true; readonly id: string; readonly command: Command }
  /** `id` is the request id when it could be read, so the refusal can still be correlated. */
  | { readonly ok: false; readonly id: string | null; readonly error: string };

function readId(json: unknown): string | null {
  if (typeof json !== "object" || json === null) return null;
  const v = (json as Record<string, unknown>).id;
  return typeof v === "string" && v.length > 0 && v.length <= 128 ? v : null;
}

export function parseCommand(
  payload: Uint8Array,
  meta: CommandMeta,
  now: number,
  maxClockSkewMs = DEFAULT_MAX_CLOCK_SKEW_MS,
): CommandParse {
  if (payload.byteLength > MAX_COMMAND_BYTES) {
    return {
      ok: false,
      id: null,
      error: `bad_request: payload of ${payload.byteLength} bytes exceeds ${MAX_COMMAND_BYTES}`,
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload).toString("utf8"));
  } catch {
    return { ok: false, id: null, error: "bad_request: payload is not JSON" };
  }
  const reqId = readId(json);
  if (meta.retained)
    return { ok: false, id: reqId, error: "bad_request: retained commands are not acted on" };
  if (meta.expirySeconds === 0) return { ok: false, id: reqId, error: "expired: message expiry reached" };
  const action =
    typeof json === "object" && json !== null ? (json as Record<string, unknown>).action : undefined;
  if (typeof action === "string" && !(ACTIONS as readonly string[]).includes(action)) {
    return { ok: false, id: reqId, error: `unknown_command: ${action.slice(0, 40)}` };
  }
  const r = commandSchema.safeParse(json);
  if (!r.success) {
    const detail = r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    return { ok: false, id: reqId, error: `bad_request: ${detail}` };
  }
  const c = r.data;
  if (c.ts !== undefined && now - Date.parse(c.ts) > COMMAND_MAX_AGE_MS) {
    return { ok: false, id: c.id, error: `expired: command from ${c.ts} is older than 60 s` };
  }
  // A ts far ahead would pass the age check for ever: such a command could be replayed at will.
  if (c.ts !== undefined && Date.parse(c.ts) - now > maxClockSkewMs) {
    return {
      ok: false,
      id: c.id,
      error: `bad_request: ts ${c.ts} is more than ${Math.round(maxClockSkewMs / 1000)} s ahead of the desk's clock`,
    };
  }
  return { ok: true, id: c.id, command: toDeskCommand(c) };
}

function toDeskCommand(c: RemoteCommand): Command {
  switch (c.action) {
    case "pause":
      return c.reason === undefined ? { cmd: "pause" } : { cmd: "pause", reason: c.reason };
    case "transfer":
      return { cmd: "transfer", target: c.target };
    default:
      return { cmd: c.action };
  }
}

export interface CommandResult {
  readonly v: 1;
  readonly id: string | null;
  readonly ok: boolean;
  readonly error?: string;
}

export function commandResult(
  id: string | null,
  outcome: { ok: true } | { ok: false; error: string },
): CommandResult {
  return outcome.ok ? { v: 1, id, ok: true } : { v: 1, id, ok: false, error: outcome.error };
}
