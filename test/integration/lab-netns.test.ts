/**
 * "A desk behind a home router": network namespaces with NAT built and removed by the test
 * (netns.ts), and coturn on the internet side as the way out. Proves the NAT behaves like a home
 * router (outbound flows leave from its public address, nothing comes in unasked), that STUN from
 * behind it reports the router's public address (a server-reflexive candidate, not the LAN one),
 * that TURN allocates a relay on the internet side, and that a symmetric NAT maps each destination
 * to a different port. Skipped, saying why, only where the machine forbids namespaces.
 */

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { dominantFrequency, makeTone, wavComplete, wavSeconds } from "../lab/audio.js";
import { type Baresip, readSipTrace, startBaresip } from "../lab/baresip.js";
import { baresipTurn, type Coturn, startCoturn } from "../lab/coturn.js";
import { type Kamailio, startKamailio } from "../lab/kamailio.js";
import { createHomeNat, type HomeNat, netnsUnavailable } from "../lab/netns.js";
import { baresipPort } from "../lab/ports.js";
import { execFileAsync, type Spawned, stopProcess, waitUntil } from "../lab/proc.js";
import { exchangeThenHangUp } from "../lab/two-way.js";

const unavailable = await netnsUnavailable();
if (unavailable) console.warn(`lab-netns: skipped: ${unavailable}`);

/**
 * A UDP echo on the wan side that answers each datagram with the address it came from, as
 * "IP PORT" (a colon would end socat's SYSTEM address); `whoAmI()` turns it into "IP:PORT".
 */
function startWhoAmI(nat: HomeNat, port: number, side: "wan" | "home" = "wan"): Spawned {
  return nat.spawn(
    nat[side].ns,
    "socat",
    [`UDP4-RECVFROM:${port},bind=${nat[side].address},fork`, "SYSTEM:echo $SOCAT_PEERADDR $SOCAT_PEERPORT"],
    join(nat.dir, `whoami-${port}.log`),
  );
}

const whoAmI = (reply: unknown): string | null =>
  typeof reply === "string" ? reply.trim().replace(" ", ":") : null;

/** Waits until both echoes answer from the home side (socat binds a moment after it starts). */
async function echoesAnswer(nat: HomeNat): Promise<(string | null)[]> {
  return waitUntil(
    "the wan-side echoes answering",
    async () => {
      const answer = await nat.probe(nat.home.ns, ["send2", nat.wan.address, "7000", "7001"]);
      const replies = (answer.replies as unknown[]).map(whoAmI);
      return replies.includes(null) ? undefined : replies;
    },
    10_000,
    100,
  );
}

