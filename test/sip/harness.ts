/**
 * Test helpers for the SIP side: a recorder of what the SipAgent emits, and a wait for an input.
 */
import type { Emit } from "../../src/core/side.js";
import type { DeskInput, HealthInput } from "../../src/core/types.js";
import { type SipOptions, sipDefaults } from "../../src/sip/options.js";

/** A registration report of the SIP side. */
export type SipReport = Extract<HealthInput, { side: "sip" }>;

/** The SIP options the tests register with (lab user 1017), with what a test changes. */
export function testSipOptions(
  servers: string | readonly string[],
  over: Partial<SipOptions> = {},
): SipOptions {
  return {
    ...sipDefaults,
    servers: typeof servers === "string" ? [servers] : servers,
    aor: "sip:1017@127.0.0.1",
    username: "1017",
    password: "pw1017",
    registerExpires: 300,
    keepAliveSeconds: 20,
    livenessSeconds: 30,
    userAgent: "Cuffia-test",
    ...over,
  };
}

export class Inputs {
  readonly all: DeskInput[] = [];
  private waiters: Array<{ pred: (i: DeskInput) => boolean; resolve: (i: DeskInput) => void }> = [];
  /** Called with each input after it is recorded (a minimal desk rule can answer from here). */
  onInput: (i: DeskInput) => void = () => {};

  readonly emit: Emit = (input) => {
    this.all.push(input);
    for (const w of [...this.waiters]) {
      if (w.pred(input)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(input);
      }
    }
    this.onInput(input);
    return { ok: true };
  };

  /** Resolves with the first input (already seen after `since`, or future) matching `pred`. */
  waitFor<T extends DeskInput["type"]>(
    type: T,
    pred: (i: Extract<DeskInput, { type: T }>) => boolean = () => true,
    timeoutMs = 15_000,
    since = 0,
  ): Promise<Extract<DeskInput, { type: T }>> {
    const match = (i: DeskInput): i is Extract<DeskInput, { type: T }> =>
      i.type === type && pred(i as Extract<DeskInput, { type: T }>);
    const seen = this.all.slice(since).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no ${type} within ${timeoutMs} ms; saw ${JSON.stringify(this.all.slice(-8))}`));
      }, timeoutMs);
      const done = (i: DeskInput) => {
        clearTimeout(timer);
        resolve(i as Extract<DeskInput, { type: T }>);
      };
      this.waiters.push({ pred: match, resolve: done });
    });
  }

  /** Like `waitFor`, for the SIP side's registration reports (health inputs of side "sip"). */
  waitForSip(
    pred: (i: SipReport) => boolean = () => true,
    timeoutMs = 15_000,
    since = 0,
  ): Promise<SipReport> {
    const isSip = (i: DeskInput): i is SipReport => i.type === "health" && "sip" in i;
    return this.waitFor("health", (i) => isSip(i) && pred(i), timeoutMs, since) as Promise<SipReport>;
  }

  /** Index to pass as `since` to wait only for inputs from now on. */
  get mark(): number {
    return this.all.length;
  }
}
