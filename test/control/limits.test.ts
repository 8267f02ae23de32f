/**
 * The control socket's limits (issue 11): a cap on concurrent clients, one error line and a close
 * for an over-long line, a 0750 folder when the daemon creates it. Real Unix sockets throughout;
 * `cuffia ctl` is the built command run as a process.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, statSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { request } from "../../src/control/control-client.js";
import { ControlServer, DEFAULT_IDLE_MS, DEFAULT_MAX_CLIENTS } from "../../src/control/control-server.js";
import { MAX_LINE } from "../../src/control/protocol.js";
import { initialState } from "../../src/core/desk.js";
import { Runner } from "../../src/core/runner.js";
import { silentLogger } from "../../src/log/logger.js";
import { samplePolicy } from "../samples.js";

const BIN = resolve("dist/cli.js");
const run = promisify(execFile);

let runner: Runner | undefined;
const open: Socket[] = [];
const errors: string[] = [];
afterEach(async () => {
  errors.length = 0;
  for (const s of open.splice(0)) s.destroy();
  await runner?.stop();
  runner = undefined;
});

async function daemon(o: { maxClients?: number; socket?: string; idleMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "cuffia-ctl-limits-"));
  const socket = o.socket ?? join(dir, "control.sock");
  runner = new Runner({
    initial: initialState(
      { ...samplePolicy, sides: { sip: false, headset: false, lcd: false, mqtt: false } },
      Date.now(),
    ),
    log: silentLogger,
  });
  runner.add(
    new ControlServer({
      socket,
      agent: { id: "desk-17", name: null },
      log: silentLogger,
      ...(o.maxClients !== undefined ? { maxClients: o.maxClients } : {}),
      ...(o.idleMs !== undefined ? { idleMs: o.idleMs } : {}),
    }),
  );
  await runner.start();
  return { socket, dir };
}

/** A client that connects, sends `data` and collects every line until the server closes. */
function client(
  socket: string,
  data?: string,
): { sock: Socket; lines: string[]; closed: Promise<void>; connected: Promise<void> } {
  const sock = createConnection(socket);
  open.push(sock);
  const lines: string[] = [];
  let buf = "";
  sock.setEncoding("utf8");
  sock.on("data", (c: string) => {
    buf += c;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  // EPIPE/ECONNRESET while the server closes are expected here; kept to assert on the others.
  sock.on("error", (e) => errors.push((e as NodeJS.ErrnoException).code ?? e.message));
  const connected = new Promise<void>((res) => sock.once("connect", () => res()));
  const closed = new Promise<void>((res) => sock.once("close", () => res()));
  if (data !== undefined) sock.write(data);
  return { sock, lines, closed, connected };
}

describe("control.max_clients", () => {
  it("defaults to 32", () => {
    expect(parseConfig("", "c.yaml", { env: {} }).config.control.max_clients).toBe(32);
    expect(DEFAULT_MAX_CLIENTS).toBe(32);
  });

  it("a client over the cap gets one error line and is closed; the others are served", async () => {
    const { socket } = await daemon({ maxClients: 4 });
    const idle = Array.from({ length: 4 }, () => client(socket));
    await Promise.all(idle.map((c) => c.connected));
    // The server counts a client when it accepts it: the status answers prove all 4 are in.
    for (const c of idle) c.sock.write('{"id":"s","cmd":"status"}\n');
    await expect.poll(() => idle.every((c) => c.lines.length === 1)).toBe(true);

    const extra = client(socket);
    await extra.closed;
    expect(extra.lines.map((l) => JSON.parse(l))).toEqual([
      {
        id: null,
        ok: false,
        error: { code: "too_many_clients", message: expect.stringContaining("control.max_clients") },
      },
    ]);
    // ctl's client reports it as the daemon's answer (exit 1), not as "no daemon" (exit 69).
    expect(await request(socket, { cmd: "status" })).toMatchObject({
      ok: false,
      error: { code: "too_many_clients" },
    });

    for (const c of idle) c.sock.write('{"id":"again","cmd":"status"}\n');
    await expect.poll(() => idle.every((c) => c.lines.length === 2)).toBe(true);
    expect(JSON.parse(idle[0]?.lines[1] ?? "{}")).toMatchObject({ id: "again", ok: true });

    idle[0]?.sock.destroy();
    await idle[0]?.closed;
    await expect.poll(async () => (await request(socket, { cmd: "status" }))["ok"]).toBe(true);
  });

  // Regression: ~1,000 idle connections exhausted the descriptors and new `ctl` clients failed.
  it("ctl works after 1,000 idle connections were opened and closed", async () => {
    const { socket } = await daemon();
    const all: Array<ReturnType<typeof client>> = [];
    for (let batch = 0; batch < 10; batch++) {
      all.push(...Array.from({ length: 100 }, () => client(socket)));
      // Beyond the cap, the server closes each one itself after one error line. Waiting for it
      // batch by batch keeps the listen backlog from filling (connect would fail with EAGAIN).
      const refused = Math.max(0, all.length - DEFAULT_MAX_CLIENTS);
      await expect.poll(() => all.filter((c) => c.sock.destroyed).length).toBe(refused);
    }
    expect(errors.filter((e) => e === "EAGAIN")).toEqual([]);
    for (const c of all.filter((x) => x.sock.destroyed)) expect(c.lines).toHaveLength(1);
    for (const c of all) c.sock.destroy();
    await Promise.all(all.map((c) => c.closed));

    await expect.poll(async () => (await request(socket, { cmd: "status" }))["ok"]).toBe(true);
    const r = await run(process.execPath, [BIN, "ctl", "status", "--socket", socket], { timeout: 20_000 });
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, agent: "desk-17" });
  });
});

