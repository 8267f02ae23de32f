/**
 * The end of a two-baresip call the lab tests share (lab-coturn, lab-netns): both peers record
 * (`record: true`) and play a tone; this waits until each has received 3 s of the other's audio,
 * hangs up from the caller, and returns each side's closed received-audio recording
 * ("-dec.wav"), so the test measures what each end heard.
 */
import { wavComplete, wavSeconds } from "./audio.js";
import type { Baresip } from "./baresip.js";
import { waitUntil } from "./proc.js";

/** A peer's received-audio recording of its call, once it exists. */
function received(b: Baresip): Promise<string> {
  return waitUntil(`${b.user}'s recording`, async () =>
    (await b.recordings()).find((f) => f.endsWith("-dec.wav")),
  );
}

/**
 * With the call between `caller` and `callee` established: 3 s of audio on both ends, then the
 * caller hangs up, the callee sees the call close and both recordings are complete.
 * Returns [caller's recording, callee's recording].
 */
export async function exchangeThenHangUp(caller: Baresip, callee: Baresip): Promise<[string, string]> {
  const [recCaller, recCallee] = [await received(caller), await received(callee)];
  await waitUntil(
    "3 s of received audio on both ends",
    async () => (await wavSeconds(recCaller)) >= 3 && (await wavSeconds(recCallee)) >= 3,
    15_000,
    100,
  );
  await caller.hangup();
  await callee.waitFor("CALL_CLOSED");
  await waitUntil(
    "recordings closed",
    async () => (await wavComplete(recCaller)) && (await wavComplete(recCallee)),
  );
  return [recCaller, recCallee];
}
