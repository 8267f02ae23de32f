/**
 * A browser-style softphone for desk tests: werift's own RTCPeerConnection (its offer/answer, ICE
 * agent driving, restartIce(), DTLS and SRTP; the desk uses only werift-ice's agent and werift-dtls,
 * so none of this side is the desk's code) in a child process, `webrtc-peer.mjs`, run inside a
 * network namespace the test made (a VethLink's): werift's host gathering then finds only the
 * link's far address (no loopback, no other interface), so ICE never touches the machine's own
 * addresses. The test does the SIP signalling (connectWsSipPeer) and hands the SDP across.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { VethLink } from "./netns.js";
import { stopProcess, waitUntil } from "./proc.js";

export interface WebrtcPeerStats {
  /** werift's iceConnectionState / connectionState / the DTLS transport's state. */
  readonly ice: string;
  readonly connection: string;
  readonly dtls: string;
  /** The ICE credentials in use: ours and the desk's. */
  readonly localUfrag: string;
  readonly remoteUfrag: string;
  /** The nominated pair, "address:port" each side, or null. */
  readonly selected: { readonly local: string; readonly remote: string } | null;
  readonly codec: string | null;
  /** RTP packets of the tone sent; PCMU samples of the desk received. */
  readonly sent: number;
  readonly received: number;
  readonly receivedPayloadTypes: number[];
  /** Share of the last second's received power at the listened frequency (~1: that tone only). */
  readonly toneShare: number;
}

export interface WebrtcPeer {
  /** createOffer + setLocalDescription, once gathering is complete: the whole SDP. */
  offer(): Promise<string>;
  /** setRemoteDescription(answer). */
  answer(sdp: string): Promise<void>;
  /** restartIce() and the new offer (new ufrag and password). */
  restart(): Promise<string>;
  stats(): Promise<WebrtcPeerStats>;
  readonly logFile: string;
  stop(): Promise<void>;
}

const SCRIPT = join(fileURLToPath(new URL(".", import.meta.url)), "webrtc-peer.mjs");

/**
 * Starts the peer in `link`'s namespace: it sends a PCMU tone of `sendHz` once connected and
 * measures `listenHz` in what it receives.
 */
export async function startWebrtcPeer(
  link: VethLink,
  o: { readonly dir: string; readonly name: string; readonly sendHz: number; readonly listenHz: number },
): Promise<WebrtcPeer> {
  const logFile = join(o.dir, `${o.name}.log`);
  const proc = link.spawn(
    link.ns,
    process.execPath,
    [SCRIPT, "--hz", String(o.sendHz), "--listen", String(o.listenHz)],
    logFile,
    { stdin: "pipe" },
  );
  const lines = async (): Promise<Record<string, unknown>[]> =>
    (await readFile(logFile, "utf8"))
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  await waitUntil(
    "the WebRTC peer to start",
    async () => ((await lines()).some((l) => l.ready) ? true : undefined),
    10_000,
  );
  let id = 0;
  const call = async (cmd: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> => {
    const n = ++id;
    proc.child.stdin?.write(`${JSON.stringify({ cmd, id: n, ...extra })}\n`);
    const reply = await waitUntil(
      `the WebRTC peer's reply to ${cmd}`,
      async () => (await lines()).find((l) => l.id === n),
      15_000,
      20,
    );
    if (typeof reply.error === "string") throw new Error(`WebRTC peer ${cmd}: ${reply.error}`);
    return reply;
  };
  return {
    logFile,
    offer: async () => String((await call("offer")).sdp),
    answer: async (sdp) => {
      await call("answer", { sdp });
    },
    restart: async () => String((await call("restart")).sdp),
    stats: async () => (await call("stats")) as unknown as WebrtcPeerStats,
    stop: async () => {
      proc.child.stdin?.end();
      await stopProcess(proc);
    },
  };
}
