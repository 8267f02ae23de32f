/**
 * Media through a TURN relay (RFC 8656) when no host candidate may be used: desk A is set to
 * rtp.ice.relay_only with the lab's coturn (127.0.0.1, long-term credentials), desk B has host
 * candidates on 127.0.0.1 only. A's description carries nothing but the relayed candidate, so
 * every packet between them crosses coturn; the tones arrive both ways, DTLS-SRTP on top.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { createMediaFactory, type MediaFactoryOptions } from "../../src/media/factory.js";
import { type Coturn, startCoturn } from "../lab/coturn.js";
import { goertzel, makeTone, readWav } from "../media/tone.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let dir = "";
let coturn: Coturn;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cuffia-turn-relay-"));
  makeTone(join(dir, "440.wav"), 440, 8000, 2);
  makeTone(join(dir, "1000.wav"), 1000, 8000, 2);
  coturn = await startCoturn();
}, 30_000);
afterAll(async () => {
  await coturn?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function factory(
  tone: string,
  name: string,
  portMin: number,
  ice: NonNullable<MediaFactoryOptions["rtp"]["ice"]>,
) {
  return createMediaFactory({
    audio: {
      source: { type: "file", path: join(dir, tone), loop: true },
      sink: { type: "file", path: join(dir, `${name}-{call}.wav`) },
    },
    rtp: { address: "127.0.0.1", portMin, portMax: portMin + 19, codecs: ["PCMU"], ice, offerDtls: true },
    log: silentLogger,
    rtcpIntervalMs: 400,
  });
}

function toneRatio(name: string, hz: number, other: number): number {
  const f = readdirSync(dir).find((x) => x.startsWith(`${name}-`));
  if (!f) throw new Error(`no recording of ${name}`);
  const { samples, rate } = readWav(join(dir, f));
  const tail = samples.subarray(Math.floor(rate * 0.3));
  return goertzel(tail, rate, hz) / Math.max(goertzel(tail, rate, other), 1e-9);
}

describe("server-reflexive candidates", () => {
  it("a desk with a STUN server offers host and srflx candidates (the address coturn saw)", async () => {
    const a = await factory("440.wav", "s", 33480, {
      hostAddresses: ["127.0.0.1"],
      stunServer: { host: coturn.host, port: coturn.port },
    }).create({ callId: "srflx" });
    const offer = a.createOffer({ hold: false });
    await a.close();
    const host = /a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host\r?\n/.exec(offer);
    expect(host, offer).not.toBeNull();
    // coturn sees the host socket's own address on loopback (no NAT): related = host
    expect(offer).toMatch(
      new RegExp(
        `a=candidate:\\S+ 1 udp \\d+ 127\\.0\\.0\\.1 ${host?.[1]} typ srflx raddr 127\\.0\\.0\\.1 rport ${host?.[1]}`,
      ),
    );
  });
});

describe("TURN relay", () => {
  it("a relay-only desk offers only the relayed candidate and its audio crosses coturn both ways", async () => {
    const a = await factory("440.wav", "a", 33400, {
      hostAddresses: ["127.0.0.1"],
      relayOnly: true,
      turnServer: {
        host: coturn.host,
        port: coturn.port,
        username: coturn.username,
        password: coturn.password,
        transport: "udp",
      },
    }).create({ callId: "relayA" });
    const offer = a.createOffer({ hold: false });
    const candidates = [...offer.matchAll(/a=candidate:(.*)\r?\n/g)].map((m) => m[1] ?? "");
    expect(candidates.length).toBe(1);
    const relay = /^\S+ 1 udp \d+ (\S+) (\d+) typ relay raddr \S+ rport \d+/.exec(candidates[0] ?? "");
    expect(relay, candidates[0]).not.toBeNull();
    const relayPort = Number(relay?.[2]);
    expect(relay?.[1]).toBe("127.0.0.1");
    expect(relayPort).toBeGreaterThanOrEqual(coturn.relayPorts.min);
    expect(relayPort).toBeLessThanOrEqual(coturn.relayPorts.max);

    const b = await factory("1000.wav", "b", 33440, { hostAddresses: ["127.0.0.1"] }).create({
      callId: "relayB",
      offer,
    });
    const ended: string[] = [];
    a.onMediaTimeout((d) => ended.push(`a: ${d}`));
    b.onMediaTimeout((d) => ended.push(`b: ${d}`));
    a.acceptAnswer(b.answer(offer, { hold: false }));
    await sleep(3000);
    const sa = await a.close();
    const sb = await b.close();
    expect(ended).toEqual([]);
    expect(sa.packetsReceived).toBeGreaterThan(80);
    expect(sb.packetsReceived).toBeGreaterThan(80);
    await sleep(200);
    expect(toneRatio("a", 1000, 440)).toBeGreaterThan(100);
    expect(toneRatio("b", 440, 1000)).toBeGreaterThan(100);
  }, 30_000);
});
