/**
 * DTLS calls' host sockets bound ahead (ice-host-sockets.ts), on real sockets: handed out bound,
 * the next bound after each hand-out, released with the call and on failure, never holding the
 * plain calls' RTP pair; and gathering asks no STUN server nobody configured.
 */
import { execFileSync } from "node:child_process";
import dns from "node:dns";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { deskCertificate } from "../../src/media/dtls-certificate.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { IceHostSockets } from "../../src/media/ice-host-sockets.js";
import { IceTransport } from "../../src/media/ice-transport.js";
import { udpFree as free } from "../lab/ports.js";

const until = async (what: () => Promise<boolean>) => {
  for (let i = 0; i < 100 && !(await what()); i++) await new Promise((r) => setTimeout(r, 10));
};

/** The ports of `range` that something holds. */
async function held(range: readonly number[]): Promise<number[]> {
  const out: number[] = [];
  for (const p of range) if (!(await free(p))) out.push(p);
  return out;
}

const span = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

afterEach(() => vi.restoreAllMocks());

describe("IceHostSockets", () => {
  it("hands out a bound socket per host address, binds the next one after, and releases both", async () => {
    const range = span(36100, 6); // pairs 36100, 36102, 36104
    const sockets = new IceHostSockets(["127.0.0.1"], 36100, 36105);
    expect(await held(range)).toEqual([]); // nothing bound before the first DTLS call
    const [a] = await sockets.take();
    if (!a) throw new Error("no socket");
    expect(a.address).toBe("127.0.0.1");
    const port = a.socket.address().port;
    expect(port % 2).toBe(0);
    expect(await free(port + 1)).toBe(true); // rtcp-mux: the odd port is not held
    // re-made after use: the next call's socket is bound once this one is handed out
    let now: number[] = [];
    await until(async () => {
      now = await held(range);
      return now.length === 2;
    });
    expect(now).toContain(port);
    const spare = now.find((p) => p !== port);
    const [b] = await sockets.take();
    expect(b?.socket.address().port).toBe(spare);
    await a.release();
    await b?.release();
    await sockets.close(); // the spare bound after b
    expect(await held(range)).toEqual([]);
  });

  it("gathering on sockets bound ahead: host candidates on them; they are freed with the transport", async () => {
    const sockets = new IceHostSockets(["127.0.0.1"], 36110, 36115);
    const hostSockets = await sockets.take();
    const port = hostSockets[0]?.socket.address().port;
    const t = await IceTransport.gather({
      log: silentLogger,
      hostAddresses: ["127.0.0.1"],
      certificate: await deskCertificate(),
      portRange: [36110, 36115],
      hostSockets,
    });
    expect(t.local.candidates.map((c) => `${c.type} ${c.address}:${c.port}`)).toEqual([
      `host 127.0.0.1:${port}`,
    ]);
    expect(t.localPort).toBe(port);
    await t.close();
    expect(await free(port ?? 0)).toBe(true);
    await sockets.close();
    expect(await held(span(36110, 6))).toEqual([]);
  });

  it("a call whose gathering fails leaks no socket", async () => {
    const sockets = new IceHostSockets(["127.0.0.1"], 36120, 36123);
    const hostSockets = await sockets.take();
    const port = hostSockets[0]?.socket.address().port ?? 0;
    expect(await free(port)).toBe(false);
    await expect(
      IceTransport.gather({
        log: silentLogger,
        hostAddresses: ["127.0.0.1"],
        certificate: await deskCertificate(),
        relayOnly: true, // without a TURN server: refused
        hostSockets,
      }),
    ).rejects.toThrow(/relay_only without a TURN server/);
    expect(await free(port)).toBe(true);
    await sockets.close();
    expect(await held(span(36120, 4))).toEqual([]);
  });

  it("without rtp.ice.stun no STUN server is looked up or asked (werift-ice's default is Google's)", async () => {
    const lookup = vi.spyOn(dns.promises, "lookup");
    const t = await IceTransport.gather({
      log: silentLogger,
      hostAddresses: ["127.0.0.1"],
      certificate: await deskCertificate(),
      portRange: [36130, 36135],
    });
    expect(t.local.candidates.map((c) => c.type)).toEqual(["host"]);
    await t.close();
    expect(lookup).not.toHaveBeenCalled();
  });
});

