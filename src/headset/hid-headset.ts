/**
 * The headset side: a USB/Bluetooth office headset on hidraw, driven from its report descriptor.
 *
 * ```
 *   absent ──found (seen on two polls)──▶ open: push full indicator state ──▶ present
 *     ▲                                                                        │
 *     └──────────── read/write error, close (unplug): call goes on ────────────┘
 * ```
 * Input reports become `button` inputs (already de-echoed and debounced by InputDecoder);
 * `project(state)` writes the indicator reports that changed; `headset_resync` and every open
 * re-push the whole state (reference/hid-telephony.md §1 rule 7, §4.4, §7.4).
 */
import type { Emit, Side } from "../core/side.js";
import type { DeskInput, DeskState, Effect, EffectType } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import { outputLayout } from "./capabilities.js";
import { InputDecoder } from "./decoder.js";
import { IndicatorEncoder } from "./encoder.js";
import {
  HeadsetError,
  type HidBackend,
  type HidDevice,
  type HidDeviceInfo,
  telephonyDevices,
  uniqueInterfaces,
} from "./hid-device.js";
import { ALL_OFF, type Indicators, indicators } from "./indicators.js";
import { NodeHidBackend } from "./node-hid-backend.js";
import {
  DEFAULT_POLL_MS,
  describeMatch,
  type HeadsetClock,
  type HeadsetOptions,
  systemClock,
} from "./options.js";
import { loadProfiles, type Profile, quirksFor } from "./profiles.js";
import type { Quirks } from "./quirks.js";
import { type TelephonyMap, telephonyMapFromBytes } from "./telephony-map.js";

export interface HidHeadsetDeps {
  readonly options: HeadsetOptions;
  readonly log: Logger;
  /** Enumerate/open/descriptor; default node-hid on hidraw, loaded on first use. */
  readonly devices?: HidBackend;
  readonly clock?: HeadsetClock;
  /** Quirk profiles; default loaded from `options.profileDir` or the shipped folder at start. */
  readonly profiles?: readonly Profile[];
}

interface Connection {
  readonly gen: number;
  readonly info: HidDeviceInfo;
  readonly device: HidDevice;
  readonly map: TelephonyMap;
  readonly quirks: Quirks;
  readonly decoder: InputDecoder;
  readonly encoder: IndicatorEncoder;
}

export class HidHeadset implements Side {
  readonly name = "headset";
  readonly handles: readonly EffectType[] = ["headset_resync"];

  private readonly options: HeadsetOptions;
  private readonly log: Logger;
  private readonly clock: HeadsetClock;
  private backend: HidBackend | null;
  private profiles: readonly Profile[] | null;
  private emitFn: Emit | null = null;
  private state: DeskState | null = null;
  private conn: Connection | null = null;
  private gen = 0;
  private running = false;
  private pollTimer: unknown = null;
  private tickTimer: unknown = null;
  private writes: Promise<void> = Promise.resolve();
  /** Path seen on the previous poll: a device is opened when seen twice (debounce, §7.4). */
  private candidate: string | null = null;
  /** Devices already explained (declined, EACCES): logged once, not every poll. */
  private readonly explained = new Set<string>();
  private scanning = false;
  private lastPresent: boolean | null = null;

  constructor(deps: HidHeadsetDeps) {
    this.options = deps.options;
    this.log = deps.log.child("hid");
    this.clock = deps.clock ?? systemClock;
    this.backend = deps.devices ?? null;
    this.profiles = deps.profiles ?? null;
  }

  async start(emit: Emit): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.emitFn = emit;
    if (!this.profiles) {
      try {
        this.profiles = await loadProfiles(this.options.profileDir);
      } catch (err) {
        this.log.error(
          { err: (err as Error).message },
          "headset quirk profiles not loaded; generic driver only",
        );
        this.profiles = [];
      }
    }
    this.backend ??= new NodeHidBackend();
    await this.scan(true);
    if (!this.conn) {
      this.log.info({ match: describeMatch(this.options.match) }, "no headset yet; looking for one");
      this.report(false);
      this.schedulePoll();
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.clearTimer("pollTimer");
    this.clearTimer("tickTimer");
    const conn = this.conn;
    this.conn = null;
    this.gen++;
    if (conn) {
      // Leave the headset dark: a stopped phone must not keep ringing.
      try {
        conn.decoder.commanded(ALL_OFF, this.clock.now());
        this.enqueue(conn, conn.encoder.encode(ALL_OFF));
        await this.writes;
      } catch {
        // best effort
      }
      await conn.device.close().catch(() => undefined);
    }
  }

