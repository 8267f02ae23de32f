/**
 * The demo's console below the terminal LCD: a panel of plain lines (the desk as the switchboard
 * sees it, the call, health, queue figures, recent events, the keys), drawn with ANSI cursor
 * addressing. Only lines that changed are rewritten, each ending with "erase to end of line":
 * no full clears per frame, so nothing flickers, and the LCD box above is never touched.
 */
import { currentCall, held, remoteHeld } from "../../src/core/derive.js";
import type { PresenceDocument } from "../../src/core/presence-document.js";
import type { DeskState } from "../../src/core/types.js";

const ESC = "\u001b[";
export const ansi = {
  goto: (row: number, col: number): string => `${ESC}${row};${col}H`,
  clearScreen: `${ESC}2J${ESC}H`,
  eraseLine: `${ESC}K`,
  eraseBelow: `${ESC}J`,
  hideCursor: `${ESC}?25l`,
  showCursor: `${ESC}?25h`,
  bold: (s: string): string => `${ESC}1m${s}${ESC}0m`,
  dim: (s: string): string => `${ESC}2m${s}${ESC}0m`,
} as const;

/** Rows taken by the 20x4 LCD box drawn by the terminal driver at the top-left (border included). */
export const LCD_ROWS = 6;
export const LCD_COLS = 22;

export interface QueueFigures {
  readonly waiting: number;
  readonly longest_wait: number;
  readonly available_agents: number;
  readonly by_language: Readonly<Record<string, number>>;
}

export interface PanelModel {
  readonly title: string;
  /** Facts shown beside the LCD (PBX, broker...). */
  readonly side: readonly string[];
  readonly desk: DeskState;
  /** The retained presence as received over MQTT by the switchboard (null until the first). */
  readonly presence: PresenceDocument | null;
  readonly queues: Readonly<Record<string, QueueFigures>>;
  readonly switchboard: string;
  /** Newest last. */
  readonly events: readonly string[];
  readonly audio: readonly string[];
  readonly logs: string;
  readonly ctl: string;
  readonly now: number;
}

export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

const yesNo = (b: boolean | null | undefined): string =>
  b === null || b === undefined ? "-" : b ? "yes" : "no";

function presenceLine(p: PresenceDocument | null): string {
  if (!p) return "Presence   (nothing received from the broker yet)";
  const status = p.reason ? `${p.status} (${p.reason})` : p.status;
  const pending = p.pending
    ? p.pending.status === "paused"
      ? `paused (${p.pending.reason})`
      : "logged_out"
    : "-";
  return `Presence   ${status} · ${p.activity} · routable ${yesNo(p.routable)} · pending ${pending}   seq ${p.seq}`;
}

function callLine(d: DeskState, now: number): string {
  const c = currentCall(d);
  if (!c) return "Call       -";
  const who = c.direction === "inbound" ? `from ${c.number ?? "?"}` : `to ${c.number ?? "?"}`;
  const time =
    c.answeredAt !== null
      ? clock((now - c.answeredAt) / 1000)
      : `ringing ${clock((now - c.offeredAt) / 1000)}`;
  const transfer = c.transferTarget ? ` · transferring to ${c.transferTarget}` : "";
  return (
    `Call       ${who} · language ${c.language ?? "-"} · service ${c.service ?? "-"} · queue ${c.queue ?? "-"}` +
    ` · ${time} · muted ${yesNo(c.muted)} · held ${yesNo(held(d))}${remoteHeld(d) ? " (by caller)" : ""}${transfer}`
  );
}

function healthLine(d: DeskState): string {
  const h = d.health;
  const sip = h.sipReason ? `${h.sip} (${h.sipReason})` : h.sip;
  const mqtt = h.mqtt === null ? "-" : h.mqtt ? "connected" : "disconnected";
  const faults = Object.entries(h.faults).map(([k, v]) => `${k}: ${v}`);
  return (
    `Health     sip ${sip} · mqtt ${mqtt} · headset ${yesNo(h.headset)} · lcd ${yesNo(h.lcd)}` +
    (faults.length > 0 ? ` · faults ${faults.join("; ")}` : "")
  );
}

