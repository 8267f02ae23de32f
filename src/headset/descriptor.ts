/**
 * HID report descriptor parser (pure): bytes → top-level collections and main items with their
 * usages, report ids and bit offsets. HID 1.11 §6.2.2; the rules and traps are summarised in
 * reference/hid-telephony.md §3. It knows nothing about telephony; `telephony-map.ts` picks the
 * fields the headset driver needs.
 */

export type Direction = "input" | "output" | "feature";

export class DescriptorError extends Error {
  readonly code = "bad_descriptor";
  constructor(message: string) {
    super(message);
    this.name = "DescriptorError";
  }
}

/** One Input/Output/Feature main item: `count` elements of `size` bits starting at `bit`. */
export interface MainItem {
  readonly dir: Direction;
  readonly reportId: number;
  /** Bit offset inside the payload (after the report-ID byte) of element 0. */
  readonly bit: number;
  readonly size: number;
  readonly count: number;
  /** The item's data (flags, HID 1.11 §6.2.2.5). */
  readonly flags: number;
  readonly constant: boolean;
  readonly variable: boolean;
  readonly relative: boolean;
  readonly preferred: boolean;
  readonly nullState: boolean;
  readonly logicalMin: number;
  readonly logicalMax: number;
  /**
   * Usages by the spec's reading: a short usage takes the usage page in force when the main
   * item is reached (HID 1.11 §6.2.2.8).
   */
  readonly usages: readonly number[];
  /**
   * Usages by Linux's reading (`hid_concatenate_last_usage_page`): a short usage keeps the page
   * of its declaration unless it trails the last page switch. Differs on Poly/EPOS fixtures.
   */
  readonly altUsages: readonly number[];
  /** Index into `collections` of the enclosing top-level collection; -1 outside any. */
  readonly tlc: number;
}

export interface TopLevelCollection {
  /** Usage of the collection (spec reading), 0 when it had none. */
  readonly usage: number;
  /** Collection type: 0 Physical, 1 Application, 2 Logical... */
  readonly kind: number;
}

export interface ParsedDescriptor {
  readonly collections: readonly TopLevelCollection[];
  readonly items: readonly MainItem[];
  /** `${dir}:${reportId}` → payload length in bytes, without the report-ID byte. */
  readonly payloadBytes: ReadonlyMap<string, number>;
  /** True when at least one Report ID item appeared (otherwise all reports are id 0). */
  readonly usesReportIds: boolean;
  /** Non-fatal oddities (unclosed collections), for logs. */
  readonly warnings: readonly string[];
}

interface Globals {
  usagePage: number;
  logicalMinU: number;
  logicalMinS: number;
  logicalMaxU: number;
  logicalMaxS: number;
  reportSize: number;
  reportId: number;
  reportCount: number;
}

/** One short usage as declared: its id, the page at declaration, whether it was extended. */
interface LocalUsage {
  value: number;
  declaredPage: number;
  extended: boolean;
}

interface RawItem {
  readonly type: number;
  readonly tag: number;
  readonly size: number;
  /** Data as unsigned little-endian. */
  readonly u: number;
  /** Data sign-extended by its size. */
  readonly s: number;
  readonly offset: number;
}

const ITEM_MAIN = 0;
const ITEM_GLOBAL = 1;
const ITEM_LOCAL = 2;

/** Guards against absurd Report Size × Count in a corrupt descriptor (HID reports are small). */
const MAX_REPORT_BITS = 8 * 65536;
/** A Usage Minimum..Maximum range longer than this is kept as its ends only. */
const MAX_USAGE_RANGE = 4096;

