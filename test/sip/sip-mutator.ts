/**
 * Seeded mutants of a valid SIP request for the fuzz test (test/integration/sip-fuzz.test.ts).
 * Pure: the same seed, index and base message always give the same bytes, so a mutant that
 * breaks the desk is reproduced from the seed and its index alone.
 *
 * A mutant is the base message with one to three operators applied: structural ones on the
 * header lines and the body first (header duplication/removal, huge values, CRLF injection,
 * line folding, non-UTF-8 bytes, bad SDP bodies, bad start lines), then Content-Length set to the
 * body's true length unless an operator lied about it on purpose, then byte-level ones (byte
 * flips, truncation) on the finished bytes.
 */

/** mulberry32: a 32-bit seeded PRNG, plenty for picking mutations (not for anything secret). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The PRNG of mutant `index` under `seed` (independent of every other mutant). */
export function mutantRng(seed: number, index: number): () => number {
  return prng(Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b));
}

export type Rng = () => number;
const int = (rng: Rng, n: number): number => Math.floor(rng() * n);
const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)] as T;

interface Parts {
  start: string;
  headers: string[];
  body: Buffer;
  /** Set by bad-content-length: written instead of the true length (null: no header at all). */
  contentLength?: string | null;
}

type Op = (p: Parts, rng: Rng) => string;

const HUGE_SIZES = [1024, 8 * 1024, 30_000, 70_000] as const;

/** Invalid or unusual UTF-8: lone continuation, overlong NUL, surrogate, truncated sequence, NUL, 0xFF. */
const BAD_BYTES = [
  [0x80],
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0x00],
  [0xff, 0xfe],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
] as const;

const headerAt = (p: Parts, rng: Rng): number => int(rng, p.headers.length);