describe("a DTLS call and the plain RTP pairs", () => {
  it("takes no plain pair: with room for two pairs, a plain call still gets one beside a DTLS call", async () => {
    const factory = createMediaFactory({
      audio: { source: { type: "none" }, sink: { type: "none" } },
      rtp: {
        address: "127.0.0.1",
        portMin: 36140,
        portMax: 36143, // pairs 36140, 36142
        codecs: ["PCMU"],
        ice: { hostAddresses: ["127.0.0.1"] },
        offerDtls: true,
      },
      log: silentLogger,
    });
    const dtls = await factory.create({ callId: "dtls" }); // we offer DTLS (offerDtls)
    expect(dtls.createOffer({ hold: false })).toMatch(/UDP\/TLS\/RTP\/SAVPF/);
    const offer =
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
    const plain = await factory.create({ callId: "plain", offer });
    expect(plain.answer(offer, { hold: false })).toMatch(/m=audio 3614[02] RTP\/AVP 0/);
    await plain.close();
    await dtls.close();
    await factory.close?.();
    expect(await held(span(36140, 4))).toEqual([]);
  });
});

describe("MediaSessionFactory.prepare (after registration)", () => {
  const make = (portMin: number, offerDtls: boolean) =>
    createMediaFactory({
      audio: { source: { type: "none" }, sink: { type: "none" } },
      rtp: {
        address: "127.0.0.1",
        portMin,
        portMax: portMin + 7,
        codecs: ["PCMU"],
        ice: { hostAddresses: ["127.0.0.1"] },
        offerDtls,
      },
      log: silentLogger,
    });

  it("a desk that offers DTLS gathers its first call's ICE agent ahead, and that call uses it", async () => {
    const factory = make(36160, true);
    const range = span(36160, 8);
    await until(async () => (await held(range)).length === 2); // the plain spare pair
    factory.prepare?.();
    let before: number[] = [];
    await until(async () => {
      before = await held(range);
      // and the agent's host socket (even port only), and the next socket (a pair until handed out)
      return before.length === 5;
    });
    expect(before).toHaveLength(5);
    const call = await factory.create({ callId: "first" });
    const offer = call.createOffer({ hold: false });
    const port = Number(/m=audio (\d+)/.exec(offer)?.[1]);
    expect(before).toContain(port);
    expect(offer).toContain(`127.0.0.1 ${port} typ host`);
    // the next agent is gathered after this one was taken: one more socket
    await until(async () => (await held(range)).length === 6);
    expect(await held(range)).toHaveLength(6);
    await call.close();
    await factory.close?.();
    expect(await held(range)).toEqual([]);
  });

  it("with a STUN server configured no agent is gathered ahead (a srflx address could be stale): only its socket", async () => {
    const factory = createMediaFactory({
      audio: { source: { type: "none" }, sink: { type: "none" } },
      rtp: {
        address: "127.0.0.1",
        portMin: 36180,
        portMax: 36187,
        codecs: ["PCMU"],
        ice: { hostAddresses: ["127.0.0.1"], stunServer: { host: "127.0.0.1", port: 9 } },
        offerDtls: true,
      },
      log: silentLogger,
    });
    const range = span(36180, 8);
    await until(async () => (await held(range)).length === 2);
    factory.prepare?.();
    await until(async () => (await held(range)).length === 4); // the socket's pair, no agent
    await new Promise((r) => setTimeout(r, 100));
    expect(await held(range)).toHaveLength(4);
    await factory.close?.();
    expect(await held(range)).toEqual([]);
  });

  it("an agent and sockets waiting for a call never keep the process alive", () => {
    const dist = join(import.meta.dirname, "..", "..", "dist");
    const script = `
      import { createMediaFactory } from ${JSON.stringify(join(dist, "media", "factory.js"))};
      import { silentLogger } from ${JSON.stringify(join(dist, "log", "logger.js"))};
      const f = createMediaFactory({
        audio: { source: { type: "none" }, sink: { type: "none" } },
        rtp: { address: "127.0.0.1", portMin: 36190, portMax: 36197, codecs: ["PCMU"],
               ice: { hostAddresses: ["127.0.0.1"] }, offerDtls: true },
        log: silentLogger,
      });
      f.prepare();
      setTimeout(() => console.log("still here"), 1500);
    `;
    const started = Date.now();
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 15_000,
    });
    expect(out.trim()).toBe("still here");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("a desk that does not offer DTLS binds nothing more", async () => {
    const factory = make(36170, false);
    const range = span(36170, 8);
    await until(async () => (await held(range)).length === 2);
    factory.prepare?.();
    await new Promise((r) => setTimeout(r, 200));
    expect(await held(range)).toHaveLength(2);
    await factory.close?.();
    expect(await held(range)).toEqual([]);
  });
});