describe.skipIf(unavailable !== null)("lab home NAT (network namespaces)", () => {
  let nat: HomeNat;
  let coturn: Coturn;
  const processes: Spawned[] = [];

  beforeAll(async () => {
    nat = await createHomeNat();
    processes.push(startWhoAmI(nat, 7000), startWhoAmI(nat, 7001));
    await echoesAnswer(nat);
    coturn = await startCoturn({
      dir: join(nat.dir, "coturn"),
      verbose: true,
      netns: { ns: nat.wan.ns, address: nat.wan.address, nat },
    });
  });

  afterAll(async () => {
    await coturn?.stop();
    for (const p of processes) await stopProcess(p);
    await nat?.teardown();
  });

  test("outbound UDP leaves from the router's public address and its reply comes back", async () => {
    const answer = await nat.probe(nat.home.ns, ["send", nat.wan.address, "7000", "hello", "3000"]);
    expect(answer.from).toBe(`${nat.wan.address}:7000`);
    // The echo saw the router's WAN address, not the desk's LAN address.
    expect(whoAmI(answer.reply)).toMatch(new RegExp(`^${nat.router.address.replace(/\./g, "\\.")}:\\d+$`));
    expect(String(answer.local)).toMatch(/^0\.0\.0\.0:\d+$|^192\.168\.77\.2:\d+$/);
  });

  test("nothing reaches the LAN unasked: the internet side has no way in", async () => {
    // A service listening on the LAN (the desk's RTP port, say) answers on the LAN...
    processes.push(startWhoAmI(nat, 7100, "home"));
    await waitUntil(
      "the LAN-side echo answering on the LAN",
      async () => (await nat.probe(nat.home.ns, ["send", nat.home.address, "7100", "hi", "300"])).reply,
      10_000,
      100,
    );
    // ...but from the internet side, neither its LAN address nor the router's public address at
    // that port reaches it (no route to the LAN, no port forwarding on the router).
    for (const host of [nat.home.address, nat.router.address]) {
      const knock = await nat.probe(nat.wan.ns, ["send", host, "7100", "knock", "500"]);
      expect(knock.reply ?? null, `${host}:7100 from the internet side`).toBeNull();
    }
    // The internet side has no route to the LAN; only the router's NAT connects the two.
    const routes = (await nat.exec(nat.wan.ns, "ip", ["route"])).stdout;
    expect(routes).not.toContain("192.168.77.");
  });

  test("STUN from behind the NAT reports the router's public address (server-reflexive)", async () => {
    const binding = await nat.probe(nat.home.ns, ["binding", coturn.host, String(coturn.port)]);
    expect(binding.mapped).toMatch(new RegExp(`^${nat.router.address.replace(/\./g, "\\.")}:\\d+$`));
  });

  test("TURN from behind the NAT allocates a relay on the internet side; wrong credentials get 401", async () => {
    const ok = await nat.probe(nat.home.ns, [
      "allocate",
      coturn.host,
      String(coturn.port),
      coturn.username,
      coturn.password,
    ]);
    expect(ok.relayed).toMatch(new RegExp(`^${coturn.host.replace(/\./g, "\\.")}:\\d+$`));
    expect(ok.mapped).toMatch(new RegExp(`^${nat.router.address.replace(/\./g, "\\.")}:\\d+$`));
    const refused = await nat.probe(nat.home.ns, [
      "allocate",
      coturn.host,
      String(coturn.port),
      coturn.username,
      "nope",
    ]);
    expect(refused.error).toBe(401);
  });

  test("a port-restricted NAT keeps one mapping per socket; a symmetric one maps each destination anew", async () => {
    const cone = await nat.probe(nat.home.ns, ["send2", nat.wan.address, "7000", "7001"]);
    const [a, b] = cone.replies as [string, string];
    expect(a).toBe(b);

    const symmetric = await createHomeNat({ nat: "symmetric" });
    const echo = [startWhoAmI(symmetric, 7000), startWhoAmI(symmetric, 7001)];
    try {
      const replies = await echoesAnswer(symmetric);
      expect(replies[0]).toMatch(/^198\.51\.100\.2:\d+$/);
      expect(replies[1]).toMatch(/^198\.51\.100\.2:\d+$/);
      expect(replies[0]).not.toBe(replies[1]);
    } finally {
      for (const p of echo) await stopProcess(p);
      await symmetric.teardown();
    }
  });

  test("teardown leaves no namespace behind", async () => {
    const extra = await createHomeNat();
    await extra.teardown();
    const { stdout } = await execFileAsync("ip", ["netns", "list"]);
    for (const ns of [extra.home.ns, extra.router.ns, extra.wan.ns]) expect(stdout).not.toContain(ns);
  });

  test("a call from behind a symmetric NAT: SIP through the router, media through coturn, audio both ways", async () => {
    const home = await createHomeNat({ nat: "symmetric" });
    const stops: Array<() => Promise<void>> = [];
    try {
      const inWan = { ns: home.wan.ns, address: home.wan.address, nat: home };
      const pbx: Kamailio = await startKamailio({ dir: join(home.dir, "kamailio"), netns: inWan });
      stops.push(() => pbx.stop());
      const turn = await startCoturn({ dir: join(home.dir, "coturn"), verbose: true, netns: inWan });
      stops.push(() => turn.stop());
      const tone440 = await makeTone(join(home.dir, "440.wav"), { freq: 440, seconds: 20 });
      const tone880 = await makeTone(join(home.dir, "880.wav"), { freq: 880, seconds: 20 });
      const far: Baresip = await startBaresip({
        kamailio: pbx,
        user: "2002",
        port: await baresipPort(),
        audioFile: tone880,
        record: true,
        autoAnswer: true,
        netns: inWan,
      });
      stops.push(() => far.stop());
      const desk: Baresip = await startBaresip({
        kamailio: pbx,
        user: "2001",
        port: await baresipPort(),
        audioFile: tone440,
        record: true,
        sipTrace: true,
        ...baresipTurn(turn),
        netns: { ns: home.home.ns, address: home.home.address, nat: home },
      });
      stops.push(() => desk.stop());
      // Kamailio saw the REGISTER come from the router's public address, not the LAN one.
      const registration = (await pbx.registrations()).find((r) => r.aor === "2001");
      expect(registration?.received ?? "").toContain(home.router.address);

      await desk.dial(`sip:2002@${pbx.domain}`);
      await desk.waitFor("CALL_ESTABLISHED");
      await far.waitFor("CALL_ESTABLISHED");
      const [recDesk, recFar] = await exchangeThenHangUp(desk, far);
      expect(Math.abs((await dominantFrequency(recDesk, { skipSeconds: 0.5 })) - 880)).toBeLessThanOrEqual(
        15,
      );
      expect(Math.abs((await dominantFrequency(recFar, { skipSeconds: 0.5 })) - 440)).toBeLessThanOrEqual(15);

      // The desk offered coturn's relay (on the internet side), not its LAN address.
      const offer =
        (await readSipTrace(desk.logFile)).find((t) => t.message.startsWith("INVITE "))?.message ?? "";
      expect(offer).toMatch(new RegExp(`^c=IN IP4 ${turn.host.replace(/\./g, "\\.")}\\r?$`, "m"));
      const port = Number(/^m=audio (\d+) /m.exec(offer)?.[1]);
      expect(port).toBeGreaterThanOrEqual(turn.relayPorts.min);
      expect(port).toBeLessThanOrEqual(turn.relayPorts.max);
      expect(await readFile(turn.logFile, "utf8")).toMatch(/ALLOCATE processed, success/);

      // The control: the same call without TURN. The far end sends to the LAN address the desk
      // offered, which the internet side cannot reach: the desk hears nothing while the far end,
      // reached through the NAT, hears the desk.
      const bare: Baresip = await startBaresip({
        kamailio: pbx,
        user: "2003",
        port: await baresipPort(),
        audioFile: tone440,
        record: true,
        netns: { ns: home.home.ns, address: home.home.address, nat: home },
      });
      stops.push(() => bare.stop());
      const farCalls = (await far.recordings()).length;
      await bare.dial(`sip:2002@${pbx.domain}`);
      await bare.waitFor("CALL_ESTABLISHED");
      const recFar2 = await waitUntil("the far end's second recording", async () => {
        const decs = (await far.recordings()).filter((f) => f.endsWith("-dec.wav") && f !== recFar);
        return (await far.recordings()).length > farCalls ? decs[0] : undefined;
      });
      await waitUntil("3 s at the far end", async () => (await wavSeconds(recFar2)) >= 3, 15_000, 100);
      await bare.hangup();
      await far.waitFor("CALL_CLOSED");
      await waitUntil("recording closed", () => wavComplete(recFar2));
      expect(Math.abs((await dominantFrequency(recFar2, { skipSeconds: 0.5 })) - 440)).toBeLessThanOrEqual(
        15,
      );
      // baresip records what it decodes: in the 3 s the far end heard, the desk decoded nothing.
      const bareDec = (await bare.recordings()).find((f) => f.endsWith("-dec.wav"));
      const heardSeconds = bareDec ? await wavSeconds(bareDec) : 0;
      expect(heardSeconds).toBeLessThan(0.2);
    } finally {
      for (const stop of stops.reverse()) await stop().catch(() => {});
      await home.teardown();
    }
  });
});
