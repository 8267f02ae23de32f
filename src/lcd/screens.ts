/**
 * What the operator reads: a pure function of the desk state, the language, the geometry and the
 * clock. Row 0 is the headline (status or activity with its timer); the rows below take facts in
 * priority order, so a 2-row display shows the most important one and a 4-row display three.
 * A broken side (SIP, headset, switchboard) outranks queue figures: the operator must know.
 */
import {
  activity,
  activitySince,
  currentCall,
  held,
  remoteHeld,
  secondsBetween,
  wrapUpLeft,
} from "../core/derive.js";
import type { DeskState } from "../core/types.js";
import { languageTag, type Strings, strings } from "./i18n.js";
import { cells, clean, clock, fitLine, num, txt, type Vars } from "./layout.js";
import type { LcdLanguage } from "./options.js";

export interface ScreenContext {
  readonly language: LcdLanguage;
  readonly cols: number;
  readonly rows: number;
  readonly now: number;
  readonly agentName: string | null;
}

/** One row's candidates: templates (most to least wordy) and their values. */
interface Line {
  readonly t: readonly string[];
  readonly v?: Vars;
}

export function screen(state: DeskState, ctx: ScreenContext): string[] {
  const cols = Math.max(0, Math.min(40, Math.floor(Number(ctx.cols) || 0)));
  const rows = Math.max(0, Math.min(4, Math.floor(Number(ctx.rows) || 0)));
  if (cols === 0 || rows === 0) return [];
  const S = strings(ctx.language);
  const now = Number.isFinite(ctx.now) ? ctx.now : 0;
  const { head, more } = layout(state, S, { ...ctx, cols, rows, now });
  const lines = [head, ...more].slice(0, rows);
  const out = lines.map((l) => pad(fitLine(cols, l.t, l.v ?? {}), cols));
  while (out.length < rows) out.push(" ".repeat(cols));
  return out;
}

/** Whether the screen changes with time alone (a timer or an ageing wait is visible). */
export function hasVisibleTimer(state: DeskState): boolean {
  const kind = state.line.kind;
  if (kind !== "idle") return kind !== "ringing" && kind !== "not_responding";
  if (state.status === "paused") return true;
  return state.queues !== null && state.queues.waiting > 0;
}

function pad(s: string, cols: number): string {
  const c = cells(s);
  return c.length >= cols ? c.slice(0, cols).join("") : s + " ".repeat(cols - c.length);
}

function layout(state: DeskState, S: Strings, ctx: ScreenContext): { head: Line; more: Line[] } {
  const tall = ctx.rows >= 3;
  const health = problems(state, S);
  const queue = queueLines(state, S, ctx.now);
  const name = ctx.agentName ? [{ t: ["{name}"], v: { name: txt(ctx.agentName) } }] : [];
  const call = currentCall(state);
  const tag = languageTag(call?.language ?? null);
  const callVars: Record<string, ReturnType<typeof txt>> = {};
  if (call) {
    callVars["number"] = call.number ? num(call.number) : txt(S.noNumber);
    if (tag) callVars["tag"] = num(tag);
    if (call.service) callVars["service"] = txt(call.service);
    if (call.queue) callVars["queue"] = txt(call.queue);
    if (call.transferTarget) callVars["target"] = txt(call.transferTarget);
  }
  const pending = pendingLine(state, S);

  const act = activity(state);
  switch (act) {
    case "ringing": {
      if (!tall) {
        return {
          head: {
            t: ringingHead(call?.service ? "{service}" : call?.queue ? "{queue}" : null, tag !== null, S),
            v: callVars,
          },
          more: [{ t: [...S.ringing.map((r) => `${r}\t{number}`), "{number}"], v: callVars }, ...health],
        };
      }
      return {
        head: { t: tag ? S.ringing.map((r) => `${r}\t{tag}`) : S.ringing, v: callVars },
        more: [
          { t: S.number, v: callVars },
          { t: ["{service}", ...S.callQueue], v: callVars },
          ...health.slice(0, 1),
          ...(call?.service && call.queue ? [{ t: S.callQueue, v: callVars }] : []),
          ...queue,
        ],
      };
    }
    case "on_call":
    case "on_hold": {
      const t = num(clock(secondsBetween(call?.answeredAt ?? activitySince(state), ctx.now)));
      const marks = [
        call?.muted ? S.muted : null,
        // On hold the headline already says so; the mark is for a hold the activity does not show.
        held(state) && act !== "on_hold" ? S.held : null,
        remoteHeld(state) ? S.remoteHeld : null,
        // Clear media where the policy prefers SRTP (the far end could not): worth knowing.
        call?.encryption === "none" && (state.policy.encryption ?? "preferred") !== "off" ? S.clear : null,
      ].filter((m): m is string => m !== null);
      const word = act === "on_hold" ? S.onHold : S.onCall;
      const m = marks.join(" ");
      // Marks outrank the word "on call": the timer already says a call is up.
      const headT = marks.length
        ? [...word.map((w) => `${w} ${m}\t{t}`), `${m}\t{t}`]
        : word.map((w) => `${w}\t{t}`);
      const transfer = call?.transferTarget ? [{ t: S.transfer, v: callVars }] : [];
      return {
        head: { t: headT, v: { t } },
        more: [
          ...transfer,
          { t: tall ? ["{number}\t{tag}", ...S.number] : ["{number}\t{tag}", "{number}"], v: callVars },
          ...(tall ? [{ t: ["{service}", ...S.callQueue], v: callVars }] : []),
          ...health.slice(0, 1),
          ...pending,
          ...queue,
        ],
      };
    }
    case "outbound": {
      const t = num(clock(secondsBetween(call?.offeredAt ?? activitySince(state), ctx.now)));
      return {
        head: { t: S.outbound, v: { t } },
        more: [{ t: tall ? S.numberTo : ["{number}"], v: callVars }, ...health, ...pending, ...queue],
      };
    }
    case "wrap_up": {
      const t = num(String(wrapUpLeft(state, ctx.now) ?? 0));
      return {
        head: { t: S.wrapUp, v: { t } },
        more: [...health.slice(0, 1), ...pending, ...queue, ...health.slice(1)],
      };
    }
    case "not_responding": {
      return {
        head: { t: S.notResponding },
        more: [...health.slice(0, 1), { t: S.missed, v: { n: num(state.missed) } }, ...queue],
      };
    }
    case "idle":
      break;
  }
  switch (state.status) {
    case "logged_out":
      return { head: { t: S.loggedOut }, more: [...health, ...name, ...queue] };
    case "paused": {
      const t = num(clock(secondsBetween(state.statusSince, ctx.now)));
      const reason = txt(reasonText(state.reason, S));
      if (!tall)
        return {
          head: { t: [...S.pausedWithReason, ...S.paused], v: { t, reason } },
          more: [...health, ...queue],
        };
      return {
        head: { t: S.paused, v: { t } },
        more: [
          { t: ["{reason}"], v: { reason } },
          ...health.slice(0, 1),
          ...queue,
          ...health.slice(1),
          ...name,
        ],
      };
    }
    case "available":
      return {
        head: { t: S.available },
        more: [...health.slice(0, 1), ...queue, ...health.slice(1), ...name],
      };
  }
  // A status this version does not know (a newer core, a corrupt state): show what is sure.
  return { head: { t: [] }, more: [...health, ...queue] };
}

