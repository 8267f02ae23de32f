/**
 * A headset made of keys, for the demo (and a terminal without USB): single key presses from an
 * injected Readable (the demo passes process.stdin in raw mode).
 *
 *   space / h  hook toggle (hook_off / hook_on from its own level, like a call button)
 *   m mute · f flash (hold) · r reject · p pause · u ready
 *
 * Its hook level follows the host's Off-Hook as a real headset's does (reference §4.2): after
 * the far end hangs up, the next space lifts again instead of asking to hang up.
 */
import type { Readable } from "node:stream";
import type { Emit, Side } from "../core/side.js";
import type { DeskState, HeadsetButton } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import { ALL_OFF, type Indicators, indicators, sameIndicators } from "./indicators.js";

export interface KeyboardHeadsetDeps {
  readonly input: Readable;
  readonly log: Logger;
  /** Show Ringer with Ring (as the HID side does when configured). */
  readonly ringer?: boolean;
  /** Ctrl-C arrives as a byte in raw mode: the demo decides what it means. */
  readonly onInterrupt?: () => void;
}

const KEYS: Readonly<Record<string, HeadsetButton | "hook">> = {
  " ": "hook",
  h: "hook",
  m: "mute",
  f: "flash",
  r: "reject",
  p: "pause",
  u: "ready",
};

export class KeyboardHeadset implements Side {
  readonly name = "headset";
  /** What the LEDs would show now. */
  indicators: Indicators = ALL_OFF;
  /** Called after every change of `indicators` (the demo redraws). */
  onChange: ((ind: Indicators) => void) | null = null;

  private readonly log: Logger;
  private emitFn: Emit | null = null;
  private offHook = false;
  private readonly onData = (chunk: Buffer | string) => this.keys(chunk);

  constructor(private readonly deps: KeyboardHeadsetDeps) {
    this.log = deps.log.child("keyboard");
  }

  async start(emit: Emit): Promise<void> {
    if (this.emitFn) return;
    this.emitFn = emit;
    this.deps.input.on("data", this.onData);
    emit({ type: "health", side: "headset", up: true });
  }

  async stop(): Promise<void> {
    if (!this.emitFn) return;
    this.deps.input.off("data", this.onData);
    this.emitFn = null;
  }

  project(state: DeskState): void {
    const next = indicators(state, { ringer: this.deps.ringer ?? false });
    this.offHook = next.offHook;
    if (sameIndicators(next, this.indicators)) return;
    this.indicators = next;
    try {
      this.onChange?.(next);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "onChange threw");
    }
  }

  private keys(chunk: Buffer | string): void {
    const text = typeof chunk === "string" ? chunk : chunk.toString("utf8");
    for (const ch of text) {
      if (ch === "\u0003") {
        this.deps.onInterrupt?.();
        continue;
      }
      const action = KEYS[ch.toLowerCase()];
      if (!action) continue;
      let button: HeadsetButton;
      if (action === "hook") {
        this.offHook = !this.offHook;
        button = this.offHook ? "hook_off" : "hook_on";
      } else {
        button = action;
      }
      this.log.debug({ key: ch, button }, "key");
      this.emitFn?.({ type: "button", button });
    }
  }
}