const ops: Record<string, Op> = {
  "dup-header": (p, rng) => {
    if (p.headers.length === 0) return "dup-header(none)";
    const i = headerAt(p, rng);
    const copies = 1 + int(rng, 3);
    const line = p.headers[i] as string;
    p.headers.splice(i + 1, 0, ...Array.from({ length: copies }, () => line));
    return `dup-header(${line.split(":")[0]}x${copies})`;
  },
  "remove-header": (p, rng) => {
    if (p.headers.length === 0) return "remove-header(none)";
    const [line] = p.headers.splice(headerAt(p, rng), 1);
    return `remove-header(${line?.split(":")[0]})`;
  },
  "huge-header": (p, rng) => {
    const size = pick(rng, HUGE_SIZES);
    const filler = pick(rng, ["a", "%", ";x=y", ",", "<sip:a@b>", " "]).repeat(size).slice(0, size);
    if (p.headers.length > 0 && rng() < 0.7) {
      const i = headerAt(p, rng);
      const line = p.headers[i] as string;
      const colon = line.indexOf(":");
      p.headers[i] = `${line.slice(0, colon + 1)} ${line.slice(colon + 1).trim()}${filler}`;
      return `huge-header(${line.slice(0, colon)}+${size})`;
    }
    p.headers.push(`X-Fuzz: ${filler}`);
    return `huge-header(X-Fuzz ${size})`;
  },
  "bad-content-length": (p, rng) => {
    const len = p.body.length;
    const value = pick(rng, [
      String(Math.max(0, len - 1 - int(rng, Math.max(1, len)))),
      String(len + 1 + int(rng, 100)),
      "0",
      "99999999",
      "-1",
      "abc",
      "",
      `${len} ${len}`,
      "1e3",
      String(len).padStart(12, "0"),
      null,
    ]);
    p.contentLength = value;
    return `bad-content-length(${value === null ? "absent" : JSON.stringify(value)})`;
  },
  "crlf-injection": (p, rng) => {
    if (p.headers.length === 0) return "crlf-injection(none)";
    const i = headerAt(p, rng);
    const line = p.headers[i] as string;
    const at = 1 + int(rng, Math.max(1, line.length - 1));
    const inject = pick(rng, [
      "\r\n",
      "\r\n\r\n",
      "\r",
      "\n",
      "\r\nContent-Length: 0\r\n\r\n",
      "\r\nVia: SIP/2.0/UDP evil.invalid;branch=z9hG4bKevil",
      "\r\n\r\nINVITE sip:x@y SIP/2.0\r\n",
    ]);
    p.headers[i] = line.slice(0, at) + inject + line.slice(at);
    return `crlf-injection(${line.split(":")[0]}@${at} ${JSON.stringify(inject)})`;
  },
  fold: (p, rng) => {
    // RFC 3261 §7.3.1 line folding: legal, and a classic parser trap.
    if (p.headers.length === 0) return "fold(none)";
    const i = headerAt(p, rng);
    const line = p.headers[i] as string;
    // a space after a visible character: never inside a fold made before (that would end the head)
    const spaces = [...line.matchAll(/(?<=[^\s]) /g)].map((m) => m.index ?? 0);
    if (spaces.length === 0) return "fold(no space)";
    const at = pick(rng, spaces);
    p.headers[i] = `${line.slice(0, at)}\r\n${pick(rng, [" ", "\t", "   "])}${line.slice(at + 1)}`;
    return `fold(${line.split(":")[0]})`;
  },
  "non-utf8": (p, rng) => {
    const bytes = Buffer.from(pick(rng, BAD_BYTES));
    if (p.body.length > 0 && rng() < 0.4) {
      const at = int(rng, p.body.length + 1);
      p.body = Buffer.concat([p.body.subarray(0, at), bytes, p.body.subarray(at)]);
      return `non-utf8(body@${at} ${bytes.toString("hex")})`;
    }
    if (p.headers.length === 0) return "non-utf8(none)";
    const i = headerAt(p, rng);
    const line = p.headers[i] as string;
    const at = int(rng, line.length + 1);
    // latin1 keeps the raw bytes through the string until assembly
    p.headers[i] = line.slice(0, at) + bytes.toString("latin1") + line.slice(at);
    return `non-utf8(${line.split(":")[0]}@${at} ${bytes.toString("hex")})`;
  },
  "bad-sdp": (p, rng) => {
    const sdp = p.body.toString("latin1");
    const lines = sdp.split("\r\n");
    const m = lines.findIndex((l) => l.startsWith("m="));
    const variants: Array<[string, () => string]> = [
      ["missing m=", () => lines.filter((l) => !l.startsWith("m=")).join("\r\n")],
      [
        "absurd port",
        () => sdp.replace(/m=audio \d+/, `m=audio ${pick(rng, ["99999999", "-1", "0", "65536", "x"])}`),
      ],
      [
        "huge payload list",
        () =>
          sdp.replace(
            /RTP\/AVP [^\r]*/,
            `RTP/AVP ${Array.from({ length: 500 + int(rng, 4000) }, (_, k) => k % 256).join(" ")}`,
          ),
      ],
      ["no formats", () => sdp.replace(/RTP\/AVP [^\r]*/, "RTP/AVP")],
      [
        "many m=",
        () => [...lines.slice(0, m), ...Array(200).fill(lines[m]), ...lines.slice(m + 1)].join("\r\n"),
      ],
      ["no c=", () => lines.filter((l) => !l.startsWith("c=")).join("\r\n")],
      [
        "bad c=",
        () => sdp.replace(/c=IN IP4 [^\r]*/, pick(rng, ["c=IN IP4 999.1.1.1", "c=IN IP6 ::g", "c=IN"])),
      ],
      ["port range", () => sdp.replace(/m=audio (\d+)/, "m=audio $1/70000")],
      [
        "bad rtpmap",
        () =>
          sdp.replace(/a=rtpmap:0 [^\r]*/, pick(rng, ["a=rtpmap:0", "a=rtpmap:x PCMU/abc", "a=rtpmap:0 /"])),
      ],
      [
        "garbage",
        () => Buffer.from(Array.from({ length: 1 + int(rng, 400) }, () => int(rng, 256))).toString("latin1"),
      ],
      ["v=1", () => sdp.replace("v=0", "v=1")],
      ["LF only", () => sdp.replace(/\r\n/g, "\n")],
      ["empty", () => ""],
      ["many a=", () => sdp + "a=x\r\n".repeat(2000 + int(rng, 3000))],
    ];
    const [name, make] = pick(rng, variants);
    p.body = Buffer.from(make(), "latin1");
    return `bad-sdp(${name})`;
  },
  "bad-start-line": (p, rng) => {
    const [method, uri, version] = p.start.split(" ") as [string, string, string];
    const variants = [
      `${method}  ${uri} ${version}`,
      `${method} ${uri} SIP/3.0`,
      `${method} ${uri} SIP/2`,
      `${method} ${uri}`,
      `${method.toLowerCase()} ${uri} ${version}`,
      `${method} <${uri}> ${version}`,
      `${method} ${uri} ${version} extra`,
      `${method}\t${uri}\t${version}`,
      `${method} ${version}`,
      `${method} ${uri}${"x".repeat(10_000)} ${version}`,
      `${method} http://example.invalid/ ${version}`,
      `${method} sip: ${version}`,
      `${method} sip:@ ${version}`,
      `${method} sip:a@b:99999999 ${version}`,
      `${method} sip:[::1 ${version}`,
      `FOO ${uri} ${version}`,
      `INV(TE ${uri} ${version}`,
      `${uri} ${method} ${version}`,
      "SIP/2.0 200 OK",
      "SIP/2.0 999999 Huge",
      "SIP/2.0 OK",
      ` ${p.start}`,
      `\r\n${p.start}`,
      "",
    ];
    p.start = pick(rng, variants);
    return `bad-start-line(${JSON.stringify(p.start.slice(0, 60))})`;
  },
};

