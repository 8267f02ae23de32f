/**
 * The contract between the runner and each side (SIP, headset, LCD, presence, control).
 *
 * A side translates one outside world into desk inputs and back. The runner:
 * - calls `start(emit)` once (a side MUST NOT throw for an absent device or an unreachable
 *   server: it reports that through `emit` and retries on its own schedule);
 * - calls `project(state, now)` after every step that changed the state; a side MUST compare
 *   with what it last wrote and write only the difference (projections, not commands);
 * - routes the effects named in `handles` to `execute(effect)`;
 * - calls `stop()` once, in reverse start order.
 * Anything a side throws is caught by the runner, logged, and reported in `health.faults`.
 */
import type { CommandError, DeskInput, DeskState, Effect, EffectType } from "./types.js";

/**
 * Feeds one input to the desk. The step runs synchronously, so a command's outcome comes back
 * at once (a side answering a remote command uses it). Never throws.
 */
export type Emit = (input: DeskInput) => Outcome;

export type Outcome = { readonly ok: true } | { readonly ok: false; readonly error: CommandError };

export interface Side {
  /** Log namespace and health key: `sip`, `headset`, `lcd`, `presence`, `control`, `media`. */
  readonly name: string;
  readonly handles?: readonly EffectType[];
  start(emit: Emit): Promise<void>;
  stop(): Promise<void>;
  project?(state: DeskState, now: number): void;
  execute?(effect: Effect): void | Promise<void>;
  /** The calls this side holds (the SIP side's sessions): the runner reconciles them with the desk's call. */
  liveCalls?(): readonly string[];
  /** Ends a call this side holds that the desk does not know (BYE, CANCEL or reject). */
  endUnknownCall?(callId: string, detail: string): void | Promise<void>;
}
