/**
 * Two baresips in a call, each playing a tone and recording (`record: true`) what it receives:
 * the steps the lab tests share (lab-smoke, lab-coturn, lab-netns, lab-rtpengine) to find each
 * side's received-audio recording ("-dec.wav"), let audio flow both ways, and close the
 * recordings, so the test measures what each end heard.
 */
import { wavComplete, wavSeconds } from "./audio.js";
import type { Baresip } from "./baresip.js";
import { waitUntil } from "./proc.js";

/** The one recording of the received direction ("-dec.wav") of a peer's only call. */
export function receivedRecording(b: Baresip): Promise<string> {
  return waitUntil(`${b.user}'s received-audio recording`, async () => {
    const files = (await b.recordings()).filter((f) => f.endsWith("-dec.wav"));
    return files.length === 1 && files[0] !== undefined ? files[0] : undefined;
  });
}

/** Waits until both recordings hold 3 s of received audio. */
export async function heardBothWays(a: string, b: string, timeoutMs = 15_000): Promise<void> {
  await waitUntil(
    "3 s of received audio on both ends",
    async () => (await wavSeconds(a)) >= 3 && (await wavSeconds(b)) >= 3,
    timeoutMs,
    100,
  );
}

/** Waits until both recordings are complete WAV files (after the call closed). */
export async function recordingsClosed(a: string, b: string): Promise<void> {
  await waitUntil("recordings closed", async () => (await wavComplete(a)) && (await wavComplete(b)));
}

/** A peer's received-audio recording of its call, once it exists (the first, if more). */
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
  await heardBothWays(recCaller, recCallee);
  await caller.hangup();
  await callee.waitFor("CALL_CLOSED");
  await recordingsClosed(recCaller, recCallee);
  return [recCaller, recCallee];
}
