import { mkdtempSync, statSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { NoDaemonError, request, subscribe } from "../../src/control/control-client.js";
import { ControlServer } from "../../src/control/control-server.js";
import { parseRequest, requestFromArgs } from "../../src/control/protocol.js";
import { initialState } from "../../src/core/desk.js";
import { Runner } from "../../src/core/runner.js";
import type { Policy } from "../../src/core/types.js";
import { silentLogger } from "../../src/log/logger.js";
import { samplePolicy } from "../samples.js";

const policy: Policy = {
  ...samplePolicy,
  pauseReasons: ["break", "training"],
  notRespondingSeconds: 5,
  sides: { sip: false, headset: false, lcd: false, mqtt: false },
};

let runner: Runner | undefined;
afterEach(async () => {
  await runner?.stop();
  runner = undefined;
});

async function daemon() {
  const dir = mkdtempSync(join(tmpdir(), "cuffia-ctl-"));
  const socket = join(dir, "run", "control.sock");
  runner = new Runner({ initial: initialState(policy, Date.now()), log: silentLogger });
  runner.add(
    new ControlServer({ socket, agent: { id: "desk-17", name: "Sportello 17" }, log: silentLogger }),
  );
  await runner.start();
  return { socket, runner };
}

/** Sends raw bytes and collects the answer lines until `n` arrived. */
function raw(socket: string, data: string, n: number): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const out: Array<Record<string, unknown>> = [];
    const s = createConnection(socket);
    let buf = "";
    s.setEncoding("utf8");
    s.on("data", (c: string) => {
      buf += c;
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        out.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
      }
      if (out.length >= n) {
        s.end();
        resolve(out);
      }
    });
    s.on("error", reject);
    s.write(data);
  });
}

describe("control protocol", () => {
  it("parses requests and refuses garbage with a reason", () => {
    expect(parseRequest('{"id":1,"cmd":"pause","reason":"break"}')).toEqual({
      id: 1,
      kind: "desk",
      command: { cmd: "pause", reason: "break" },
    });
    expect(parseRequest('{"id":2,"cmd":"mute","on":false}')).toEqual({
      id: 2,
      kind: "desk",
      command: { cmd: "mute", on: false },
    });
    expect(parseRequest("nope")).toMatchObject({ ok: false, error: { code: "bad_request" } });
    expect(parseRequest("[1]")).toMatchObject({ ok: false, error: { code: "bad_request" } });
    expect(parseRequest('{"id":3,"cmd":"fly"}')).toMatchObject({
      id: 3,
      ok: false,
      error: { code: "unknown_command" },
    });
    expect(parseRequest('{"id":4,"cmd":"dial"}')).toMatchObject({
      id: 4,
      ok: false,
      error: { code: "bad_request", message: expect.stringContaining("target") },
    });
    expect(parseRequest('{"id":5,"cmd":"mute","on":"yes"}')).toMatchObject({
      ok: false,
      error: { code: "bad_request" },
    });
  });

  it("maps ctl positional arguments", () => {
    expect(requestFromArgs("pause", "break")).toEqual({ cmd: "pause", reason: "break" });
    expect(requestFromArgs("mute", "on")).toEqual({ cmd: "mute", on: true });
    expect(requestFromArgs("hold", undefined)).toEqual({ cmd: "hold" });
    expect(requestFromArgs("transfer", "polo1")).toEqual({ cmd: "transfer", target: "polo1" });
    expect(requestFromArgs("dtmf", "12#")).toEqual({ cmd: "dtmf", digits: "12#" });
    expect(requestFromArgs("mute", "maybe")).toBe('"maybe" is not on/off');
    expect(requestFromArgs("dial", undefined)).toBe("dial needs a target");
  });
});

