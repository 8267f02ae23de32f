/**
 * One linear pass over a parsed YAML document: counts nodes and depth (limits against resource
 * exhaustion), finds duplicate keys and aliases to no anchor, and hands every scalar value to a
 * callback with its key path. The `yaml` package's own duplicate-key check compares each key with
 * every earlier one (40k keys in one mapping: 41 s), and its alias check walks the whole document
 * per alias; both are done here with a Set per mapping and one set of anchors seen so far.
 */
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type Node,
  type Pair,
  type Scalar,
} from "yaml";

/** Far more than any real config (a full one is ~200 nodes); bounds memory and check time. */
export const MAX_NODES = 100_000;
/** Nesting deeper than this is refused before anything recursive sees it. */
export const MAX_DEPTH = 64;
/** How many nodes aliases may expand to (yaml's maxAliasCount): stops "billion laughs". */
export const MAX_ALIAS_COUNT = 100;

export type KeyPath = ReadonlyArray<string | number>;

export interface TreeProblem {
  readonly offset: number;
  readonly path: KeyPath;
  readonly message: string;
  /** For a duplicate key: the offset of its first occurrence. */
  readonly firstAt?: number;
}

export interface TreeScan {
  readonly problems: TreeProblem[];
  /** Offset of the first alias, where an alias bomb is reported. */
  readonly firstAlias: number | null;
}

/**
 * Walks the document once, iteratively (no recursion: a deep file cannot overflow the stack).
 * `onScalar` sees every scalar that is a value, not a key.
 */
export function scanTree(doc: Document, onScalar: (node: Scalar, path: KeyPath) => void): TreeScan {
  const problems: TreeProblem[] = [];
  const anchors = new Set<string>();
  let firstAlias: number | null = null;
  let count = 0;
  const stack: Array<{ node: unknown; path: KeyPath }> = [];
  if (doc.contents) stack.push({ node: doc.contents, path: [] });
  while (stack.length > 0) {
    const { node, path } = stack.pop() as { node: unknown; path: KeyPath };
    if (node === null || node === undefined) continue;
    count++;
    if (count > MAX_NODES) {
      problems.push({
        offset: rangeStart(node),
        path,
        message: `the file has more than ${MAX_NODES} values: that is not a config (limit against resource exhaustion)`,
      });
      return { problems, firstAlias };
    }
    if (path.length > MAX_DEPTH) {
      problems.push({
        offset: rangeStart(node),
        path,
        message: `nested more than ${MAX_DEPTH} levels deep: that is not a config (limit against resource exhaustion)`,
      });
      return { problems, firstAlias };
    }
    const anchor = (node as { anchor?: string }).anchor;
    if (isAlias(node)) {
      firstAlias ??= rangeStart(node);
      if (!anchors.has(node.source))
        problems.push({
          offset: rangeStart(node),
          path,
          message: `alias *${node.source} refers to no anchor &${node.source} above it`,
        });
      continue;
    }
    if (anchor) anchors.add(anchor);
    if (isScalar(node)) {
      onScalar(node, path);
      continue;
    }
    // Children are pushed in reverse so they pop in document order (anchors before aliases).
    if (isMap(node)) {
      const seen = new Map<string, number>();
      const children: Array<{ node: unknown; path: KeyPath }> = [];
      for (const pair of node.items as Pair[]) {
        const k = pair.key;
        if (isScalar(k)) {
          const name = String(k.value);
          const first = seen.get(name);
          if (first !== undefined)
            problems.push({
              offset: rangeStart(k),
              path: [...path, name],
              message: "duplicate key: each key may appear once per mapping",
              firstAt: first,
            });
          else seen.set(name, rangeStart(k));
          children.push({ node: pair.value, path: [...path, name] });
        } else {
          // A complex key (? [a, b]): JavaScript objects cannot hold it; yaml would stringify it.
          problems.push({
            offset: rangeStart(k),
            path,
            message: "a key must be a plain word, not a list or mapping",
          });
        }
        count++; // the pair itself
      }
      for (let i = children.length - 1; i >= 0; i--)
        stack.push(children[i] as { node: unknown; path: KeyPath });
      continue;
    }
    if (isSeq(node)) {
      for (let i = node.items.length - 1; i >= 0; i--)
        stack.push({ node: node.items[i], path: [...path, i] });
      continue;
    }
    if (isPair(node)) {
      stack.push({ node: node.value, path });
      stack.push({ node: node.key, path });
    }
  }
  return { problems, firstAlias };
}

function rangeStart(node: unknown): number {
  const r = (node as { range?: [number, number, number] } | null)?.range;
  return r ? r[0] : 0;
}

/**
 * The node at a key path, found through an index of each mapping's keys built once: yaml's own
 * `getIn` scans the mapping's pairs on every call, quadratic when every key of a big mapping
 * is reported.
 */
export class NodeIndex {
  readonly #maps = new WeakMap<object, Map<string, Pair>>();
  constructor(private readonly doc: Document) {}

  /** The pair of `key` in `map` (the last one, as the value the file means). */
  pair(map: unknown, key: string | number): Pair | undefined {
    if (!isMap(map)) return undefined;
    let index = this.#maps.get(map);
    if (!index) {
      index = new Map();
      for (const p of map.items as Pair[]) if (isScalar(p.key)) index.set(String(p.key.value), p);
      this.#maps.set(map, index);
    }
    return index.get(String(key));
  }

  get(path: KeyPath): Node | undefined {
    let node: unknown = this.doc.contents;
    for (const k of path) {
      if (isMap(node)) node = this.pair(node, k)?.value;
      else if (isSeq(node) && typeof k === "number") node = node.items[k];
      else return undefined;
      if (node === null || node === undefined) return undefined;
    }
    return (node ?? undefined) as Node | undefined;
  }
}