function queueLine(name: string, q: QueueFigures): string {
  const langs = Object.entries(q.by_language)
    .filter(([, n]) => n > 0)
    .map(([l, n]) => `${l} ${n}`)
    .join(" ");
  return `${name.padEnd(8)} ${q.waiting} waiting, longest ${clock(q.longest_wait)}, free agents ${q.available_agents}${langs ? ` (${langs})` : ""}`;
}

export const KEY_HELP = [
  "Keys       space answer/hang up  m mute  f hold  r reject  p pause  u ready",
  "           t transfer to polo1  c call now  d dial the service desk  q quit",
];

/** The panel's lines, from the row below the LCD down; `rows` is the terminal's height. */
export function panelLines(m: PanelModel, rows: number): string[] {
  const queueNames = Object.keys(m.queues);
  const fixed = [
    presenceLine(m.presence),
    callLine(m.desk, m.now),
    healthLine(m.desk),
    ...(queueNames.length === 0
      ? ["Queues     (no figures yet)"]
      : queueNames.map((n, i) => `${i === 0 ? "Queues     " : "           "}${queueLine(n, m.queues[n]!)}`)),
    `Switchbd   ${m.switchboard}`,
  ];
  const tail = [...KEY_HELP, ...m.audio, `Logs       ${m.logs}`, `Control    ${m.ctl}`];
  // What is left for events (3 to 8 lines), keeping one spare row at the bottom for the stop
  // message; blank lines around the events only when there is room for them.
  const free = rows - LCD_ROWS - 1 - fixed.length - tail.length - 1;
  const spaced = free >= 5;
  const room = Math.max(3, Math.min(8, spaced ? free - 2 : free));
  const events = m.events.slice(-room);
  const eventLines = Array.from({ length: room }, (_, i) => {
    const e = events[i];
    return `${i === 0 ? "Events     " : "           "}${e ?? (i === 0 && events.length === 0 ? "-" : "")}`;
  });
  return spaced ? [...fixed, "", ...eventLines, "", ...tail] : [...fixed, ...eventLines, ...tail];
}

/** Lines beside the LCD box. */
export function sideLines(m: PanelModel): string[] {
  return [ansi.bold(m.title), ...m.side];
}

/** Writes lines at fixed rows, rewriting only those that changed since the last frame. */
export class Screen {
  readonly #out: { write(s: string): unknown };
  readonly #last = new Map<string, string>();

  constructor(out: { write(s: string): unknown }) {
    this.#out = out;
  }

  /** Lines starting at (row, col), each cut to `width` visible columns. */
  put(row: number, col: number, lines: readonly string[], width: number): void {
    let s = "";
    lines.forEach((line, i) => {
      const text = cut(line, Math.max(0, width));
      const key = `${row + i}:${col}`;
      if (this.#last.get(key) === text) return;
      this.#last.set(key, text);
      s += ansi.goto(row + i, col) + text + ansi.eraseLine;
    });
    if (s) this.#out.write(s);
  }

  /** Forgets what is on screen (after a resize): the next put() writes everything. */
  invalidate(): void {
    this.#last.clear();
  }
}

/** Cuts a line to `width` visible characters, keeping ANSI SGR sequences whole. */
export function cut(line: string, width: number): string {
  let visible = 0;
  let out = "";
  for (let i = 0; i < line.length; ) {
    if (line.startsWith(ESC, i)) {
      const m = /^\u001b\[[0-9;?]*[A-Za-z]/.exec(line.slice(i));
      if (m) {
        out += m[0];
        i += m[0].length;
        continue;
      }
    }
    const ch = String.fromCodePoint(line.codePointAt(i)!);
    if (visible >= width) {
      i += ch.length;
      continue;
    }
    out += ch;
    visible++;
    i += ch.length;
  }
  return out;
}
