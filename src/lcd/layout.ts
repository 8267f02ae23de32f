/**
 * Fitting translated templates into a fixed number of cells (pure).
 *
 * A template is a string with `{name}` placeholders and at most one `\t` that pushes what follows
 * to the right edge. Translations list templates from the most to the least wordy; the first that
 * fits wins. Values are either atomic (numbers, times, tags: never cut) or text (service, reason,
 * names: may be shortened). When even the last template overflows, labels go first, then text
 * values shrink, then whole atomic values are dropped from the end: a number is never cut.
 */

/** A value for a placeholder: atomic values are never cut. */
export interface Value {
  readonly text: string;
  readonly atomic: boolean;
}

export const num = (text: string | number): Value => ({ text: clean(String(text)), atomic: true });
export const txt = (text: string): Value => ({ text: clean(text), atomic: false });

export type Vars = Readonly<Record<string, Value>>;

/** Display cells: one per code point, after NFC; controls, format chars and stray marks removed. */
export function clean(s: string): string {
  return s
    .normalize("NFC")
    .replace(/[\p{C}\p{M}]/gu, "")
    .replace(/\s+/gu, " ")
    .trim();
}

export function cells(s: string): string[] {
  return Array.from(s);
}

export function width(s: string): number {
  return cells(s).length;
}

type Piece = { kind: "lit"; text: string } | { kind: "val"; value: Value } | { kind: "right" };

function parse(template: string, vars: Vars): Piece[] | null {
  const pieces: Piece[] = [];
  const re = /\{(\w+)\}|\t/g;
  let at = 0;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > at) pieces.push({ kind: "lit", text: template.slice(at, m.index) });
    if (m[0] === "\t") pieces.push({ kind: "right" });
    else {
      const value = vars[m[1] ?? ""];
      // A template naming a value we do not have does not apply (e.g. "{service}" with no service).
      if (value === undefined || value.text === "") return null;
      pieces.push({ kind: "val", value });
    }
    at = m.index + m[0].length;
  }
  if (at < template.length) pieces.push({ kind: "lit", text: template.slice(at) });
  return pieces;
}

function render(pieces: readonly Piece[], cols: number): string | null {
  const split = pieces.findIndex((p) => p.kind === "right");
  const text = (ps: readonly Piece[]) =>
    ps.map((p) => (p.kind === "lit" ? p.text : p.kind === "val" ? p.value.text : "")).join("");
  if (split < 0) {
    const s = text(pieces);
    return width(s) <= cols ? s.padEnd(cols + s.length - width(s)) : null;
  }
  const left = text(pieces.slice(0, split)).trimEnd();
  const right = text(pieces.slice(split + 1)).trimStart();
  const gap = cols - width(left) - width(right);
  // Left and right parts need one blank between them unless one is empty.
  if (gap < (left && right ? 1 : 0)) return null;
  return left + " ".repeat(gap) + right;
}

/** Exactly `cols` cells: the first template that fits, else the last one squeezed (see above). */
export function fitLine(cols: number, templates: readonly string[], vars: Vars = {}): string {
  let last: Piece[] | null = null;
  for (const t of templates) {
    const pieces = parse(t, vars);
    if (!pieces) continue;
    last = pieces;
    const s = render(pieces, cols);
    if (s !== null) return s;
  }
  return last ? squeeze(last, cols) : " ".repeat(cols);
}

/** First line that fits among several template lists (e.g. "reason + time" or "time alone"). */
function squeeze(pieces: Piece[], cols: number): string {
  // 1. labels: keep only the blanks that separate values.
  let ps: Piece[] = pieces.map((p) =>
    p.kind === "lit" ? { kind: "lit", text: /\s/.test(p.text) ? " " : "" } : p,
  );
  let s = render(ps, cols);
  if (s !== null) return s;
  // 2. text values shrink, longest first, down to one cell, then vanish.
  for (;;) {
    let longest = -1;
    for (let i = 0; i < ps.length; i++) {
      const p = ps[i];
      if (p?.kind !== "val" || p.value.atomic || p.value.text === "") continue;
      const q = ps[longest];
      if (longest < 0 || (q?.kind === "val" && width(p.value.text) > width(q.value.text))) longest = i;
    }
    if (longest < 0) break;
    const p = ps[longest] as { kind: "val"; value: Value };
    const c = cells(p.value.text);
    const shorter = c.length > 1 ? c.slice(0, -1).join("").trimEnd() : "";
    ps = ps.map((x, i) => (i === longest ? { kind: "val", value: { text: shorter, atomic: false } } : x));
    s = render(ps, cols);
    if (s !== null) return s;
  }
  // 3. drop whole atomic values from the end (never cut one); keep at least the first.
  const atomics = ps.filter((p): p is { kind: "val"; value: Value } => p.kind === "val" && p.value.atomic);
  const kept: string[] = [];
  for (const a of atomics) {
    const candidate = [...kept, a.value.text].join(" ");
    if (width(candidate) <= cols) kept.push(a.value.text);
    else break;
  }
  if (kept.length > 0) return kept.join(" ").padEnd(cols);
  // 4. a single value wider than the whole line (a malformed 30-digit "number"): its tail, marked.
  const first = atomics[0]?.value.text ?? "";
  const tail = cells(first).slice(-(cols - 1));
  return ("…" + tail.join("")).padEnd(cols).slice(0, cols);
}

/** "m:ss" under an hour, "h:mm:ss" beyond; negative or non-finite input shows 0:00. */
export function clock(seconds: number): string {
  const s = Number.isFinite(seconds) ? Math.max(0, Math.floor(seconds)) : 0;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}
