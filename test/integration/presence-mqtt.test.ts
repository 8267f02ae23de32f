/**
 * The presence side against a real Mosquitto, over MQTT 5 and 3.1.1: what the switchboard and
 * supervisors see on the topics of contracts/mqtt.md.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { activity } from "../../src/core/derive.js";
import { memoryLogger } from "../../src/log/logger.js";
import { type Mosquitto, startMosquitto } from "../lab/mosquitto.js";
import {
  type Desk,
  retained,
  startDesk,
  Watcher as W,
  type Watcher,
  waitUntil,
} from "../presence/harness.js";

const A = "cuffia/agents/desk-17";

let broker: Mosquitto;
beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker?.stop();
});

describe.each([5, 4] as const)("MQTT protocol version %i", (protocolVersion) => {
  let desk: Desk | null = null;
  let watcher: Watcher | null = null;
  afterEach(async () => {
    await desk?.stop();
    await watcher?.close();
    desk = null;
    watcher = null;
  });

  const start = async (
    over: Parameters<typeof startDesk>[0]["options"] = {},
    log = memoryLogger("info").log,
  ) => {
    watcher = await W.connect(broker.url, [`${A}/#`], { protocolVersion: 5 });
    desk = await startDesk({ url: broker.url, options: { protocolVersion, ...over }, log });
    await waitUntil("desk connected", () => desk?.presence.connected);
    return { desk, watcher };
  };

  it("publishes a retained online birth with a session, and the retained presence document", async () => {
    const { desk } = await start();
    const online = await waitUntil("retained online", async () => {
      const r = await retained(broker.url, `${A}/online`);
      return r?.json?.online === true ? r : null;
    });
    expect(online.retain).toBe(true);
    expect(online.json).toMatchObject({ v: 1, online: true, session: desk.presence.session });
    expect(Object.keys(online.json!).sort()).toEqual(["online", "session", "ts", "v"]);
    expect(desk.presence.session).toMatch(/^[0-9a-f]{16}$/);
    const presence = await waitUntil("retained presence with mqtt healthy", async () => {
      const r = await retained(broker.url, `${A}/presence`);
      return (r?.json?.health as { mqtt?: boolean } | undefined)?.mqtt === true ? r : null;
    });
    expect(presence.json).toMatchObject({
      v: 1,
      agent: "desk-17",
      name: "Sportello 17",
      status: "logged_out",
      activity: "idle",
      routable: false,
      call: null,
    });
  });

  it("republishes presence on a state change, not on a ts-only change", async () => {
    const { desk, watcher } = await start();
    await watcher.waitFor(
      "presence mqtt:true",
      (s) => s.topic === `${A}/presence` && (s.json?.health as { mqtt?: boolean } | undefined)?.mqtt === true,
    );
    const before = watcher.on(`${A}/presence`).length;
    expect(desk.command({ cmd: "login" }).ok).toBe(true);
    const p = await watcher.waitFor(
      "available",
      (s) => s.topic === `${A}/presence` && s.json?.status === "available",
    );
    expect(p.json?.seq).toBe(desk.runner.state.seq);
    // A refresh (the runner's on-screen clock tick) re-projects the same state a second later.
    await new Promise((r) => setTimeout(r, 1_100));
    desk.runner.refresh();
    desk.runner.refresh();
    // Fence: a later real change must be the next presence message.
    desk.command({ cmd: "pause", reason: "break" });
    await watcher.waitFor("paused", (s) => s.topic === `${A}/presence` && s.json?.status === "paused");
    const docs = watcher.on(`${A}/presence`).slice(before);
    expect(docs.map((d) => d.json?.status)).toEqual(["available", "paused"]);
  });

  it("does not republish presence when only seq moves (a queue statistics update)", async () => {
    const { desk, watcher } = await start();
    await watcher.waitFor(
      "presence mqtt:true",
      (s) => s.topic === `${A}/presence` && (s.json?.health as { mqtt?: boolean } | undefined)?.mqtt === true,
    );
    const before = watcher.on(`${A}/presence`).length;
    const seq = desk.runner.state.seq;
    await watcher.publish("cuffia/queues/casa/stats", JSON.stringify({ v: 1, waiting: 2, longest_wait: 3 }));
    await waitUntil("stats in the desk", () => desk.runner.state.queues?.waiting === 2);
    expect(desk.runner.state.seq).toBeGreaterThan(seq);
    desk.command({ cmd: "login" });
    const next = await watcher.waitFor(
      "available",
      (s) => s.topic === `${A}/presence` && s.json?.status === "available",
    );
    expect(watcher.on(`${A}/presence`).slice(before)).toEqual([next]);
    expect(next.json?.seq).toBe(desk.runner.state.seq);
  });

  it("never puts the caller's number in a retained message; events carry it", async () => {
    const { desk, watcher } = await start();
    // A desk without SIP: offer the call as the SIP side would.
    desk.runner.dispatch({
      type: "call_offered",
      callId: "c-1",
      number: "+390612345678",
      displayName: "Mario",
      queue: "sociale",
      language: "it",
      service: "casa",
      autoAnswer: false,
    });
    expect(activity(desk.runner.state)).toBe("ringing");
    const ringing = await waitUntil("ringing presence", async () => {
      const r = await retained(broker.url, `${A}/presence`);
      return r?.json?.activity === "ringing" ? r : null;
    });
    expect(ringing.json?.call).toMatchObject({ id: "c-1", queue: "sociale", language: "it" });
    expect(ringing.text).not.toContain("12345678");
    const offered = await watcher.waitFor(
      "call.offered",
      (s) => s.topic === `${A}/events` && s.json?.type === "call.offered",
    );
    expect(offered.retain).toBe(false);
    expect(offered.json?.number).toBe("+390612345678");
    for (const s of watcher.seen.filter(
      (x) => x.topic.endsWith("/presence") || x.topic.endsWith("/online"),
    )) {
      expect(s.text).not.toContain("12345678");
    }
  });

  describe("remote commands", () => {
    const cmd = (w: Watcher, body: unknown) =>
      w.publish(`${A}/commands`, typeof body === "string" ? body : JSON.stringify(body));
    const result = (w: Watcher, id: string | null) =>
      w.waitFor(`result ${id}`, (s) => s.topic === `${A}/commands/result` && s.json?.id === id);

    it("applies a valid command and answers ok", async () => {
      const { desk, watcher } = await start();
      await cmd(watcher, { v: 1, id: "r1", action: "login" });
      expect((await result(watcher, "r1")).json).toEqual({ v: 1, id: "r1", ok: true });
      expect(desk.runner.state.status).toBe("available");
      await cmd(watcher, { v: 1, id: "r2", action: "pause", reason: "break", ts: new Date().toISOString() });
      expect((await result(watcher, "r2")).json).toEqual({ v: 1, id: "r2", ok: true });
      expect(desk.runner.state).toMatchObject({ status: "paused", reason: "break" });
      const ev = await watcher.waitFor(
        "status event",
        (s) => s.topic === `${A}/events` && s.json?.status === "paused",
      );
      expect(ev.json).toMatchObject({ v: 1, type: "status.changed", reason: "break", origin: "mqtt" });
    });

    it("answers a refusal of the desk with its code", async () => {
      const { desk, watcher } = await start();
      await cmd(watcher, { v: 1, id: "x1", action: "hangup" });
      expect((await result(watcher, "x1")).json).toMatchObject({
        v: 1,
        id: "x1",
        ok: false,
        error: expect.stringMatching(/^no_call: /),
      });
      desk.command({ cmd: "login" });
      const seq = desk.runner.state.seq;
      await cmd(watcher, { v: 1, id: "x2", action: "pause", reason: "nap" });
      expect((await result(watcher, "x2")).json).toMatchObject({
        ok: false,
        error: expect.stringMatching(/^bad_reason: /),
      });
      expect(desk.runner.state).toMatchObject({ status: "available", seq });
    });

    it("refuses malformed, oversized, unknown and stale commands: error result, nothing changed, no crash", async () => {
      const { desk, watcher } = await start();
      const seq = desk.runner.state.seq;
      const old = new Date(Date.now() - 61_000).toISOString();
      await cmd(watcher, "{not json");
      await cmd(watcher, { v: 1, id: "big", action: "pause", reason: "x".repeat(5000) });
      await cmd(watcher, { v: 1, id: "u1", action: "format_disk" });
      await cmd(watcher, { v: 1, id: "s1", action: "login", ts: old });
      await cmd(watcher, { v: 1, id: "t1", action: "transfer" });
      await cmd(watcher, { v: 2, id: "v2", action: "login" });
      const errors = await waitUntil("six error results", () => {
        const rs = watcher.on(`${A}/commands/result`);
        return rs.length >= 6 ? rs : null;
      });
      expect(errors.map((e) => [e.json?.id, e.json?.ok, String(e.json?.error).split(":")[0]])).toEqual([
        [null, false, "bad_request"],
        [null, false, "bad_request"],
        ["u1", false, "unknown_command"],
        ["s1", false, "expired"],
        ["t1", false, "bad_request"],
        ["v2", false, "bad_request"],
      ]);
      expect(desk.runner.state.seq).toBe(seq);
      expect(desk.runner.state.status).toBe("logged_out");
      // Still alive and listening.
      await cmd(watcher, { v: 1, id: "ok", action: "login" });
      expect((await result(watcher, "ok")).json?.ok).toBe(true);
    });

    // MQTT 5 only: 3.1.1 has no response topic nor correlation data.
    if (protocolVersion === 5)
      it("answers on the MQTT 5 response topic with the correlation data", async () => {
        const { desk, watcher } = await start({ responseTopicPrefix: "switchboard/replies" });
        await watcher.client.subscribeAsync("switchboard/replies/#", { qos: 1 });
        await watcher.publish(`${A}/commands`, JSON.stringify({ v: 1, id: "c1", action: "login" }), {
          qos: 1,
          properties: { responseTopic: "switchboard/replies/7", correlationData: Buffer.from("corr-7") },
        });
        const r = await watcher.waitFor("reply", (s) => s.topic === "switchboard/replies/7");
        expect(r.json).toEqual({ v: 1, id: "c1", ok: true });
        expect(Buffer.from(r.properties?.correlationData as Buffer).toString()).toBe("corr-7");
        expect(desk.runner.state.status).toBe("available");
        expect(watcher.on(`${A}/commands/result`)).toEqual([]);
      });

    it("refuses a retained command published while it is subscribed (issue 11)", async () => {
      const { desk, watcher } = await start();
      const p = await W.connect(broker.url, [], { protocolVersion });
      try {
        // The broker clears the retain flag for live subscribers: v5 keeps it with Retain As
        // Published, 3.1.1 finds it again by re-subscribing.
        await p.publish(`${A}/commands`, JSON.stringify({ v: 1, id: "live-ret", action: "login" }), {
          qos: 1,
          retain: true,
        });
        expect((await result(watcher, "live-ret")).json).toMatchObject({
          ok: false,
          error: expect.stringMatching(/retained/),
        });
        expect(desk.runner.state.status).toBe("logged_out");
        // A live command right after is acted on, once.
        await cmd(watcher, { v: 1, id: "live-ok", action: "login" });
        expect((await result(watcher, "live-ok")).json).toEqual({ v: 1, id: "live-ok", ok: true });
        expect(desk.runner.state.status).toBe("available");
        expect(watcher.on(`${A}/commands/result`).filter((s) => s.json?.id === "live-ret")).toHaveLength(1);
      } finally {
        await p.publish(`${A}/commands`, "", { qos: 1, retain: true });
        await p.close();
      }
    });

    it("refuses a command whose ts is in the future beyond the clock skew (issue 11)", async () => {
      const { desk, watcher } = await start({ maxClockSkewSeconds: 30 });
      await cmd(watcher, { v: 1, id: "y2999", action: "login", ts: "2999-01-01T00:00:00Z" });
      expect((await result(watcher, "y2999")).json).toMatchObject({
        ok: false,
        error: expect.stringMatching(/^bad_request: ts .*ahead of the desk's clock/),
      });
      await cmd(watcher, {
        v: 1,
        id: "soon",
        action: "login",
        ts: new Date(Date.now() + 5_000).toISOString(),
      });
      expect((await result(watcher, "soon")).json?.ok).toBe(true);
      expect(desk.runner.state.status).toBe("available");
    });

    if (protocolVersion === 5)
      it("refuses a response topic pointing at its own presence; presence stays intact (issue 11)", async () => {
        const { desk, watcher } = await start({ responseTopicPrefix: "switchboard/replies" });
        for (const [id, topic] of [
          ["m1", `${A}/presence`],
          ["m2", `${A}/online`],
          ["m3", `${A}/events`],
          ["m4", "cuffia/agents/other-desk/commands/result"],
          ["m5", "elsewhere/replies"],
        ] as const) {
          await watcher.publish(`${A}/commands`, JSON.stringify({ v: 1, id, action: "login" }), {
            qos: 1,
            properties: { responseTopic: topic, correlationData: Buffer.from(id) },
          });
          const r = await result(watcher, id);
          expect(r.json).toMatchObject({
            ok: false,
            error: expect.stringMatching(/response topic .* not allowed/),
          });
          expect(Buffer.from(r.properties?.correlationData as Buffer).toString()).toBe(id);
        }
        expect(desk.runner.state.status).toBe("logged_out");
        const presence = await retained(broker.url, `${A}/presence`);
        expect(presence?.json).toMatchObject({
          v: 1,
          agent: "desk-17",
          status: "logged_out",
          routable: false,
        });
        expect(watcher.on(`${A}/presence`).every((s) => s.json?.agent === "desk-17")).toBe(true);
        expect(watcher.on(`${A}/online`).every((s) => typeof s.json?.online === "boolean")).toBe(true);
        expect(watcher.on(`${A}/events`)).toEqual([]);
      });

    it("does not act on a retained command", async () => {
      const p = await W.connect(broker.url, []);
      await p.publish(`${A}/commands`, JSON.stringify({ v: 1, id: "ret", action: "login" }), {
        qos: 1,
        retain: true,
      });
      const { desk, watcher } = await start();
      // v5 asks the broker not to send it (rh 2); 3.1.1 receives it and refuses it.
      if (protocolVersion === 4) {
        expect((await result(watcher, "ret")).json).toMatchObject({
          ok: false,
          error: expect.stringMatching(/retained/),
        });
      } else {
        await cmd(watcher, { v: 1, id: "after", action: "ready" });
        await result(watcher, "after");
        expect(watcher.on(`${A}/commands/result`).map((s) => s.json?.id)).toEqual(["after"]);
      }
      expect(desk.runner.state.status).toBe("logged_out");
      await p.publish(`${A}/commands`, "", { qos: 1, retain: true });
      await p.close();
    });
  });

  describe("queue statistics", () => {
    const stats = (w: Watcher, q: string, body: unknown, opts: object = {}) =>
      w.publish(`cuffia/queues/${q}/stats`, typeof body === "string" ? body : JSON.stringify(body), {
        qos: 1,
        retain: true,
        ...opts,
      });
    afterEach(async () => {
      const w = await W.connect(broker.url, []);
      for (const q of ["sociale", "casa"])
        await w.publish(`cuffia/queues/${q}/stats`, "", { qos: 1, retain: true });
      await w.close();
    });

    it("sums the desk's queues (retained figures arrive on subscribe)", async () => {
      const w = await W.connect(broker.url, []);
      await stats(w, "sociale", {
        v: 1,
        waiting: 3,
        longest_wait: 95,
        available_agents: 2,
        by_language: { it: 2, ar: 1 },
      });
      await stats(w, "other", { v: 1, waiting: 50, longest_wait: 900, available_agents: 9 });
      const { desk } = await start();
      await waitUntil("stats", () => desk.runner.state.queues?.waiting === 3);
      await stats(w, "casa", {
        v: 1,
        waiting: 1,
        longest_wait: 20,
        available_agents: 1,
        by_language: { it: 1, fr: 1 },
      });
      const q = await waitUntil("summed", () =>
        desk.runner.state.queues?.waiting === 4 ? desk.runner.state.queues : null,
      );
      expect(q).toMatchObject({ waiting: 4, availableAgents: 3, byLanguage: { it: 3, ar: 1, fr: 1 } });
      expect(q.longestWait).toBeGreaterThanOrEqual(95);
      expect(q.longestWait).toBeLessThan(100);
      await w.close();
    });

    it("ignores malformed and oversized figures and keeps the last good ones", async () => {
      const { log, lines } = memoryLogger("warn");
      const { desk, watcher } = await start({}, log);
      await stats(watcher, "sociale", { v: 1, waiting: 2, longest_wait: 5 });
      await waitUntil("stats", () => desk.runner.state.queues?.waiting === 2);
      const seq = desk.runner.state.seq;
      await stats(watcher, "sociale", "{broken");
      await stats(watcher, "sociale", { v: 1, waiting: -4, longest_wait: 5 });
      await stats(watcher, "sociale", { v: 2, waiting: 4, longest_wait: 5 });
      await stats(
        watcher,
        "sociale",
        JSON.stringify({ v: 1, waiting: 1, longest_wait: 1, pad: "x".repeat(20_000) }),
      );
      await waitUntil(
        "four warnings",
        () => lines.filter((l) => l.msg === "queue statistics ignored").length === 4,
      );
      expect(desk.runner.state.seq).toBe(seq);
      expect(desk.runner.state.queues?.waiting).toBe(2);
      expect(desk.presence.connected).toBe(true);
    });

    it("counts figures not refreshed for statsStaleSeconds as unknown", async () => {
      const { desk, watcher } = await start({ statsStaleSeconds: 1 });
      await stats(watcher, "casa", { v: 1, waiting: 7, longest_wait: 5 });
      await waitUntil("stats", () => desk.runner.state.queues?.waiting === 7);
      const t0 = Date.now();
      await waitUntil("stale", () => desk.runner.state.queues === null, 3_000);
      expect(Date.now() - t0).toBeLessThan(1_500);
    });

    // MQTT 5 only: 3.1.1 has no message expiry.
    if (protocolVersion === 5)
      it("honours the MQTT 5 message expiry of the figures", async () => {
        const { desk, watcher } = await start({ statsStaleSeconds: 60 });
        await stats(
          watcher,
          "casa",
          { v: 1, waiting: 7, longest_wait: 5 },
          { properties: { messageExpiryInterval: 1 } },
        );
        await waitUntil("stats", () => desk.runner.state.queues?.waiting === 7);
        await waitUntil("expired", () => desk.runner.state.queues === null, 3_000);
      });
  });

  it("says goodbye on a graceful stop: last presence, then offline with the same session", async () => {
    const { desk, watcher } = await start();
    const session = desk.presence.session;
    // Retained messages of earlier tests may still be on their way: start after our own birth.
    const birth = await watcher.waitFor(
      "birth",
      (s) => s.topic === `${A}/online` && s.json?.session === session,
    );
    const from = watcher.seen.indexOf(birth) + 1;
    await desk.stop();
    const offline = await watcher.waitFor(
      "offline",
      (s) => s.topic === `${A}/online` && s.json?.online === false,
      5_000,
      from,
    );
    expect(offline.json).toMatchObject({ v: 1, online: false, session });
    const seenPresence = watcher.seen.slice(from).findIndex((s) => s.topic === `${A}/presence`);
    expect(seenPresence).toBeGreaterThanOrEqual(0);
    expect(seenPresence).toBeLessThan(watcher.seen.indexOf(offline));
    const r = await retained(broker.url, `${A}/online`);
    expect(r?.json).toMatchObject({ online: false, session });
  });

  it("re-asserts online when it reads a stale offline of another session", async () => {
    const { desk, watcher } = await start();
    const session = desk.presence.session;
    await watcher.publish(
      `${A}/online`,
      JSON.stringify({ v: 1, online: false, session: "0123456789abcdef", ts: "x" }),
      {
        qos: 1,
        retain: true,
      },
    );
    await waitUntil("online again", async () => {
      const r = await retained(broker.url, `${A}/online`);
      return r?.json?.online === true && r.json.session === session;
    });
  });
});