/** Splits the descriptor into items; throws DescriptorError on a truncated item. */
export function* items(d: Uint8Array): Generator<RawItem> {
  let i = 0;
  while (i < d.length) {
    const offset = i;
    const p = d[i++]!;
    if (p === 0xfe) {
      // Long item (HID 1.11 §6.2.2.3): bDataSize, bLongItemTag, data. None is defined; skip it.
      const n = d[i];
      if (n === undefined || i + 2 + n > d.length)
        throw new DescriptorError(`truncated long item at byte ${offset}`);
      i += 2 + n;
      continue;
    }
    const n = [0, 1, 2, 4][p & 3]!;
    if (i + n > d.length) throw new DescriptorError(`truncated item 0x${hex2(p)} at byte ${offset}`);
    let u = 0;
    for (let k = 0; k < n; k++) u = (u + d[i + k]! * 2 ** (8 * k)) >>> 0;
    i += n;
    const s = n === 4 ? u | 0 : n ? (u << (32 - 8 * n)) >> (32 - 8 * n) : 0;
    yield { type: (p >> 2) & 3, tag: p >> 4, size: n, u, s, offset };
  }
}

export function parseDescriptor(bytes: Uint8Array): ParsedDescriptor {
  if (bytes.length === 0) throw new DescriptorError("empty report descriptor");
  let g: Globals = {
    usagePage: 0,
    logicalMinU: 0,
    logicalMinS: 0,
    logicalMaxU: 0,
    logicalMaxS: 0,
    reportSize: 0,
    reportId: 0,
    reportCount: 0,
  };
  const stack: Globals[] = [];
  let locals: LocalUsage[] = [];
  let usageMin: LocalUsage | null = null;
  const collections: TopLevelCollection[] = [];
  const mains: MainItem[] = [];
  const cursors = new Map<string, number>();
  const warnings: string[] = [];
  let depth = 0;
  let tlc = -1;
  let usesReportIds = false;

  const resolve = (): { spec: number[]; linux: number[] } => {
    const spec = locals.map((l) => (l.extended ? l.value : (g.usagePage * 0x10000 + l.value) >>> 0));
    // Linux: complete trailing short usages with the current page until one already has it.
    const linux = locals.map((l) => (l.extended ? l.value : (l.declaredPage * 0x10000 + l.value) >>> 0));
    for (let i = locals.length - 1; i >= 0; i--) {
      const l = locals[i]!;
      if (l.extended) continue;
      if (l.declaredPage === g.usagePage) break;
      linux[i] = (g.usagePage * 0x10000 + l.value) >>> 0;
    }
    return { spec, linux };
  };

  for (const it of items(bytes)) {
    if (it.type === ITEM_MAIN) {
      if (it.tag === 0x8 || it.tag === 0x9 || it.tag === 0xb) {
        const dir: Direction = it.tag === 0x8 ? "input" : it.tag === 0x9 ? "output" : "feature";
        const key = `${dir}:${g.reportId}`;
        const bit = cursors.get(key) ?? 0;
        const bits = g.reportSize * g.reportCount;
        if (bit + bits > MAX_REPORT_BITS) {
          throw new DescriptorError(`${dir} report ${g.reportId} exceeds 64 KiB at byte ${it.offset}`);
        }
        cursors.set(key, bit + bits);
        const { spec, linux } = resolve();
        // Logical Maximum is unsigned unless the minimum is negative, as Linux reads it.
        const logicalMin = g.logicalMinS;
        const logicalMax = logicalMin < 0 ? g.logicalMaxS : g.logicalMaxU;
        mains.push({
          dir,
          reportId: g.reportId,
          bit,
          size: g.reportSize,
          count: g.reportCount,
          flags: it.u,
          constant: (it.u & 0x01) !== 0,
          variable: (it.u & 0x02) !== 0,
          relative: (it.u & 0x04) !== 0,
          preferred: (it.u & 0x20) === 0,
          nullState: (it.u & 0x40) !== 0,
          logicalMin,
          logicalMax,
          usages: spec,
          altUsages: linux,
          tlc,
        });
      } else if (it.tag === 0xa) {
        if (depth === 0) {
          const { spec } = resolve();
          collections.push({ usage: spec[0] ?? 0, kind: it.u & 0xff });
          tlc = collections.length - 1;
        }
        // Nested collections (even Application ones without a usage, EPOS D1) stay inside
        // the enclosing top-level collection (reference §3.2).
        depth++;
      } else if (it.tag === 0xc) {
        if (depth === 0) throw new DescriptorError(`End Collection without Collection at byte ${it.offset}`);
        depth--;
        if (depth === 0) tlc = -1;
      } else {
        throw new DescriptorError(`unknown main item tag 0x${hex2(it.tag)} at byte ${it.offset}`);
      }
      // Locals are cleared after every main item, Collection and End Collection included.
      locals = [];
      usageMin = null;
    } else if (it.type === ITEM_GLOBAL) {
      switch (it.tag) {
        case 0x0:
          g.usagePage = it.u & 0xffff;
          break;
        case 0x1:
          g.logicalMinU = it.u;
          g.logicalMinS = it.s;
          break;
        case 0x2:
          g.logicalMaxU = it.u;
          g.logicalMaxS = it.s;
          break;
        case 0x7:
          g.reportSize = it.u;
          break;
        case 0x8:
          if (it.u === 0 || it.u > 0xff)
            throw new DescriptorError(`invalid Report ID ${it.u} at byte ${it.offset}`);
          g.reportId = it.u;
          usesReportIds = true;
          break;
        case 0x9:
          g.reportCount = it.u;
          break;
        case 0xa:
          stack.push({ ...g });
          break;
        case 0xb: {
          const top = stack.pop();
          if (!top) throw new DescriptorError(`Pop without Push at byte ${it.offset}`);
          g = top;
          break;
        }
        // Physical Min/Max (3, 4), Unit Exponent (5), Unit (6): read and ignored.
        default:
          break;
      }
    } else if (it.type === ITEM_LOCAL) {
      const extended = it.size === 4;
      const local: LocalUsage = {
        value: extended ? it.u : it.u & 0xffff,
        declaredPage: g.usagePage,
        extended,
      };
      if (it.tag === 0x0) {
        locals.push(local);
      } else if (it.tag === 0x1) {
        usageMin = local;
      } else if (it.tag === 0x2 && usageMin) {
        const lo = usageMin.value;
        const hi = local.value;
        const n = hi >= lo ? Math.min(hi - lo + 1, MAX_USAGE_RANGE) : 0;
        for (let k = 0; k < n; k++) {
          locals.push({
            value: (lo + k) >>> 0,
            declaredPage: usageMin.declaredPage,
            extended: usageMin.extended,
          });
        }
        usageMin = null;
      }
      // Designator, String and Delimiter locals are ignored.
    }
    // Type 3 is reserved: ignored.
  }
  if (depth !== 0) warnings.push(`${depth} collection(s) not closed at the end of the descriptor`);

  const payloadBytes = new Map<string, number>();
  for (const [key, bits] of cursors) payloadBytes.set(key, Math.ceil(bits / 8));
  return { collections, items: mains, payloadBytes, usesReportIds, warnings };
}

/** Usage of element `i` of a variable item: the last usage repeats (HID 1.11 §6.2.2.8). */
export function elementUsage(list: readonly number[], i: number): number | undefined {
  if (list.length === 0) return undefined;
  return list[Math.min(i, list.length - 1)];
}

/** Parses the fixtures' and the CLI's text form: hex bytes separated by whitespace or commas. */
export function parseHexBytes(text: string): Uint8Array {
  const tokens = text.split(/[\s,]+/).filter((t) => t.length > 0);
  if (tokens.length === 0) throw new DescriptorError("no hex bytes found");
  const out = new Uint8Array(tokens.length);
  tokens.forEach((t, i) => {
    const m = /^(?:0x)?([0-9a-fA-F]{1,2})$/.exec(t);
    if (!m) throw new DescriptorError(`not a hex byte: ${JSON.stringify(t.slice(0, 16))} (token ${i + 1})`);
    out[i] = Number.parseInt(m[1]!, 16);
  });
  return out;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}