/** 2-row ringing headline: the service (or queue) with the caller's language tag. */
function ringingHead(what: string | null, hasTag: boolean, S: Strings): string[] {
  // With a tag, the service shrinks before the tag goes: the tag is what the operator greets in.
  if (what) return [hasTag ? `${what}\t{tag}` : what];
  return hasTag ? S.ringing.map((r) => `${r}\t{tag}`) : [...S.ringing];
}

export function reasonText(reason: string | null, S: Strings): string {
  if (reason === null) return "";
  return S.reasons[reason] ?? clean(reason.replace(/_/g, " "));
}

function problems(state: DeskState, S: Strings): Line[] {
  const h = state.health;
  const out: Line[] = [];
  if (h?.sip === "registering") out.push({ t: S.sipRegistering });
  else if (h?.sip === "unregistered") out.push({ t: S.sipUnregistered });
  else if (h?.sip === "failed") {
    // "403 Forbidden" → the code is the part worth keeping whole.
    const code = /\b\d{3}\b/.exec(h.sipReason ?? "")?.[0];
    out.push({ t: S.sipFailed, v: code ? { reason: num(code) } : {} });
  }
  if (h?.headset === false) out.push({ t: S.noHeadset });
  if (h?.mqtt === false) out.push({ t: S.noSwitchboard });
  for (const side of Object.keys(h?.faults ?? {}).sort()) out.push({ t: S.fault, v: { side: txt(side) } });
  return out;
}

function pendingLine(state: DeskState, S: Strings): Line[] {
  const p = state.pending;
  if (!p) return [];
  if (p.status === "logged_out") return [{ t: S.pendingLogout }];
  return [{ t: S.pendingPause, v: { reason: txt(reasonText(p.reason, S)) } }];
}

/** Queue figures: the main line first, then per-language counts and free agents. */
function queueLines(state: DeskState, S: Strings, now: number): Line[] {
  const q = state.queues;
  if (!q) return [{ t: S.queueUnknown }];
  const waiting = Number.isFinite(q.waiting) ? Math.max(0, Math.floor(q.waiting)) : null;
  if (waiting === null) return [{ t: S.queueUnknown }];
  const out: Line[] = [];
  if (waiting === 0) out.push({ t: S.queueEmpty, v: { n: num(0) } });
  else {
    // The switchboard's figure was true at receivedAt; the longest caller has waited since.
    const age = Number.isFinite(q.receivedAt) ? secondsBetween(q.receivedAt, now) : 0;
    const wait = Number.isFinite(q.longestWait) ? Math.max(0, q.longestWait) + age : null;
    out.push({ t: S.queue, v: { n: num(waiting), t: num(wait === null ? "--" : clock(wait)) } });
  }
  const langs = Object.entries(q.byLanguage ?? {})
    .filter(([, n]) => Number.isFinite(n) && n > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([l, n]) => `${languageTag(l) ?? "??"} ${Math.floor(n)}`);
  if (langs.length > 0) {
    // Each "FR 2" is atomic: when the row is full, whole entries go (the rarest), never a digit.
    const v: Record<string, ReturnType<typeof num>> = {};
    langs.forEach((l, i) => {
      v[`l${i}`] = num(l);
    });
    const keys = langs.map((_, i) => `{l${i}}`);
    out.push({ t: [keys.join("  "), keys.join(" ")], v });
  }
  if (q.availableAgents !== null && Number.isFinite(q.availableAgents)) {
    out.push({ t: S.agents, v: { n: num(Math.max(0, Math.floor(q.availableAgents))) } });
  }
  return out;
}