describe("control socket", () => {
  it("status shows the call's sound card xruns, as the media side reported them to the runner", async () => {
    const { socket, runner: r } = await daemon();
    expect(await request(socket, { cmd: "status" })).toMatchObject({
      health: { audio: null },
      local: { audio_xruns: null },
    });
    r.dispatch({
      type: "health",
      side: "audio",
      xruns: { callId: "c9", underruns: 3, overruns: 1, lastMinute: 4 },
      callId: "c9",
    });
    expect(await request(socket, { cmd: "status" })).toMatchObject({
      health: { audio: "degraded" },
      local: { audio_xruns: { call: "c9", underruns: 3, overruns: 1, last_minute: 4, degraded: true } },
    });
    r.dispatch({ type: "health", side: "audio", xruns: null, callId: "c9" });
    expect(await request(socket, { cmd: "status" })).toMatchObject({
      health: { audio: null },
      local: { audio_xruns: null },
    });
  });

  it("answers status with the presence document, drives the agent status, mode 0660", async () => {
    const { socket } = await daemon();
    expect(statSync(socket).mode & 0o777).toBe(0o660);
    const st = await request(socket, { cmd: "status" });
    expect(st).toMatchObject({
      ok: true,
      v: 1,
      agent: "desk-17",
      status: "logged_out",
      activity: "idle",
      routable: false,
    });
    expect(await request(socket, { cmd: "login" })).toEqual({ id: 1, ok: true });
    expect(await request(socket, { cmd: "pause", reason: "training" })).toEqual({ id: 1, ok: true });
    expect(await request(socket, { cmd: "status" })).toMatchObject({ status: "paused", reason: "training" });
    expect(await request(socket, { cmd: "pause", reason: "nap" })).toMatchObject({
      ok: false,
      error: { code: "bad_reason" },
    });
    expect(await request(socket, { cmd: "answer" })).toMatchObject({
      ok: false,
      error: { code: "not_available" },
    });
    expect(await request(socket, { cmd: "logout" })).toEqual({ id: 1, ok: true });
  });

  it("answers garbage with errors and keeps serving the same connection", async () => {
    const { socket } = await daemon();
    const out = await raw(socket, 'garbage\n{"cmd":1}\n\x00\xff\n{"id":9,"cmd":"status"}\n', 4);
    expect(out.slice(0, 3).every((m) => m["ok"] === false)).toBe(true);
    expect(out[3]).toMatchObject({ id: 9, ok: true, agent: "desk-17" });
  });

  it("serves many clients at once and streams changes to subscribers", async () => {
    const { socket } = await daemon();
    const seen: Array<Record<string, unknown>> = [];
    const sub = await subscribe(socket, (m) => seen.push(m));
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => request(socket, { id: i, cmd: "status" })),
    );
    expect(answers.map((a) => a["id"])).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await request(socket, { cmd: "login" });
    await expect.poll(() => seen.filter((m) => m["event"] === "status.changed").length).toBe(1);
    expect(seen.find((m) => m["event"] === "status.changed")).toMatchObject({
      status: "available",
      previous_status: "logged_out",
      origin: "control",
    });
    expect(seen.filter((m) => m["event"] === "state").at(-1)).toMatchObject({
      presence: { status: "available" },
    });
    sub.close();
  });

  it("refuses to start a second daemon on a live socket, and replaces a stale one", async () => {
    const { socket } = await daemon();
    const second = new ControlServer({ socket, agent: { id: "x", name: null }, log: silentLogger });
    await expect(second.start(() => ({ ok: true }))).rejects.toThrow(/another daemon is listening/);
    await runner?.stop();
    runner = undefined;
    const again = new ControlServer({ socket, agent: { id: "x", name: null }, log: silentLogger });
    await again.start(() => ({ ok: true }));
    await again.stop();
  });

  it("the client explains an absent daemon", async () => {
    await expect(request("/nonexistent/cuffia.sock", { cmd: "status" })).rejects.toBeInstanceOf(
      NoDaemonError,
    );
    await expect(request("/nonexistent/cuffia.sock", { cmd: "status" })).rejects.toThrow(
      /is the daemon running/,
    );
  });
});
