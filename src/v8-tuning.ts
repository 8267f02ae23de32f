/**
 * V8 tuned for a daemon whose hot path runs 50 times a second per call direction.
 *
 * V8 optimizes a function once it has used up an "interrupt budget" of bytecode (66 KB by
 * default in Node 20), and starts over whenever an inline cache changes. The RTP path (timer,
 * send, receive, jitter buffer) then stayed in baseline code for most of a call: under perf,
 * inline-cache builtins and V8 internals were half of the daemon's CPU in a call. A 16 KB budget
 * lets V8 optimize it within the first seconds. It is set once the daemon has started, so the
 * code run once at start-up (config, wiring) is not optimized for nothing: setting it in the
 * shebang cost 1-5 MB of idle RSS.
 *
 * `v8.setFlagsFromString` after start-up is allowed for flags V8 reads as it goes; the tiering
 * budget is read each time a function's budget is reset.
 */
import { setFlagsFromString } from "node:v8";

export const HOT_PATH_FLAGS = "--interrupt-budget=16384";

export function tuneForCalls(): void {
  setFlagsFromString(HOT_PATH_FLAGS);
}
