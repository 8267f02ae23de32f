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
 * Calls are rare (a few an hour), so the code that answers one — SIP transaction, SDP, media
 * set-up — never gets hot: it ran in V8's interpreter every time. `--always-sparkplug` compiles
 * each function to baseline machine code the first time it runs (after start-up, so the idle
 * RSS stays put): INVITE in → 200 OK out went from 2.2-2.5× baresip's to 1.9-2.15× in the
 * benchmark.
 *
 * `v8.setFlagsFromString` after start-up is allowed for flags V8 reads as it goes: the tiering
 * budget each time a function's budget is reset, always-sparkplug when a function is compiled.
 */
import { setFlagsFromString } from "node:v8";

export const HOT_PATH_FLAGS = "--interrupt-budget=16384 --always-sparkplug";

export function tuneForCalls(): void {
  setFlagsFromString(HOT_PATH_FLAGS);
}