const STRUCTURAL = Object.keys(ops);
const BYTE_OPS = ["byte-flip", "truncate"] as const;

export interface Mutant {
  readonly bytes: Buffer;
  /** The operators applied, with their parameters, in order (for the report). */
  readonly ops: readonly string[];
}

/** Mutant `index` of `base` (a whole SIP message, CRLF line ends) under `seed`. */
export function mutate(base: string, seed: number, index: number): Mutant {
  const rng = mutantRng(seed, index);
  const headEnd = base.indexOf("\r\n\r\n");
  const head = base.slice(0, headEnd).split("\r\n");
  const parts: Parts = {
    start: head[0] ?? "",
    headers: head.slice(1).filter((h) => !/^content-length\s*:/i.test(h)),
    body: Buffer.from(base.slice(headEnd + 4), "utf8"),
  };
  const count = 1 + int(rng, 3);
  const names: string[] = [];
  for (let i = 0; i < count; i++) names.push(pick(rng, [...STRUCTURAL, ...BYTE_OPS, ...BYTE_OPS]));
  const applied: string[] = [];
  for (const name of names) {
    const op = ops[name];
    if (op) applied.push(op(parts, rng));
  }
  const length = parts.contentLength === undefined ? String(parts.body.length) : parts.contentLength;
  const headText = [
    parts.start,
    ...parts.headers,
    ...(length === null ? [] : [`Content-Length: ${length}`]),
  ].join("\r\n");
  let bytes = Buffer.concat([Buffer.from(`${headText}\r\n\r\n`, "latin1"), parts.body]);
  for (const name of names) {
    if (name === "byte-flip") {
      const flips = 1 + int(rng, 8);
      const at: number[] = [];
      for (let k = 0; k < flips && bytes.length > 0; k++) {
        const i = int(rng, bytes.length);
        bytes[i] = (bytes[i] as number) ^ (1 + int(rng, 255));
        at.push(i);
      }
      applied.push(`byte-flip(${at.join(",")})`);
    } else if (name === "truncate") {
      const keep = int(rng, bytes.length);
      bytes = bytes.subarray(0, keep);
      applied.push(`truncate(${keep})`);
    }
  }
  return { bytes, ops: applied };
}

/**
 * Whether the desk owes this request an answer: RFC 3261 §8.2.6 — a request that is not an ACK,
 * whose start line is `Method SP Request-URI SP SIP/2.0` and that has the headers a response is
 * built from (a Via; exactly one From, To, Call-ID and CSeq; compact forms included).
 * Deliberately written apart from src/sip/guard.ts: it judges the desk, it does not copy it.
 */
export function owesAnswer(text: string): boolean {
  const headEnd = text.indexOf("\r\n\r\n");
  const lines = (headEnd < 0 ? text : text.slice(0, headEnd)).replace(/\r\n[ \t]+/g, " ").split("\r\n");
  const start = /^([A-Za-z0-9.!%*_+`'~-]+) ([^ ]+) SIP\/2\.0$/.exec(lines[0] ?? "");
  if (!start || start[1]?.toUpperCase() === "ACK") return false;
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(start[2] ?? "")) return false;
  const counts = new Map<string, number>();
  const compact: Record<string, string> = { v: "via", f: "from", t: "to", i: "call-id" };
  for (const line of lines.slice(1)) {
    const m = /^([^:\s]+)\s*:/.exec(line);
    if (!m) continue;
    const name = (m[1] ?? "").toLowerCase();
    const full = compact[name] ?? name;
    counts.set(full, (counts.get(full) ?? 0) + 1);
  }
  return (counts.get("via") ?? 0) >= 1 && ["from", "to", "call-id", "cseq"].every((h) => counts.get(h) === 1);
}
