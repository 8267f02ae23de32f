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
import type { DeskInput, DeskState, Effect, EffectType } from "./types.js";

export type Emit = (input: DeskInput) => void;

export interface Side {
  /** Log namespace and health key: `sip`, `headset`, `lcd`, `presence`, `control`, `media`. */
  readonly name: string;
  readonly handles?: readonly EffectType[];
  start(emit: Emit): Promise<void>;
  stop(): Promise<void>;
  project?(state: DeskState, now: number): void;
  execute?(effect: Effect): void | Promise<void>;
}
