import type { Emit, Side } from "../../src/core/side.js";
import type { DeskState, Effect, EffectType } from "../../src/core/types.js";

/** A side that records what the runner gave it and can emit inputs on demand. */
export class FakeSide implements Side {
  emit: Emit | undefined;
  readonly projected: DeskState[] = [];
  readonly executed: Effect[] = [];
  throwOnProject = false;
  throwOnExecute = false;
  started = false;
  stopped = false;
  constructor(
    readonly name: string,
    readonly handles: readonly EffectType[] = [],
    private readonly order?: string[],
  ) {}
  async start(emit: Emit): Promise<void> {
    this.emit = emit;
    this.started = true;
    this.order?.push(`start ${this.name}`);
  }
  async stop(): Promise<void> {
    this.stopped = true;
    this.order?.push(`stop ${this.name}`);
  }
  project(state: DeskState): void {
    if (this.throwOnProject) throw new Error("display on fire");
    this.projected.push(state);
  }
  execute(effect: Effect): void {
    if (this.throwOnExecute) throw new Error("cannot");
    this.executed.push(effect);
  }
}
