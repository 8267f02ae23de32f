/**
 * Opus in-band FEC against a real far end on a lossy path (issue 14: "Opus, 48 kHz, in-band
 * FEC"): baresip with its `opus` module (`opus_inbandfec yes`, and `opus_packet_loss 10`, without
 * which libopus codes no FEC) calls the desk through a real Kamailio. baresip runs in a network
 * namespace the test creates, on a veth pair (netns.ts createVethLink); 10 % of the datagrams it
 * sends to the desk's media ports are dropped at random on the way (addRandomLoss: nftables on
 * the namespace's egress; this machine's kernel has no netem). The desk must have recovered lost
 * packets from the next ones' FEC data (its call statistics), and the audio must go both ways (each
 * side hears the other's tone, measured). No address but the link's two is used.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memoryLogger } from "../../src/log/logger.js";
import type { Baresip } from "../lab/baresip.js";
import { findFreeBase, type Kamailio, startKamailio } from "../lab/kamailio.js";
import { addRandomLoss, createVethLink, type VethLink } from "../lab/netns.js";
import {
  expectOpusAudio,
  farCallsDesk,
  makeDeskTone,
  makeFarTone,
  startToneDesk,
  startToneFar,
  type ToneDesk,
} from "../lab/tone-desk.js";

const KAMAILIO_BASE_FROM = 28460;
// 64 ports from a multiple of 64: the loss rule's range is the desk's whole media range.
const PORT_MIN = 25088;
const PORT_MAX = 25151;
const LOSS_PERCENT = 10;

let link: VethLink;
let kam: Kamailio;
let dir: string;
let desk: ToneDesk;
let far: Baresip;
let dropped: () => Promise<number>;
const log = memoryLogger("debug");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  link = await createVethLink();
  kam = await startKamailio({ base: await findFreeBase(KAMAILIO_BASE_FROM), listen: link.rootAddress });
  dir = await mkdtemp(join(tmpdir(), "cuffia-opus-fec-"));
  desk = await startToneDesk({
    url: `ws://${kam.domain}:${kam.wsPort}`,
    sip: { aor: `sip:1017@${kam.domain}` },
    tone: await makeDeskTone(dir),
    sinkDir: dir,
    rtp: { address: link.rootAddress, portMin: PORT_MIN, portMax: PORT_MAX, codecs: ["opus", "pcmu"] },
    log: log.log,
  });
  far = await startToneFar(kam, await makeFarTone(dir, "opus"), {
    audioCodecs: ["opus"],
    opusEncoder: { complexity: 5, application: "voip" },
    opusPacketLoss: LOSS_PERCENT,
    netns: { ns: link.ns, address: link.address, nat: link },
  });
  dropped = await addRandomLoss(link, { percent: LOSS_PERCENT, portMin: PORT_MIN, portMax: PORT_MAX });
}, 120_000);

afterAll(async () => {
  await far?.stop();
  await desk?.agent.stop();
  await kam?.stop();
  await link?.teardown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("Opus with in-band FEC over a path losing 10 % of packets", () => {
  it("baresip calls the desk: lost packets are recovered from FEC, audio both ways", async () => {
    const { offer } = await farCallsDesk({ far, kam, inputs: desk.inputs, sip: desk.sip });
    await sleep(10_000);
    await far.hangup();
    const ended = await desk.inputs.waitFor("call_ended", (i) => i.callId === offer.callId);
    const s = ended.stats;
    const lostOnPath = await dropped();
    const figures = `path dropped ${lostOnPath}; desk: received ${s?.packetsReceived}, lost ${s?.packetsLost}, recovered by FEC ${s?.fecRecovered}`;
    process.stdout.write(`${figures}\n`);
    // Opus was negotiated, with FEC asked of baresip by our fmtp.
    expect(log.lines.filter((l) => l.msg === "media negotiated").at(-1)?.codec).toBe("OPUS");
    const trace = await readFile(far.logFile, "utf8");
    expect(trace).toMatch(/a=fmtp:\d+ [^\r\n]*useinbandfec=1/);
    // The loss was real: about 10 % of ~500 packets dropped on the link, seen lost by the desk.
    expect(lostOnPath, figures).toBeGreaterThan(15);
    expect(s?.packetsLost ?? 0, figures).toBeGreaterThan(10);
    // Most single losses are recovered from the next packet's FEC data (a run of two or more
    // loses all but its last, and a loss the jitter buffer already played out is not counted).
    expect(s?.fecRecovered ?? 0, figures).toBeGreaterThan(0.4 * (s?.packetsLost ?? 0));
    expect(s?.fecRecovered ?? 0, figures).toBeLessThanOrEqual(s?.packetsLost ?? 0);
    await expectOpusAudio(far, dir, offer.callId);
  }, 60_000);
});
