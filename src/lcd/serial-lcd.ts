/**
 * The LCD side: projects the desk state onto a serial character display.
 *
 * ```
 *   closed ──start──▶ opening ──ok──▶ open ──unplug / write error──▶ waiting ──backoff──▶ opening
 *                        └──fail──▶ waiting                                  stop (any) ──▶ stopped
 * ```
 * `project()` renders and diffs; one write queue (the pump) sends chunks in order, so two screens'
 * bytes never interleave, and always paints the latest screen (intermediate ones are dropped).
 * While a timer is visible it re-renders by itself at each second boundary. On every (re)open it
 * sends init and the full screen. Presence is reported as a `health` input.
 */
import { activitySince, currentCall, wrapUpUntil } from "../core/derive.js";
import type { Emit, Side } from "../core/side.js";
import type { DeskState } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import { POLICIES } from "../supervise/backoff.js";
import { Reconnector } from "../supervise/reconnector.js";
import { createCharset } from "./charset.js";
import type { LcdOptions } from "./options.js";
import { Painter } from "./painter.js";
import { type LcdPort, type OpenPort, openSerialPort, streamPort } from "./port.js";
import { CfaReader } from "./protocols/cfa-reader.js";
import { type Chunk, createProtocol } from "./protocols/index.js";
import { hasVisibleTimer, screen } from "./screens.js";

export interface LcdClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemClock: LcdClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** lcdproc allows 250 ms for a Crystalfontz reply (§ 4). */
const REPLY_TIMEOUT_MS = 250;

export type LcdLink = "closed" | "opening" | "open" | "waiting" | "stopped";

export interface SerialLcdArgs {
  readonly options: LcdOptions;
  readonly log: Logger;
  readonly agentName: string | null;
  readonly openPort?: OpenPort;
  readonly clock?: LcdClock;
  /** Terminal driver with port "-" or "stdout": where the box is drawn. */
  readonly stream?: { write(chunk: Buffer): unknown };
  /** For tests of the backoff; default Math.random. */
  readonly random?: () => number;
}

export class SerialLcd implements Side {
  readonly name = "lcd";
  readonly #o: LcdOptions;
  readonly #log: Logger;
  readonly #agentName: string | null;
  readonly #open: OpenPort;
  readonly #clock: LcdClock;
  /** When to reopen a lost port (the one policy, POLICIES.lcd). */
  readonly #reconnector: Reconnector;
  readonly #painter: Painter;
  #link: LcdLink = "closed";
  #emit: Emit | null = null;
  #port: LcdPort | null = null;
  #state: DeskState | null = null;
  #wanted: string[] | null = null;
  #needInit = true;
  #pumping: Promise<void> | null = null;
  #present: boolean | null = null;
  #tickTimer: unknown = null;
  #refreshTimer: unknown = null;
  #reply: { type: number; resolve: (ok: boolean) => void } | null = null;
  #cfa = new CfaReader();
  #unacked = 0;
  /** Bytes written since start (tests and the benchmark read it). */
  bytesWritten = 0;

