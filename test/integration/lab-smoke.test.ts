/**
 * Proves the integration lab itself: real Kamailio, baresip and SIPp on loopback.
 */
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { analyse, dominantFrequency, makeTone } from "../lab/audio.js";
import { startBaresip } from "../lab/baresip.js";
import type {} from "../lab/context.js";
import { type Kamailio, labKamailio, startKamailio } from "../lab/kamailio.js";
import { baresipPort } from "../lab/ports.js";
import { startSippUas } from "../lab/sipp.js";
import { heardBothWays, receivedRecording, recordingsClosed } from "../lab/two-way.js";
import { connectWsSipPeer, headerValues } from "../lab/ws-sip-peer.js";

const lab = inject("lab");
const started: Array<{ stop(): Promise<void> }> = [];
let dir = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cuffia-lab-smoke-"));
});

afterAll(async () => {
  // Newest first: peers unregister while their Kamailio still runs.
  for (const p of started.splice(0).reverse()) await p.stop().catch(() => {});
});

async function peer(kamailio: Kamailio, opts: Omit<Parameters<typeof startBaresip>[0], "port" | "kamailio">) {
  const b = await startBaresip({ kamailio, port: await baresipPort(), ...opts });
  started.push(b);
  return b;
}

describe("lab smoke", () => {
  test("two baresips register, exchange tones through Kamailio, and hang up", async () => {
    const kamailio = labKamailio(lab.kamailio);
    const tone440 = await makeTone(join(dir, "440.wav"), { freq: 440, seconds: 20 });
    const tone880 = await makeTone(join(dir, "880.wav"), { freq: 880, seconds: 20 });
    const a = await peer(kamailio, { user: "2001", audioFile: tone440, record: true });
    const b = await peer(kamailio, {
      user: "2002",
      audioFile: tone880,
      record: true,
      autoAnswer: true,
      sipTrace: true,
    });

    const regs = await kamailio.registrations();
    expect(regs.find((r) => r.aor === "2001")?.contact).toContain(`@127.0.0.1:${a.port}`);
    expect(regs.find((r) => r.aor === "2002")?.contact).toContain(`@127.0.0.1:${b.port}`);

    await a.dial(`sip:2002@${kamailio.domain}`, { "X-Caller-Language": "it", "X-Queue": "anagrafe" });
    await a.waitFor("CALL_ESTABLISHED");
    await b.waitFor("CALL_ESTABLISHED");

    // Let 3 s of audio arrive on both sides.
    const recA = await receivedRecording(a);
    const recB = await receivedRecording(b);
    await heardBothWays(recA, recB, 10_000);

    await a.hangup();
    await a.waitFor("CALL_CLOSED");
    await b.waitFor("CALL_CLOSED");
    await recordingsClosed(recA, recB);

    // Each side hears the other's tone.
    expect(Math.abs((await dominantFrequency(recA, { skipSeconds: 0.5 })) - 880)).toBeLessThanOrEqual(15);
    expect(Math.abs((await dominantFrequency(recB, { skipSeconds: 0.5 })) - 440)).toBeLessThanOrEqual(15);
    expect((await analyse(recA)).rms).toBeGreaterThan(0.1);
    expect((await analyse(recB)).rms).toBeGreaterThan(0.1);

    // The headers handed to dial() reached the callee inside the INVITE.
    const trace = await readFile(b.logFile, "utf8");
    expect(trace).toMatch(/^X-Caller-Language: it\r?$/m);
    expect(trace).toMatch(/^X-Queue: anagrafe\r?$/m);
  });

  test("a SIPp UAS sees the custom headers of a baresip call", async () => {
    const kamailio = labKamailio(lab.kamailio);
    const caller = await peer(kamailio, { user: "2003" });
    const uas = await startSippUas({
      kamailio,
      expectHeaders: { "X-Service": "tributi", "X-Caller-Language": "ar" },
    });
    started.push(uas);
    await caller.dial(`sip:3001@${kamailio.domain}`, { "X-Service": "tributi", "X-Caller-Language": "ar" });
    await caller.waitFor("CALL_ESTABLISHED");
    await caller.hangup();
    const result = await uas.done();
    expect(result.errors).toBe("");
    expect(result.ok).toBe(true);
  });

  test.each([
    { name: "WebSocket", secure: false },
    { name: "secure WebSocket", secure: true },
  ])("a $name client with *.invalid Via/Contact gets calls, and BYE routes both ways", async ({ secure }) => {
    const kamailio = labKamailio(lab.kamailio);
    const agent = await connectWsSipPeer(kamailio, "1018", { secure });
    started.push({ stop: async () => agent.close() });
    const caller = await peer(kamailio, { user: "2003" });
    const mine = (r: { aor: string; contact: string }): boolean =>
      r.aor === "1018" && r.contact.includes(agent.host);
    expect((await kamailio.registrations()).find(mine)?.received).toMatch(/;transport=ws$/);

    // The agent hangs up: its BYE goes back through the Record-Routes to UDP baresip.
    await caller.dial(`sip:1018@${kamailio.domain}`, { "X-Service": "anagrafe" });
    let invite = await agent.next((m) => m.startsWith("INVITE ") && m.includes(agent.host));
    expect(headerValues(invite, "X-Service")).toEqual(["anagrafe"]);
    let to = agent.answer(invite);
    await caller.waitFor("CALL_ESTABLISHED");
    await agent.next((m) => m.startsWith("ACK "));
    expect((await agent.bye(invite, to)).split("\r\n")[0]).toBe("SIP/2.0 200 OK");
    await caller.waitFor("CALL_CLOSED");

    // baresip hangs up: Kamailio routes its BYE onto the WebSocket connection.
    await caller.dial(`sip:1018@${kamailio.domain}`);
    invite = await agent.next((m) => m.startsWith("INVITE ") && m.includes(agent.host));
    to = agent.answer(invite);
    await caller.waitFor("CALL_ESTABLISHED");
    await agent.next((m) => m.startsWith("ACK "));
    await caller.hangup();
    const bye = await agent.next((m) => m.startsWith("BYE "));
    expect(headerValues(bye, "Call-ID")).toEqual(headerValues(invite, "Call-ID"));
    agent.ok(bye);
    await caller.waitFor("CALL_CLOSED");
    expect(to).toContain(";tag=");
    // Leave no stale contacts on the shared Kamailio for later tests.
    await caller.stop();
    await kamailio.rpc("ul.rm", "location", "s:1018");
  });

  test("after a Kamailio restart baresip registers again", async () => {
    const kamailio = await startKamailio({ dir: await mkdtemp(join(tmpdir(), "cuffia-lab-smoke-kam-")) });
    started.push(kamailio);
    // Kamailio grants short intervals in the lab (min_expires 2): the refresh comes within 3 s.
    const b = await peer(kamailio, { user: "2001", regint: 3 });
    expect((await kamailio.registrations()).map((r) => r.aor)).toEqual(["2001"]);

    await kamailio.restart();
    expect(await kamailio.registrations()).toEqual([]);
    b.skip();
    await b.waitFor("REGISTER_OK", 10_000);
    expect((await kamailio.registrations()).map((r) => r.aor)).toEqual(["2001"]);
  });

  test("a baresip with ice outside a test-made namespace is refused before it starts (it would offer eth0's address)", async () => {
    const kamailio = labKamailio(lab.kamailio);
    const port = await baresipPort();
    await expect(startBaresip({ kamailio, user: "2001", port, medianat: "ice" })).rejects.toThrow(
      /every non-loopback address .*createVethLink/,
    );
    // nothing was started: nothing registered on that port
    expect((await kamailio.registrations()).some((r) => r.contact.includes(`:${port}`))).toBe(false);
  });
});