  project(state: DeskState): void {
    this.state = state;
    if (this.conn) this.push(this.conn, false);
  }

  execute(effect: Effect): void {
    if (effect.type !== "headset_resync" || !this.conn) return;
    this.log.debug("resync: pushing the full indicator state");
    this.push(this.conn, true);
  }

  private target(conn: Connection): Indicators {
    if (!this.state) return ALL_OFF;
    return indicators(this.state, {
      ringer: this.options.ringer,
      micLedIsMute: conn.quirks.micLedIsMute,
      onLineLed: conn.quirks.onLineLed,
    });
  }

  private push(conn: Connection, full: boolean): void {
    if (full) conn.encoder.reset();
    const ind = this.target(conn);
    conn.decoder.commanded(ind, this.clock.now());
    this.enqueue(conn, conn.encoder.encode(ind));
    this.scheduleTick(conn);
  }

  /** One write queue per device: reports never interleave (STYLE.md § Adapters). */
  private enqueue(conn: Connection, reports: readonly Uint8Array[]): void {
    for (const report of reports) {
      this.writes = this.writes.then(async () => {
        if (this.conn !== conn) return;
        try {
          await conn.device.write(report);
          if (this.log.enabled("trace")) this.log.trace({ report: hex(report) }, "output report");
        } catch (err) {
          this.lost(conn.gen, err);
        }
      });
    }
  }

  private schedulePoll(): void {
    if (!this.running || this.conn || this.pollTimer !== null) return;
    this.pollTimer = this.clock.setTimeout(() => {
      this.pollTimer = null;
      void this.scan(false).finally(() => this.schedulePoll());
    }, this.options.pollMs ?? DEFAULT_POLL_MS);
  }

  private async scan(initial: boolean): Promise<void> {
    if (!this.running || this.conn || this.scanning || !this.backend) return;
    this.scanning = true;
    try {
      let all: HidDeviceInfo[];
      try {
        all = await this.backend.enumerate();
      } catch (err) {
        this.explainOnce("enumerate", "cannot list HID devices", err);
        return;
      }
      const candidates = this.select(all);
      const first = candidates[0];
      if (!first) {
        this.candidate = null;
        return;
      }
      // A base can take seconds to settle after it appears (§6.14): open on the second sighting.
      if (!initial && this.candidate !== first.path) {
        this.candidate = first.path;
        return;
      }
      for (const info of candidates) {
        if (!this.running || this.conn) return;
        if (await this.tryOpen(info)) return;
      }
    } finally {
      this.scanning = false;
    }
  }

  private select(all: readonly HidDeviceInfo[]): HidDeviceInfo[] {
    const m = this.options.match;
    const fresh = (d: HidDeviceInfo) => !this.explained.has(key(d));
    if (m === "auto") return telephonyDevices(all).filter(fresh);
    if ("path" in m) return uniqueInterfaces(all).filter((d) => d.path === m.path && fresh(d));
    return uniqueInterfaces(all)
      .filter((d) => d.vendorId === m.vendorId && d.productId === m.productId)
      .sort((a, b) => Number(b.usagePage === 0x0b) - Number(a.usagePage === 0x0b))
      .filter(fresh);
  }

  private async tryOpen(info: HidDeviceInfo): Promise<boolean> {
    const backend = this.backend!;
    const model = modelName(info);
    const quirks = quirksFor(this.profiles ?? [], info.vendorId, info.productId);
    let bytes: Uint8Array;
    try {
      bytes = await backend.readDescriptor(info.path);
    } catch (err) {
      this.log.warn(
        { path: info.path, err: (err as Error).message },
        `${model}: report descriptor unreadable`,
      );
      return false;
    }
    const result = telephonyMapFromBytes(
      bytes,
      quirks.vendorMirrorPage ? { mirrorPage: quirks.vendorMirrorPage } : {},
    );
    if (!result.ok) {
      this.explained.add(key(info));
      const why =
        result.reason === "no_telephony" ? `${model} has ${result.message}` : `${model}: ${result.message}`;
      this.log.warn({ path: info.path }, why);
      return false;
    }
    let device: HidDevice;
    try {
      device = await backend.open(info.path);
    } catch (err) {
      // EACCES right after plug-in can be udev not having applied the group yet: keep polling,
      // but say it once (with the rule file and the group, see NodeHidBackend).
      this.explainOnce(key(info), `${model}: cannot open`, err);
      return false;
    }
    if (!this.running) {
      await device.close().catch(() => undefined);
      return false;
    }
    for (const w of result.map.warnings) this.log.debug({ path: info.path }, w);
    const gen = ++this.gen;
    const conn: Connection = {
      gen,
      info,
      device,
      map: result.map,
      quirks,
      decoder: new InputDecoder(result.map, quirks),
      encoder: new IndicatorEncoder(result.map),
    };
    this.conn = conn;
    this.candidate = null;
    this.explained.delete(key(info));
    this.explained.delete(`open:${key(info)}`);
    device.onData((report) => this.onReport(conn, report));
    device.onError((err) => this.lost(gen, err));
    // Push a complete known state before trusting any input (§1 rule 7).
    const ind = this.target(conn);
    conn.encoder.reset();
    conn.decoder.opened(this.clock.now(), ind);
    this.enqueue(conn, conn.encoder.encode(ind));
    this.log.info(
      { path: info.path, layout: outputLayout(result.map), quirks: quirks.rejectGesture },
      `headset ready: ${model}`,
    );
    this.report(true);
    return true;
  }

