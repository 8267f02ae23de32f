/**
 * SDES-SRTP between two real media sessions on loopback, through a UDP relay that sees (and
 * damages) what crosses the wire: audio both ways by measurement, no clear G.711 on the wire,
 * tampered packets dropped and counted while the call goes on, a clear call where the policy or
 * the signalling says so.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { createMediaFactory } from "../../src/media/factory.js";
import { decodeMulaw } from "../../src/media/g711.js";
import type { EncryptionPolicy } from "../../src/media/security-policy.js";
import { clearToneShare, rewriteSdpPort, sdpAudioPort, UdpRelay } from "../lab/udp-relay.js";
import { goertzel, makeTone, readWav, rms } from "./tone.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let dir = "";

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cuffia-sdes-"));
  makeTone(join(dir, "440.wav"), 440, 8000, 2);
  makeTone(join(dir, "1000.wav"), 1000, 8000, 2);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function factory(tone: string, name: string, portMin: number, encryption: EncryptionPolicy, secure: boolean) {
  return createMediaFactory({
    audio: {
      source: { type: "file", path: join(dir, tone), loop: true },
      sink: { type: "file", path: join(dir, `${name}-{call}.wav`) },
    },
    rtp: { address: "127.0.0.1", portMin, portMax: portMin + 20, codecs: ["PCMU"], encryption },
    signallingSecure: secure,
    log: silentLogger,
    rtcpIntervalMs: 300,
  });
}

/** A calls B through the relay; returns both sessions, the relay, and the SDP exchanged. */
async function call(
  tag: string,
  base: number,
  a: [EncryptionPolicy, boolean],
  b: [EncryptionPolicy, boolean],
) {
  const relay = await UdpRelay.open();
  const sa = await factory("440.wav", "a", base, ...a).create({ callId: `A-${tag}` });
  const sb = await factory("1000.wav", "b", base + 40, ...b).create({ callId: `B-${tag}` });
  const offer = sa.createOffer({ hold: false });
  const answer = sb.answer(rewriteSdpPort(offer, relay.portForB), { hold: false });
  relay.connect(sdpAudioPort(offer), sdpAudioPort(answer));
  sa.acceptAnswer(rewriteSdpPort(answer, relay.portForA));
  return { sa, sb, relay, offer, answer };
}

function heard(path: string, freq: number, other: number): { tone: number; level: number } {
  const rec = readWav(path);
  const talk = rec.samples.subarray(Math.round(0.3 * rec.rate), Math.round(1.1 * rec.rate));
  return {
    tone: goertzel(talk, rec.rate, freq) / Math.max(goertzel(talk, rec.rate, other), 1e-9),
    level: rms(talk),
  };
}

describe("SDES-SRTP between two sessions", () => {
  it("preferred over TLS both sides: best-effort offer answered with SRTP; audio both ways; no clear G.711 on the wire; tampered packets dropped and counted", async () => {
    const { sa, sb, relay, offer, answer } = await call(
      "enc",
      32000,
      ["preferred", true],
      ["preferred", true],
    );
    expect(offer).toMatch(/^m=audio \d+ RTP\/AVP /m);
    expect(offer.match(/^a=crypto:/gm)?.length).toBe(3);
    expect(answer).toMatch(/^m=audio \d+ RTP\/AVP /m);
    expect(answer.match(/^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:/gm)?.length).toBe(1);
    expect(sa.encryption).toBe("sdes");
    expect(sb.encryption).toBe("sdes");
    await sleep(1300);
    // Then a relay that flips one bit in every 5th packet toward B, for half a second.
    let n = 0;
    relay.tamper = (p, d) => {
      if (d === "toB" && n++ % 5 === 0) p[p.length - 12] = (p[p.length - 12] as number) ^ 0x04;
      return true;
    };
    await sleep(500);
    relay.tamper = null;
    await sleep(300);
    const statsB = await sb.close();
    await sa.close();
    relay.close();
    expect(clearToneShare(relay.rtp.toB, 440, decodeMulaw, goertzel)).toBeLessThan(0.01);
    expect(clearToneShare(relay.rtp.toA, 1000, decodeMulaw, goertzel)).toBeLessThan(0.01);
    // RTCP is SRTCP: the E bit and index after the report, and no clear CNAME.
    expect(relay.rtcp.toA.length).toBeGreaterThan(0);
    expect(relay.rtcp.toA.some((p) => p.includes("cuffia@"))).toBe(false);
    expect(statsB.srtpAuthDropped).toBeGreaterThanOrEqual(4);
    expect(statsB.srtpReplayDropped).toBe(0);
    const atB = heard(join(dir, "b-B-enc.wav"), 440, 1000);
    const atA = heard(join(dir, "a-A-enc.wav"), 1000, 440);
    expect(atB.tone).toBeGreaterThan(20);
    expect(atA.tone).toBeGreaterThan(20);
    expect(atB.level).toBeGreaterThan(3000);
  }, 20_000);

  it("the same call with encryption off on one side is clear, says so, and the relay hears the tone", async () => {
    const { sa, sb, relay, answer } = await call("clear", 32100, ["preferred", true], ["off", true]);
    expect(answer).not.toMatch(/a=crypto/);
    expect(sa.encryption).toBe("none");
    expect(sb.encryption).toBe("none");
    await sleep(1200);
    await sb.close();
    await sa.close();
    relay.close();
    // The measure above tells clear audio from ciphertext: here the tone is plain on the wire.
    expect(clearToneShare(relay.rtp.toB, 440, decodeMulaw, goertzel)).toBeGreaterThan(0.2);
    expect(heard(join(dir, "b-B-clear.wav"), 440, 1000).tone).toBeGreaterThan(20);
  }, 20_000);

  it("no a=crypto over clear signalling: a desk on ws:// offers and answers clear", async () => {
    const { sa, sb, relay, offer } = await call("ws", 32200, ["preferred", false], ["preferred", true]);
    expect(offer).not.toMatch(/a=crypto/);
    expect(sa.encryption).toBe("none");
    await sb.close();
    await sa.close();
    relay.close();
  });

  it("required over TLS offers RTP/SAVP; a far end that answers clear is refused", async () => {
    const a = await factory("440.wav", "r", 32300, "required", true).create({ callId: "req" });
    const b = await factory("1000.wav", "r2", 32340, "off", true).create({ callId: "req2" });
    const offer = a.createOffer({ hold: false });
    expect(offer).toMatch(/^m=audio \d+ RTP\/SAVP /m);
    expect(() => b.answer(offer, { hold: false })).toThrow(/encryption is off/);
    const clear = (
      await factory("1000.wav", "r3", 32380, "off", true).create({ callId: "req3" })
    ).createOffer({
      hold: false,
    });
    const c = await factory("440.wav", "r4", 32420, "required", true).create({ callId: "req4" });
    expect(() => c.answer(clear, { hold: false })).toThrow(/media encryption required/);
    const d = await factory("440.wav", "r5", 32460, "required", false).create({ callId: "req5" });
    expect(() => d.createOffer({ hold: false })).toThrow(/not encrypted/);
    await Promise.all([a.close(), b.close(), c.close(), d.close()]);
  });
});
