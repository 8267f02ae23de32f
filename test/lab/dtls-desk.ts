/**
 * The DTLS-SRTP + ICE call labs the encrypted-call tests share, built on the tone desk
 * (tone-desk.ts):
 * - `startGatewayLab()`: the desk registered over wss:// to a Kamailio that sends every call through
 *   rtpengine (the lab's WebRTC gateway), offering DTLS, and a plain baresip far end
 *   (media-webrtc-gateway, media-webrtc-gateway-outgoing);
 * - `startVethLab()`: baresip with `dtls_srtp` + `ice` + rtcp-mux in a network namespace joined by a
 *   veth pair, Kamailio and the desk on this end of it (media-dtls-ice, opus-dtls-ice), with the
 *   capture of the desk's media ports and the check that ICE used the link's two addresses only;
 * - `heardFor()`, `deskSent()`: bounded waits until a call carried that much media each way.
 * What the tests assert stays in each test file.
 */
import { mkdtemp, readdir, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import type { SipAction } from "../../src/core/types.js";
import type { Logger } from "../../src/log/logger.js";
import type { MediaFactoryOptions } from "../../src/media/factory.js";
import type { SipAgent } from "../../src/sip/sip-agent.js";
import type { Inputs } from "../sip/harness.js";
import type { Baresip } from "./baresip.js";
import { type Kamailio, startKamailio } from "./kamailio.js";
import { addressesSeen, createVethLink, machineAddresses, type VethLink } from "./netns.js";
import { waitUntil } from "./proc.js";
import { callLegs, type Rtpengine, startRtpengine } from "./rtpengine.js";
import {
  makeDeskTone,
  makeFarTone,
  sipDebugLog,
  startToneDesk,
  startToneFar,
  type ToneDeskOptions,
} from "./tone-desk.js";
import { type Capture, type Datagram, startCapture } from "./wire.js";

/** What every lab here holds: the desk (agent, inputs, sinks in `dir`) and the far baresip. */
export interface DtlsDeskLab {
  readonly dir: string;
  readonly kam: Kamailio;
  readonly agent: SipAgent;
  readonly inputs: Inputs;
  readonly far: Baresip;
  /** Executes one SIP action, as the desk's rules would. */
  sip(a: SipAction): void | Promise<void>;
  /** Stops what was started, in reverse order (each part once, whatever failed). */
  stop(): Promise<void>;
}

export interface GatewayLab extends DtlsDeskLab {
  readonly rtpengine: Rtpengine;
}

/**
 * The desk behind the WebRTC gateway: rtpengine (log level 7 with RTPE_DEBUG), a Kamailio that
 * routes every call through it, the desk on wss:// with its media ports (ICE host candidates) in
 * `portMin`-`portMax` on 127.0.0.1, PCMU/PCMA, offering DTLS; the far end a plain baresip (2001).
 */
export async function startGatewayLab(o: {
  /** mkdtemp prefix of the lab's directory. */
  readonly prefix: string;
  readonly portMin: number;
  readonly portMax: number;
}): Promise<GatewayLab> {
  const dir = await mkdtemp(join(tmpdir(), o.prefix));
  const stops: Stops = [];
  try {
    const rtpengine = await startRtpengine({
      dir: join(dir, "rtpengine"),
      ...(process.env.RTPE_DEBUG ? { logLevel: 7 } : {}),
    });
    stops.push(() => rtpengine.stop());
    const kam = await startKamailio({ dir: join(dir, "kamailio"), rtpengine });
    stops.push(() => kam.stop());
    const farTone = await makeFarTone(dir);
    const lab = await startDeskAndFar(kam, dir, stops, farTone, {
      url: `wss://127.0.0.1:${kam.wssPort}`,
      sip: { caFile: kam.caFile },
      rtp: {
        address: "127.0.0.1",
        portMin: o.portMin,
        portMax: o.portMax,
        codecs: ["PCMU", "PCMA"],
        ice: { hostAddresses: ["127.0.0.1"] },
        offerDtls: true,
      },
      signallingSecure: true,
      log: sipDebugLog,
    });
    return { ...lab, rtpengine };
  } catch (error) {
    await stopAll(stops)();
    throw error;
  }
}

export interface VethLab extends DtlsDeskLab {
  readonly link: VethLink;
  /**
   * Captures the desk's media ports on every interface, to or from the link's addresses: the
   * desk's sockets are bound to its end, so a datagram it sent anywhere else (eth0's address) is
   * caught too, and other runs on the same ports (other worktrees) are not.
   */
  captureMedia(): Promise<Capture>;
  /** ICE used the link's two addresses and nothing else (none of the machine's own), and DTLS ran. */
  expectLinkOnly(datagrams: readonly Datagram[]): void;
}

/**
 * baresip 1.0's ICE offers every non-loopback address it sees, so it runs in a network namespace
 * joined to this one by a veth pair (netns.ts createVethLink): Kamailio (at `kamailioBase`)
 * listens on this end, the desk (ws://, offering DTLS, media ports `portMin`-`portMax`) gathers on
 * this end only, and baresip (2001) has `dtls_srtp`, `ice` and rtcp-mux. No server is contacted.
 */
export async function startVethLab(o: {
  readonly prefix: string;
  readonly kamailioBase: number;
  readonly portMin: number;
  readonly portMax: number;
  readonly codecs: MediaFactoryOptions["rtp"]["codecs"];
  readonly log: Logger;
  /** The far end's tone (makeFarTone) and audio codecs: "opus" for an Opus far end. */
  readonly farTone?: "8k" | "opus";
  readonly farCodecs?: string[];
}): Promise<VethLab> {
  const stops: Stops = [];
  try {
    const link = await createVethLink();
    stops.push(() => link.teardown());
    const kam = await startKamailio({ base: o.kamailioBase, listen: link.rootAddress });
    stops.push(() => kam.stop());
    const dir = await mkdtemp(join(tmpdir(), o.prefix));
    const farTone = await makeFarTone(dir, o.farTone);
    const farOptions = {
      ...(o.farCodecs ? { audioCodecs: o.farCodecs } : {}),
      mediaenc: "dtls_srtp",
      medianat: "ice",
      rtcpMux: true,
      netns: { ns: link.ns, address: link.address, nat: link },
    } as const;
    const lab = await startDeskAndFar(
      kam,
      dir,
      stops,
      farTone,
      {
        url: `ws://${kam.domain}:${kam.wsPort}`,
        sip: { aor: `sip:1017@${kam.domain}` },
        rtp: {
          address: link.rootAddress,
          portMin: o.portMin,
          portMax: o.portMax,
          codecs: o.codecs,
          ice: { hostAddresses: [link.rootAddress] },
          offerDtls: true,
        },
        log: o.log,
      },
      farOptions,
    );
    return {
      ...lab,
      link,
      captureMedia: () =>
        startCapture(
          dir,
          `udp portrange ${o.portMin}-${o.portMax} and (host ${link.rootAddress} or host ${link.address})`,
          "any",
        ),
      expectLinkOnly(datagrams) {
        expect(addressesSeen(datagrams)).toEqual([link.rootAddress, link.address].sort());
        const own = machineAddresses();
        expect(
          datagrams.filter((d) => own.includes(d.dstAddress) || own.includes(d.srcAddress)),
        ).toHaveLength(0);
        expect(datagrams.some((d) => d.payload[0] === 22)).toBe(true); // DTLS handshake records
      },
    };
  } catch (error) {
    await stopAll(stops)();
    throw error;
  }
}

type Stops = (() => Promise<void>)[];

/**
 * The tone desk (its sinks and tone in `dir`) and the far baresip on `kam` playing `farTone`, their
 * stops added to `stops` (the far end's after the desk's, as the tests stopped them).
 */
async function startDeskAndFar(
  kam: Kamailio,
  dir: string,
  stops: Stops,
  farTone: string,
  desk: Omit<ToneDeskOptions, "tone" | "sinkDir">,
  farExtra: Parameters<typeof startToneFar>[2] = {},
): Promise<DtlsDeskLab> {
  const d = await startToneDesk({ ...desk, tone: await makeDeskTone(dir), sinkDir: dir });
  stops.push(() => d.agent.stop());
  const far = await startToneFar(kam, farTone, farExtra);
  stops.splice(-1, 0, () => far.stop());
  return { dir, kam, agent: d.agent, inputs: d.inputs, far, sip: d.sip, stop: stopAll(stops) };
}

/** Runs the stops last first, once: a later failure does not keep an earlier part running. */
function stopAll(stops: Stops): () => Promise<void> {
  return async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
  };
}