  private onReport(conn: Connection, report: Uint8Array): void {
    if (this.conn !== conn) return;
    const now = this.clock.now();
    try {
      const { events, notes } = conn.decoder.decode(report, now);
      if (notes.length > 0 && this.log.enabled("debug"))
        this.log.debug({ report: hex(report), notes }, "input report");
      this.dispatch(conn, events);
    } catch (err) {
      this.log.warn({ report: hex(report), err: (err as Error).message }, "input report not decoded");
    }
    this.scheduleTick(conn);
  }

  private dispatch(conn: Connection, events: ReturnType<InputDecoder["tick"]>): void {
    for (const e of events) {
      if (e.kind === "button") {
        this.log.debug({ button: e.button }, "button");
        this.send({ type: "button", button: e.button });
      } else {
        this.log.info({ up: e.up }, e.up ? "headset link up" : "headset link down (dongle without headset)");
        this.report(e.up);
        if (e.up && this.conn === conn) this.push(conn, true);
      }
    }
  }

  private scheduleTick(conn: Connection): void {
    this.clearTimer("tickTimer");
    const due = conn.decoder.nextDeadline();
    if (due === null) return;
    this.tickTimer = this.clock.setTimeout(
      () => {
        this.tickTimer = null;
        if (this.conn !== conn) return;
        this.dispatch(conn, conn.decoder.tick(this.clock.now()));
        this.scheduleTick(conn);
      },
      Math.max(0, due - this.clock.now()),
    );
  }

  private lost(gen: number, err: unknown): void {
    const conn = this.conn;
    if (!conn || conn.gen !== gen) return;
    this.conn = null;
    this.gen++;
    this.clearTimer("tickTimer");
    this.log.warn(
      { path: conn.info.path, err: err instanceof Error ? err.message : String(err) },
      "headset lost; the call goes on",
    );
    void conn.device.close().catch(() => undefined);
    this.report(false);
    this.schedulePoll();
  }

  private report(present: boolean): void {
    if (this.lastPresent === present) return;
    this.lastPresent = present;
    this.send({ type: "health", side: "headset", up: present });
  }

  private send(input: DeskInput): void {
    try {
      this.emitFn?.(input);
    } catch (err) {
      this.log.error({ err: (err as Error).message, input: input.type }, "emit threw");
    }
  }

  private explainOnce(id: string, what: string, err: unknown): void {
    const k = `open:${id}`;
    const message = err instanceof Error ? err.message : String(err);
    if (this.explained.has(k)) {
      this.log.debug({ err: message }, what);
      return;
    }
    // Not added to the skip list used by select(): the device is retried on every poll.
    this.explained.add(k);
    const code = err instanceof HeadsetError ? err.code : undefined;
    this.log.error({ code, err: message }, what);
  }

  private clearTimer(which: "pollTimer" | "tickTimer"): void {
    const t = this[which];
    if (t !== null) this.clock.clearTimeout(t);
    this[which] = null;
  }
}

function key(d: HidDeviceInfo): string {
  return `${d.path}|${d.vendorId}:${d.productId}`;
}

export function modelName(d: Pick<HidDeviceInfo, "vendorId" | "productId" | "product">): string {
  const h = (n: number) => n.toString(16).padStart(4, "0");
  return `${d.product ?? "HID device"} (${h(d.vendorId)}:${h(d.productId)})`;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}