  constructor(args: SerialLcdArgs) {
    this.#o = args.options;
    this.#log = args.log;
    this.#agentName = args.agentName;
    this.#clock = args.clock ?? systemClock;
    this.#reconnector = new Reconnector({
      policy: POLICIES.lcd,
      retry: () => void this.#connect(),
      clock: this.#clock,
      ...(args.random ? { random: args.random } : {}),
    });
    const toStream =
      args.options.driver === "terminal" && (args.options.port === "-" || args.options.port === "stdout");
    const stream = args.stream;
    this.#open = toStream && stream ? async () => streamPort(stream) : (args.openPort ?? openSerialPort);
    const charset = createCharset(args.options.charset, args.options.language);
    this.#painter = new Painter(createProtocol(args.options, charset), charset, args.options, {
      ...(args.options.backlight ? { backlight: args.options.backlight } : {}),
      ...(args.options.contrast !== undefined ? { contrast: args.options.contrast } : {}),
    });
  }

  get link(): LcdLink {
    return this.#link;
  }

  async start(emit: Emit): Promise<void> {
    if (this.#link !== "closed") return;
    this.#emit = emit;
    const every = this.#o.refreshSeconds ?? 0;
    if (every > 0) this.#scheduleRefresh(every * 1000);
    await this.#connect();
  }

  async stop(): Promise<void> {
    if (this.#link === "stopped") return;
    this.#link = "stopped";
    this.#reconnector.stop();
    for (const t of [this.#tickTimer, this.#refreshTimer]) if (t !== null) this.#clock.clearTimeout(t);
    this.#tickTimer = this.#refreshTimer = null;
    this.#reply?.resolve(false);
    await this.#pumping;
    const port = this.#port;
    this.#port = null;
    await port?.close().catch(() => undefined);
  }

  project(state: DeskState, now: number): void {
    this.#state = state;
    this.#render(now);
  }

  /** Resolves when everything projected so far is on the wire (tests). */
  async idle(): Promise<void> {
    while (this.#pumping) await this.#pumping;
  }

  #render(now: number): void {
    if (this.#state === null || this.#link === "stopped") return;
    try {
      this.#wanted = screen(this.#state, {
        language: this.#o.language,
        cols: this.#o.cols,
        rows: this.#o.rows,
        now,
        agentName: this.#agentName,
      });
    } catch (err) {
      // A rendering bug must never take the desk down (STYLE: isolate the sides).
      this.#log.error({ err: String(err) }, "lcd screen failed");
      return;
    }
    this.#kick();
    this.#scheduleTick(now);
  }

  /** Next render at the next whole second of the visible timer, while one is visible. */
  #scheduleTick(now: number): void {
    if (this.#tickTimer !== null) this.#clock.clearTimeout(this.#tickTimer);
    this.#tickTimer = null;
    const s = this.#state;
    if (!s || this.#link === "stopped" || !hasVisibleTimer(s)) return;
    const anchor =
      s.line.kind === "wrap_up"
        ? (wrapUpUntil(s) ?? now)
        : s.line.kind !== "idle"
          ? (currentCall(s)?.answeredAt ?? currentCall(s)?.offeredAt ?? activitySince(s))
          : s.status === "paused"
            ? s.statusSince
            : (s.queues?.receivedAt ?? now);
    const phase = (((now - anchor) % 1000) + 1000) % 1000;
    const delay = Number.isFinite(phase) ? 1000 - phase + 5 : 1000;
    this.#tickTimer = this.#clock.setTimeout(() => {
      this.#tickTimer = null;
      this.#render(this.#clock.now());
    }, delay);
  }

  #scheduleRefresh(ms: number): void {
    this.#refreshTimer = this.#clock.setTimeout(() => {
      this.#painter.invalidate();
      this.#kick();
      if (this.#link !== "stopped") this.#scheduleRefresh(ms);
    }, ms);
  }

  async #connect(): Promise<void> {
    if (this.#link === "stopped") return;
    this.#link = "opening";
    let port: LcdPort;
    try {
      port = await this.#open({ path: this.#o.port, baudRate: this.#o.baud });
    } catch (err) {
      this.#log.debug({ err: String(err), port: this.#o.port }, "lcd open failed");
      this.#lost(String((err as Error)?.message ?? err));
      return;
    }
    if (this.#stopped()) {
      await port.close().catch(() => undefined);
      return;
    }
    this.#port = port;
    this.#link = "open";
    this.#reconnector.up();
    this.#needInit = true;
    port.onData((b) => this.#onData(b));
    port.onClose((info) => {
      if (this.#port !== port) return;
      this.#log.warn({ disconnected: info.disconnected, reason: info.message }, "lcd port closed");
      this.#port = null;
      this.#lost(info.message);
    });
    this.#log.info({ port: this.#o.port, driver: this.#o.driver }, "lcd open");
    this.#setPresent(true);
    this.#kick();
  }

  #stopped(): boolean {
    return this.#link === "stopped";
  }

  #lost(reason: string | null): void {
    this.#reply?.resolve(false);
    this.#painter.invalidate();
    this.#needInit = true;
    this.#setPresent(false);
    if (this.#link === "stopped") return;
    this.#link = "waiting";
    const delay = this.#reconnector.down(reason ?? "closed");
    this.#log.debug({ delay, reason }, "lcd reopen scheduled");
  }

  #setPresent(present: boolean): void {
    if (this.#present === present) return;
    this.#present = present;
    try {
      this.#emit?.({ type: "health", side: "lcd", up: present });
    } catch (err) {
      this.#log.error({ err: String(err) }, "health listener threw");
    }
  }

  #kick(): void {
    if (this.#pumping || this.#link !== "open") return;
    this.#pumping = this.#pump().finally(() => {
      this.#pumping = null;
    });
  }

  /** The one write queue. Paints the latest wanted screen until nothing is left to send. */
  async #pump(): Promise<void> {
    // Let synchronous project() calls of one step coalesce into one flush.
    await new Promise((r) => setImmediate(r));
    for (;;) {
      const port = this.#port;
      if (!port || this.#link !== "open") return;
      const chunks: Chunk[] = [];
      if (this.#needInit) {
        chunks.push(...this.#painter.init());
        this.#needInit = false;
      }
      if (this.#wanted) chunks.push(...this.#painter.paint(this.#wanted));
      if (chunks.length === 0) return;
      try {
        for (const c of chunks) await this.#send(port, c);
      } catch (err) {
        this.#log.warn({ err: String(err) }, "lcd write failed");
        if (this.#port === port) {
          this.#port = null;
          await port.close().catch(() => undefined);
          this.#lost(String(err));
        }
        return;
      }
    }
  }

  async #send(port: LcdPort, c: Chunk): Promise<void> {
    const replied =
      c.reply !== undefined
        ? new Promise<boolean>((resolve) => {
            const type = c.reply as number;
            const timer = this.#clock.setTimeout(() => resolve(false), REPLY_TIMEOUT_MS);
            this.#reply = {
              type,
              resolve: (ok) => {
                this.#clock.clearTimeout(timer);
                this.#reply = null;
                resolve(ok);
              },
            };
          })
        : null;
    await port.write(c.bytes);
    this.bytesWritten += c.bytes.length;
    if (replied) {
      if (await replied) this.#unacked = 0;
      else {
        // No reply or an error reply: the command failed and the panel may differ from the
        // backing store, so repaint; three in a row means the display is gone (reopen).
        this.#log.debug({ type: c.bytes[0] }, "lcd packet not acknowledged");
        this.#painter.invalidate();
        if (++this.#unacked >= 3) {
          this.#unacked = 0;
          throw new Error("display does not answer");
        }
      }
    }
    if (c.waitMs) await new Promise((r) => setTimeout(r, c.waitMs));
  }

  #onData(bytes: Buffer): void {
    if (this.#o.driver !== "crystalfontz") return;
    for (const p of this.#cfa.push(bytes)) {
      const want = this.#reply;
      if (!want) continue;
      if (p.type === want.type) want.resolve(true);
      else if (p.type === ((want.type & 0x3f) | 0xc0)) want.resolve(false);
    }
  }
}
