/**
 * Parser for kamcmd's text output (binrpc structures printed one member a line):
 *
 *   {                         anonymous struct (one per array element)
 *     Domains: {              named struct
 *       Domain: location      scalar member
 *     }
 *   }
 *
 * A member name that repeats inside one struct (e.g. `Contact:` for each contact of an AoR)
 * becomes an array. Scalars stay strings; "[not set]" becomes null.
 */
export type KamValue = string | null | KamStruct | KamValue[];
export interface KamStruct {
  [key: string]: KamValue;
}

function add(target: KamStruct, key: string, value: KamValue): void {
  if (!(key in target)) {
    target[key] = value;
    return;
  }
  const existing = target[key];
  if (Array.isArray(existing) && (existing as KamValue[] & { repeated?: true }).repeated) {
    existing.push(value);
    return;
  }
  const list = [existing as KamValue, value] as KamValue[] & { repeated?: true };
  list.repeated = true;
  target[key] = list;
}

/** Parses kamcmd output into a list of top-level values (usually one struct per element). */
export function parseKamcmd(text: string): KamValue[] {
  const top: KamValue[] = [];
  const stack: Array<{ struct: KamStruct; key: string | null }> = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    const parent = stack[stack.length - 1];
    if (line === "{") {
      stack.push({ struct: {}, key: null });
      continue;
    }
    if (line === "}") {
      const done = stack.pop();
      if (!done) continue;
      const outer = stack[stack.length - 1];
      if (done.key !== null && outer) add(outer.struct, done.key, done.struct);
      else if (outer) add(outer.struct, "", done.struct);
      else top.push(done.struct);
      continue;
    }
    const colon = line.indexOf(":");
    if (colon < 0) {
      top.push(line);
      continue;
    }
    const key = line.slice(0, colon).trim();
    const rest = line.slice(colon + 1).trim();
    if (rest === "{") {
      stack.push({ struct: {}, key });
      continue;
    }
    const value = rest === "[not set]" ? null : rest;
    if (parent) add(parent.struct, key, value);
    else top.push(line);
  }
  return top;
}

/** Always an array: a member that appeared once is wrapped. */
export function asList(value: KamValue | undefined): KamValue[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

export function asStruct(value: KamValue | undefined): KamStruct {
  return value !== null && value !== undefined && typeof value === "object" && !Array.isArray(value)
    ? value
    : {};
}