describe("idle clients", () => {
  it("clients that hold the places and say nothing are closed; subscribers stay; ctl gets in", async () => {
    // long enough that the cap is still full when the newcomer below asks, even on a loaded machine
    const { socket } = await daemon({ maxClients: 3, idleMs: 2000 });
    const subscriber = client(socket, '{"id":"sub","cmd":"subscribe"}\n');
    const idle = [client(socket), client(socket)];
    await Promise.all([subscriber.connected, ...idle.map((c) => c.connected)]);
    await expect.poll(() => subscriber.lines.length).toBeGreaterThanOrEqual(1);
    // the cap is reached: a newcomer is refused while the idle ones hold their places
    expect(await request(socket, { cmd: "status" })).toMatchObject({ error: { code: "too_many_clients" } });
    await Promise.all(idle.map((c) => c.closed));
    for (const c of idle)
      expect(c.lines.map((l) => JSON.parse(l))).toEqual([
        { id: null, ok: false, error: { code: "idle", message: expect.stringContaining("closing") } },
      ]);
    expect(await request(socket, { cmd: "status" })).toMatchObject({ ok: true });
    await new Promise((r) => setTimeout(r, 2500)); // past the idle time: the subscriber stays
    expect(subscriber.sock.destroyed).toBe(false);
  });

  it("defaults to a minute", () => {
    expect(DEFAULT_IDLE_MS).toBe(60_000);
  });
});

describe("over-long lines", () => {
  // Regression: a 10 MB line yielded 88 error lines.
  it("a 10 MB line without newline: exactly one error line, then the connection is closed", async () => {
    const { socket } = await daemon();
    const c = client(socket, "x".repeat(10 * 1024 * 1024));
    await c.closed;
    expect(c.lines).toHaveLength(1);
    expect(JSON.parse(c.lines[0] ?? "")).toEqual({
      id: null,
      ok: false,
      error: { code: "line_too_long", message: `line longer than ${MAX_LINE} bytes: closing` },
    });
    expect((await request(socket, { cmd: "status" }))["ok"]).toBe(true);
  });

  it("a complete line over the limit is refused the same way; what follows it is not answered", async () => {
    const { socket } = await daemon();
    const c = client(socket, `${"x".repeat(MAX_LINE + 10)}\n{"id":2,"cmd":"status"}\n`);
    await c.closed;
    expect(c.lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ error: expect.objectContaining({ code: "line_too_long" }) }),
    ]);
  });

  it("a line just under the limit is answered", async () => {
    const { socket } = await daemon();
    const pad = "x".repeat(MAX_LINE - 60);
    const c = client(socket, `{"id":3,"cmd":"status","pad":"${pad}"}\n`);
    await expect.poll(() => c.lines.length).toBe(1);
    expect(JSON.parse(c.lines[0] ?? "")).toMatchObject({ id: 3, ok: true });
  });
});

describe("the socket's folder", () => {
  it("created by the daemon: 0750 down to the socket's own folder; the socket 0660", async () => {
    const base = mkdtempSync(join(tmpdir(), "cuffia-ctl-dir-"));
    const socket = join(base, "run", "cuffia", "control.sock");
    await daemon({ socket });
    expect(statSync(join(base, "run")).mode & 0o777).toBe(0o750);
    expect(statSync(join(base, "run", "cuffia")).mode & 0o777).toBe(0o750);
    expect(statSync(socket).mode & 0o777).toBe(0o660);
  });

  it("an existing folder keeps its mode (systemd's RuntimeDirectory=)", async () => {
    const base = mkdtempSync(join(tmpdir(), "cuffia-ctl-dir-"));
    mkdirSync(join(base, "rt"), { mode: 0o770 });
    const before = statSync(join(base, "rt")).mode & 0o777;
    await daemon({ socket: join(base, "rt", "control.sock") });
    expect(statSync(join(base, "rt")).mode & 0o777).toBe(before);
  });
});
