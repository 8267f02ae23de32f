/**
 * The runner owns the desk state, steps it with inputs from the sides, executes the effects,
 * owns the timers, and hands the new state to every side's projection. It is the only place
 * where the sides meet. A side that throws is logged and reported in `health.faults`; it never
 * takes the desk (or a call) down with it.
 *
 * Re-entrancy: a side may emit while it executes an effect or projects. The input is stepped at
 * once (so `emit` answers synchronously), its effects are queued behind the current ones, and
 * projections run once the queue is drained: effects never interleave, views see settled state.
 *
 * Reconciliation: the desk's call and the calls the sides hold (`liveCalls`, the SIP side) are
 * compared every `reconcileEveryMs` and after every call_ended / registration change. A mismatch
 * that lasts `reconcileGraceMs` (longer than any hand-over between the two, such as a second
 * INVITE being refused 486) is ended: a desk call without a session gets call_ended
 * (`dialog_lost` if answered, `failed` otherwise), a session the desk does not know is ended by
 * its side. Both are logged at warn.
 */
import type { Logger } from "../log/logger.js";
import { activity, currentCall } from "./derive.js";
import { step } from "./desk.js";
import type { Emit, Outcome, Side } from "./side.js";
import type { AgentStatus, DeskEvent, DeskInput, DeskState, Effect, TimerName } from "./types.js";

export interface StatusStore {
  save(status: AgentStatus, reason: string | null): void;
}

export type DeskChange =
  | { readonly kind: "state"; readonly state: DeskState; readonly input: DeskInput }
  | { readonly kind: "event"; readonly event: DeskEvent };

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: Timers = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface RunnerOptions {
  readonly initial: DeskState;
  readonly log: Logger;
  readonly clock?: () => number;
  readonly timers?: Timers;
  readonly statusStore?: StatusStore;
  /** Period of the reconciliation between the desk's call and the SIP side's sessions; 0 = off. */
  readonly reconcileEveryMs?: number;
  /** How long a mismatch must last before it is ended. */
  readonly reconcileGraceMs?: number;
}

const RECONCILE_EVERY_MS = 10_000;
const RECONCILE_GRACE_MS = 5_000;

export class Runner {
  #state: DeskState;
  readonly #sides: Side[] = [];
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #timers: Timers;
  readonly #timerHandles = new Map<TimerName, unknown>();
  readonly #statusStore: StatusStore | undefined;
  readonly #listeners = new Set<(c: DeskChange) => void>();
  readonly #queue: Effect[] = [];
  #draining = false;
  #dirty = false;
  #started: Side[] = [];
  #stopping = false;
  readonly #reconcileEveryMs: number;
  readonly #reconcileGraceMs: number;
  /** Mismatches seen by reconcile(): "desk:<id>" or "side:<id>" → first seen (ms). */
  readonly #mismatches = new Map<string, number>();
  #reconcileTick: unknown = null;
  #reconcileSoon: unknown = null;

  constructor(o: RunnerOptions) {
    this.#state = o.initial;
    this.#log = o.log;
    this.#clock = o.clock ?? Date.now;
    this.#timers = o.timers ?? realTimers;
    this.#statusStore = o.statusStore;
    this.#reconcileEveryMs = o.reconcileEveryMs ?? RECONCILE_EVERY_MS;
    this.#reconcileGraceMs = o.reconcileGraceMs ?? RECONCILE_GRACE_MS;
  }

  get state(): DeskState {
    return this.#state;
  }

  /** Sides in start order; stop runs in reverse. */
  add(side: Side): void {
    this.#sides.push(side);
  }

  get sides(): readonly Side[] {
    return this.#sides;
  }

