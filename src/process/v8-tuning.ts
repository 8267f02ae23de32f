/**
 * V8 tuned for a daemon whose hot path runs 50 times a second per call direction.
 *
 * V8 optimizes a function once it has used up an "interrupt budget" of bytecode (66 KB by
 * default in Node 20), and starts over whenever an inline cache changes. The RTP path (timer,
 * send, receive, jitter buffer) then stayed in baseline code for most of a call: under perf,
 * inline-cache builtins and V8 internals were half of the daemon's CPU in a call. A 16 KB budget
 * lets V8 optimize it within the first seconds of a call.
 *
 * Calls are rare (a few an hour), so the code that answers one — SIP transaction, SDP, media
 * set-up — never gets hot: it ran in V8's interpreter every time. `--always-sparkplug` compiles
 * each function to baseline machine code the first time it runs: INVITE in → 200 OK out went
 * from 2.2-2.5× baresip's to 1.8-2.15× in the benchmark.
 *
 * Both are set when the first call arrives, not at start: code run at start-up (config, wiring,
 * registration) would be compiled and optimized for nothing — in the shebang, or right after
 * start, they cost 1-5 MB of idle RSS on a desk that has not had a call yet.
 *
 * `v8.setFlagsFromString` after start-up is allowed for flags V8 reads as it goes: the tiering
 * budget each time a function's budget is reset, always-sparkplug when a function is compiled.
 */
import { setFlagsFromString } from "node:v8";

export const HOT_PATH_FLAGS = "--interrupt-budget=16384 --always-sparkplug";

let tuned = false;

/** Sets HOT_PATH_FLAGS (once; later calls do nothing). */
export function tuneForCalls(): void {
  if (tuned) return;
  tuned = true;
  setFlagsFromString(HOT_PATH_FLAGS);
}
