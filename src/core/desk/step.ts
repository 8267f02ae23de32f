/** What one step produces while it is being computed: the next state, effects out, a refusal. */
import type { CommandError, DeskEvent, DeskState, Effect, ErrorCode, Line } from "../types.js";

export class Step {
  effects: Effect[] = [];
  error: CommandError | undefined;
  constructor(
    public state: DeskState,
    readonly now: number,
  ) {}

  set(patch: Partial<DeskState>): void {
    this.state = { ...this.state, ...patch };
  }
  line(line: Line): void {
    this.set({ line });
  }
  effect(e: Effect): void {
    this.effects.push(e);
  }
  event(e: DeskEvent): void {
    this.effects.push({ type: "event", event: e });
  }
  refuse(code: ErrorCode, message: string): void {
    this.error = { code, message };
  }
}