  /** Steps one input. Never throws: a refused command comes back as an outcome. */
  readonly dispatch: Emit = (input: DeskInput): Outcome => {
    const now = this.#clock();
    let result: ReturnType<typeof step>;
    try {
      result = step(this.#state, input, now);
    } catch (e) {
      // Our own code threw on an impossible input: keep the desk as it was, loudly.
      this.#log.error({ err: String(e), input: input.type }, "desk step failed; input dropped");
      return { ok: false, error: { code: "bad_request", message: `internal error: ${String(e)}` } };
    }
    if (result.error) {
      this.#log.debug({ input: input.type, error: result.error }, "refused");
      return { ok: false, error: result.error };
    }
    if (result.state !== this.#state) {
      const prev = this.#state;
      this.#state = result.state;
      this.#dirty = true;
      if (this.#log.enabled("debug")) this.#log.debug(describeChange(prev, result.state, input), "desk");
      this.#notify({ kind: "state", state: result.state, input });
    }
    this.#queue.push(...result.effects);
    this.#drain();
    if (input.type === "call_ended" || (input.type === "health" && "sip" in input))
      this.#reconcileAfterChange();
    return { ok: true };
  };

  /**
   * Compares the desk's call with the calls the sides hold and ends a mismatch that has lasted
   * the grace period (see the module comment). Called on a timer and after changes; tests call it.
   */
  reconcile(): void {
    if (this.#stopping) return;
    const holders = this.#sides.filter((s) => this.#started.includes(s) && s.liveCalls);
    if (holders.length === 0) return;
    const now = this.#clock();
    const seen = new Set<string>();
    const live = new Map<string, Side>();
    for (const side of holders) {
      try {
        for (const id of side.liveCalls?.() ?? []) live.set(id, side);
      } catch (e) {
        this.#fault(side, `liveCalls: ${errorText(e)}`);
        return;
      }
    }
    const due = (key: string): boolean => {
      seen.add(key);
      const first = this.#mismatches.get(key);
      if (first === undefined) this.#mismatches.set(key, now);
      return first !== undefined && now - first >= this.#reconcileGraceMs;
    };
    const call = currentCall(this.#state);
    if (call && !live.has(call.id) && due(`desk:${call.id}`)) {
      const answered = call.answeredAt !== null;
      const detail = "reconciliation: no SIP session holds this call";
      this.#log.warn({ callId: call.id, activity: activity(this.#state) }, detail);
      this.#mismatches.delete(`desk:${call.id}`);
      this.dispatch({
        type: "call_ended",
        callId: call.id,
        reason: answered ? "dialog_lost" : "failed",
        stats: null,
        detail,
      });
    }
    for (const [id, side] of live) {
      if (id === call?.id || !due(`side:${id}`)) continue;
      const detail = "reconciliation: the desk does not know this call";
      this.#log.warn({ callId: id, side: side.name }, detail);
      this.#mismatches.delete(`side:${id}`);
      try {
        const p = side.endUnknownCall?.(id, detail);
        if (p && typeof (p as Promise<void>).catch === "function")
          (p as Promise<void>).catch((err: unknown) =>
            this.#fault(side, `endUnknownCall: ${errorText(err)}`),
          );
      } catch (e) {
        this.#fault(side, `endUnknownCall: ${errorText(e)}`);
      }
    }
    for (const key of [...this.#mismatches.keys()]) if (!seen.has(key)) this.#mismatches.delete(key);
  }

  /** A call ended or the registration changed: look now, and again once a mismatch is due. */
  #reconcileAfterChange(): void {
    if (this.#stopping || this.#reconcileEveryMs <= 0) return;
    queueMicrotask(() => this.reconcile());
    if (this.#reconcileSoon !== null) this.#timers.clear(this.#reconcileSoon);
    this.#reconcileSoon = this.#timers.set(() => {
      this.#reconcileSoon = null;
      this.reconcile();
    }, this.#reconcileGraceMs + 100);
  }

  #startReconcileTicks(): void {
    if (this.#reconcileEveryMs <= 0) return;
    this.#reconcileTick = this.#timers.set(() => {
      this.#reconcileTick = null;
      if (this.#stopping) return;
      this.reconcile();
      this.#startReconcileTicks();
    }, this.#reconcileEveryMs);
  }

  subscribe(listener: (c: DeskChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts the sides in order; one that fails to start is reported, the others go on. */
  async start(): Promise<void> {
    for (const side of this.#sides) {
      try {
        await side.start(this.dispatch);
        this.#started.push(side);
      } catch (e) {
        this.#fault(side, `start failed: ${errorText(e)}`);
        this.#started.push(side); // still stopped at the end: start() may have half-opened things
      }
    }
    this.#dirty = true;
    this.#project();
    this.#startReconcileTicks();
  }

  /** Stops the sides in reverse order, each within `timeoutMs`. Idempotent. */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const h of this.#timerHandles.values()) this.#timers.clear(h);
    this.#timerHandles.clear();
    for (const h of [this.#reconcileTick, this.#reconcileSoon]) if (h !== null) this.#timers.clear(h);
    this.#reconcileTick = null;
    this.#reconcileSoon = null;
    // Reverse start order: control first, the call's side next, devices last.
    const order = this.#sides.filter((s) => this.#started.includes(s)).reverse();
    for (const side of order) await this.#stopOne(side, timeoutMs);
    this.#started = [];
  }

  async #stopOne(side: Side, timeoutMs: number): Promise<void> {
    const log = this.#log.child(side.name);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        side.stop(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`did not stop within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      log.debug("stopped");
    } catch (e) {
      log.warn({ err: errorText(e) }, "stop failed");
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Swaps a side for a new one in the same place (a reloaded config): the old one is stopped,
   * the new one started and given the current state. The desk state and the call stay.
   */
  async replace(old: Side, next: Side, timeoutMs = 5000): Promise<void> {
    const i = this.#sides.indexOf(old);
    if (i < 0) throw new Error(`replace: side ${old.name} is not running`);
    await this.#stopOne(old, timeoutMs);
    this.#started = this.#started.filter((s) => s !== old);
    this.#sides[i] = next;
    await this.#startAdded(next);
  }

  /** Adds and starts a side while running (a section added by a reloaded config). */
  async attach(next: Side, index: number): Promise<void> {
    this.#sides.splice(Math.max(0, Math.min(index, this.#sides.length)), 0, next);
    await this.#startAdded(next);
  }

  /** Starts a side put in while running (a failed start is a fault, not an error) and projects. */
  async #startAdded(next: Side): Promise<void> {
    try {
      await next.start(this.dispatch);
    } catch (e) {
      this.#fault(next, `start failed: ${errorText(e)}`);
    }
    this.#started.push(next);
    this.refresh();
  }

  /** Stops and removes a side while running (a section removed by a reloaded config). */
  async detach(old: Side, timeoutMs = 5000): Promise<void> {
    if (!this.#sides.includes(old)) return;
    await this.#stopOne(old, timeoutMs);
    this.#started = this.#started.filter((s) => s !== old);
    this.#sides.splice(this.#sides.indexOf(old), 1);
  }

  /** Pushes the current state to every projection again (e.g. each second for on-screen timers). */
  refresh(): void {
    this.#dirty = true;
    this.#project();
  }

  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let e = this.#queue.shift(); e; e = this.#queue.shift()) this.#execute(e);
    } finally {
      this.#draining = false;
    }
    this.#project();
  }

  #execute(e: Effect): void {
    switch (e.type) {
      case "start_timer": {
        const old = this.#timerHandles.get(e.timer);
        if (old !== undefined) this.#timers.clear(old);
        const handle = this.#timers.set(() => {
          this.#timerHandles.delete(e.timer);
          this.dispatch({ type: "timer_fired", timer: e.timer });
        }, e.ms);
        this.#timerHandles.set(e.timer, handle);
        return;
      }
      case "cancel_timer": {
        const h = this.#timerHandles.get(e.timer);
        if (h !== undefined) this.#timers.clear(h);
        this.#timerHandles.delete(e.timer);
        return;
      }
      case "persist_status":
        try {
          this.#statusStore?.save(e.status, e.reason);
        } catch (err) {
          this.#log.warn({ err: errorText(err) }, "could not save the agent status");
        }
        return;
      case "event":
        this.#notify({ kind: "event", event: e.event });
        break;
    }
    for (const side of this.#sides) {
      if (!side.handles?.includes(e.type) || !side.execute) continue;
      try {
        const p = side.execute(e);
        if (p && typeof (p as Promise<void>).catch === "function")
          (p as Promise<void>).catch((err: unknown) => this.#fault(side, `${e.type}: ${errorText(err)}`));
      } catch (err) {
        this.#fault(side, `${e.type}: ${errorText(err)}`);
      }
    }
  }

  #project(): void {
    if (!this.#dirty || this.#draining || this.#stopping) return;
    this.#dirty = false;
    const state = this.#state;
    const now = this.#clock();
    for (const side of this.#sides) {
      if (!side.project) continue;
      try {
        side.project(state, now);
      } catch (err) {
        this.#fault(side, `project: ${errorText(err)}`);
      }
    }
  }

  #notify(c: DeskChange): void {
    for (const l of this.#listeners) {
      try {
        l(c);
      } catch (err) {
        this.#log.warn({ err: errorText(err) }, "listener failed");
      }
    }
  }

  #fault(side: Side, message: string): void {
    this.#log.child(side.name).error({ err: message }, "side failed");
    // Dispatched later: a fault raised while projecting must not re-enter the projection loop.
    queueMicrotask(() => this.dispatch({ type: "health", side: side.name, fault: message }));
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function describeChange(prev: DeskState, next: DeskState, input: DeskInput): Record<string, unknown> {
  const out: Record<string, unknown> = { input: input.type, seq: next.seq };
  if (input.type === "command") out["cmd"] = input.command.cmd;
  if (input.type === "button") out["button"] = input.button;
  if (prev.status !== next.status || prev.reason !== next.reason)
    out["status"] = `${prev.status}→${next.status}`;
  const [was, is] = [activity(prev), activity(next)];
  if (was !== is) out["activity"] = `${was}→${is}`;
  if (prev.pending !== next.pending) out["pending"] = next.pending;
  return out;
}
