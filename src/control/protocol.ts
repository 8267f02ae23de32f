/**
 * The control socket's request language (contracts/cli-config-control.md): one JSON object a
 * line, `{"id": 1, "cmd": "pause", "reason": "break"}`. Parsing is pure and never throws: a line
 * is either a request or an error answer to send back.
 */
import { z } from "zod";
import type { Command } from "../core/types.js";

/** A line longer than this gets one error line and the connection is closed: a peer cannot grow our memory. */
export const MAX_LINE = 64 * 1024;

const id = z.union([z.string().max(128), z.number(), z.null()]).optional();
const onOff = z.boolean().optional();

const requestSchema = z.discriminatedUnion("cmd", [
  z.object({ id, cmd: z.literal("status") }),
  z.object({ id, cmd: z.literal("subscribe") }),
  z.object({ id, cmd: z.literal("answer") }),
  z.object({ id, cmd: z.literal("reject") }),
  z.object({ id, cmd: z.literal("hangup") }),
  z.object({ id, cmd: z.literal("mute"), on: onOff }),
  z.object({ id, cmd: z.literal("hold"), on: onOff }),
  z.object({ id, cmd: z.literal("transfer"), target: z.string().min(1).max(256) }),
  z.object({ id, cmd: z.literal("dial"), target: z.string().min(1).max(256) }),
  z.object({ id, cmd: z.literal("dtmf"), digits: z.string().min(1).max(64) }),
  z.object({ id, cmd: z.literal("login") }),
  z.object({ id, cmd: z.literal("logout") }),
  z.object({ id, cmd: z.literal("pause"), reason: z.string().min(1).max(64).optional() }),
  z.object({ id, cmd: z.literal("unpause") }),
  z.object({ id, cmd: z.literal("ready") }),
]);

export const COMMANDS = requestSchema.options.map((o) => o.shape.cmd.value);

export type RequestId = string | number | null;

export type Request =
  | { readonly id: RequestId; readonly kind: "status" }
  | { readonly id: RequestId; readonly kind: "subscribe" }
  | { readonly id: RequestId; readonly kind: "desk"; readonly command: Command };

export interface ErrorAnswer {
  readonly id: RequestId;
  readonly ok: false;
  readonly error: { readonly code: string; readonly message: string };
}

export function parseRequest(line: string): Request | ErrorAnswer {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return errorAnswer(null, "bad_request", "not JSON: send one JSON object per line");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    return errorAnswer(null, "bad_request", 'send a JSON object such as {"id":1,"cmd":"status"}');
  const rid = requestId((raw as { id?: unknown }).id);
  const cmd = (raw as { cmd?: unknown }).cmd;
  if (typeof cmd !== "string") return errorAnswer(rid, "bad_request", '"cmd" is missing');
  if (!COMMANDS.includes(cmd as (typeof COMMANDS)[number]))
    return errorAnswer(rid, "unknown_command", `unknown command "${cmd}"; known: ${COMMANDS.join(", ")}`);
  const parsed = requestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join(".") || "request";
    return errorAnswer(rid, "bad_request", `${where}: ${issue?.message ?? "invalid"}`);
  }
  const r = parsed.data;
  const rId = r.id ?? null;
  switch (r.cmd) {
    case "status":
      return { id: rId, kind: "status" };
    case "subscribe":
      return { id: rId, kind: "subscribe" };
    case "mute":
    case "hold":
      return {
        id: rId,
        kind: "desk",
        command: r.on === undefined ? { cmd: r.cmd } : { cmd: r.cmd, on: r.on },
      };
    case "pause":
      return {
        id: rId,
        kind: "desk",
        command: r.reason === undefined ? { cmd: "pause" } : { cmd: "pause", reason: r.reason },
      };
    case "transfer":
    case "dial":
      return { id: rId, kind: "desk", command: { cmd: r.cmd, target: r.target } };
    case "dtmf":
      return { id: rId, kind: "desk", command: { cmd: "dtmf", digits: r.digits } };
    default:
      return { id: rId, kind: "desk", command: { cmd: r.cmd } };
  }
}

function requestId(v: unknown): RequestId {
  return typeof v === "string" || typeof v === "number" ? v : null;
}

export function errorAnswer(id: RequestId, code: string, message: string): ErrorAnswer {
  return { id, ok: false, error: { code, message } };
}

/** `ctl` positional arguments → a request object (`ctl pause break`, `ctl mute on`). */
export function requestFromArgs(cmd: string, arg: string | undefined): Record<string, unknown> | string {
  const bool = (v: string | undefined): boolean | undefined | string => {
    if (v === undefined) return undefined;
    if (["on", "true", "yes", "1"].includes(v)) return true;
    if (["off", "false", "no", "0"].includes(v)) return false;
    return `"${v}" is not on/off`;
  };
  switch (cmd) {
    case "mute":
    case "hold": {
      const on = bool(arg);
      if (typeof on === "string") return on;
      return on === undefined ? { cmd } : { cmd, on };
    }
    case "pause":
      return arg === undefined ? { cmd } : { cmd, reason: arg };
    case "transfer":
    case "dial":
      return arg === undefined ? `${cmd} needs a target` : { cmd, target: arg };
    case "dtmf":
      return arg === undefined ? "dtmf needs digits" : { cmd, digits: arg };
    default:
      return { cmd };
  }
}
