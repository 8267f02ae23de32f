/**
 * `cuffia doctor`'s STUN and TURN checks against the lab's coturn on 127.0.0.1: the STUN server
 * answers with the mapped address, the TURN server accepts the right credentials (an Allocate,
 * released at once) and refuses wrong ones with 401, named with its fix. The TURN password comes
 * from a file, as the config reference says.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { doctorCommand } from "../../src/cli/doctor.js";
import { type Coturn, startCoturn } from "../lab/coturn.js";

let dir: string;
let coturn: Coturn;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cuffia-doctor-ice-"));
  coturn = await startCoturn();
  await writeFile(join(dir, "wrong.password"), "not-the-password\n");
}, 30_000);
afterAll(async () => {
  await coturn?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function doctor(passwordFile: string) {
  const file = join(dir, "desk.yaml");
  await writeFile(
    file,
    [
      "agent: { id: doctor-ice }",
      "rtp:",
      "  ice:",
      "    host_addresses: [127.0.0.1]",
      `    stun_servers: ["${coturn.host}:${coturn.port}"]`,
      "    turn_servers:",
      `      - url: "turn:${coturn.host}:${coturn.port}?transport=udp"`,
      `        username: ${coturn.username}`,
      `        password_file: ${passwordFile}`,
      `state_dir: ${join(dir, "state")}`,
      "",
    ].join("\n"),
  );
  return doctorCommand(["-c", file]);
}

describe("cuffia doctor: STUN and TURN (rtp.ice)", () => {
  it("shows the mapped address and that the TURN server accepts the credentials", async () => {
    const r = await doctor(coturn.passwordFile);
    expect(r.stdout).toMatch(
      new RegExp(
        `^✔ stun: 127\\.0\\.0\\.1:${coturn.port} answers; this box is seen as 127\\.0\\.0\\.1:\\d+$`,
        "m",
      ),
    );
    expect(r.stdout).toMatch(
      /^✔ turn: turn:127\.0\.0\.1:\d+\?transport=udp accepts \S+; relayed address 127\.0\.0\.1:\d+$/m,
    );
    expect(r.code).toBe(0);
  }, 20_000);

  it("names wrong TURN credentials (401) with the fix", async () => {
    const r = await doctor(join(dir, "wrong.password"));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^✘ turn: 127\.0\.0\.1:\d+ refuses the credentials of \S+ \(401[^\n]*\n {2}fix: check rtp\.ice\.turn_servers username and password_file$/m,
    );
    expect(r.stdout).toMatch(/^✔ stun: /m);
  }, 20_000);
});