/**
 * Waits until the desk's recording of `callId` (in `sinkDir`) holds `seconds` of the far end's
 * audio (8 kHz, 16-bit: the file sink): media came in and was decrypted, whatever the DTLS
 * handshake took under load. Bounded by `timeoutMs`.
 */
export async function heardFor(
  sinkDir: string,
  callId: string,
  seconds: number,
  timeoutMs: number,
): Promise<void> {
  await waitUntil(
    `${seconds} s of the far end's audio in the desk's recording`,
    async () => {
      const f = (await readdir(sinkDir)).find((x) => x.startsWith("sink-") && x.includes(callId));
      if (!f) return undefined;
      return (await stat(join(sinkDir, f))).size >= 44 + seconds * 8000 * 2 ? true : undefined;
    },
    timeoutMs,
  );
}

/**
 * Waits until rtpengine has received `packets` datagrams from the desk's UDP/TLS/RTP/SAVPF leg of
 * the call it knows as `sipCallId` (STUN and DTLS count too; it decrypted the SRTP to forward it).
 * Bounded by `timeoutMs`.
 */
export async function deskSent(
  rtpengine: Rtpengine,
  sipCallId: string,
  packets: number,
  timeoutMs: number,
): Promise<void> {
  await waitUntil(
    `rtpengine to receive ${packets} packets from the desk`,
    async () => {
      const legs = await callLegs(rtpengine, sipCallId);
      const desk = legs.find((l) => l.protocol === "UDP/TLS/RTP/SAVPF");
      return desk !== undefined && desk.packets >= packets ? true : undefined;
    },
    timeoutMs,
  );
}
