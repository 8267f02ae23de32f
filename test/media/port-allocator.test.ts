import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PortAllocator } from "../../src/media/port-allocator.js";
import { udpFree as free } from "../lab/ports.js";

const until = async (what: () => Promise<boolean>) => {
  for (let i = 0; i < 100 && !(await what()); i++) await new Promise((r) => setTimeout(r, 10));
};

describe("PortAllocator", () => {
  it("binds the next pair ahead of the call and hands it out, even/odd, round-robin", async () => {
    const ports = new PortAllocator("127.0.0.1", 36000, 36005); // pairs 36000, 36002, 36004
    ports.prepareSpare();
    // the spare is bound before anyone asks: its RTP and RTCP ports are taken
    let held: number[] = [];
    await until(async () => {
      held = [];
      for (const p of [36000, 36002, 36004]) if (!(await free(p))) held.push(p);
      return held.length === 1;
    });
    expect(held.length).toBe(1);
    const a = await ports.allocate();
    expect(a.port).toBe(held[0]);
    expect(await free(a.port + 1)).toBe(false); // RTCP on the odd port
    const b = await ports.allocate();
    const c = await ports.allocate();
    expect(new Set([a.port, b.port, c.port])).toEqual(new Set([36000, 36002, 36004]));
    expect([b.port, c.port]).toEqual([
      36000 + ((a.port - 36000 + 2) % 6),
      36000 + ((a.port - 36000 + 4) % 6),
    ]);
    await expect(ports.allocate()).rejects.toThrow(/no free RTP port pair in 36000-36005/);
    await b.release();
    expect((await ports.allocate()).port).toBe(b.port);
    await Promise.all([a.release(), c.release()]);
    await ports.close();
  });

  it("close() frees the spare; allocate() then refuses", async () => {
    const ports = new PortAllocator("127.0.0.1", 36010, 36011);
    ports.prepareSpare();
    await until(async () => !(await free(36010)));
    expect(await free(36010)).toBe(false);
    await ports.close();
    expect(await free(36010)).toBe(true);
    expect(await free(36011)).toBe(true);
    await expect(ports.allocate()).rejects.toThrow(/closed/);
  });

  it("a spare waiting for a call never keeps the process alive", () => {
    const script = `
      import { PortAllocator } from ${JSON.stringify(join(import.meta.dirname, "..", "..", "dist", "media", "port-allocator.js"))};
      const ports = new PortAllocator("127.0.0.1", 36020, 36021);
      ports.prepareSpare();
      setTimeout(() => console.log("still here"), 100);
    `;
    const started = Date.now();
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 10_000,
    });
    expect(out.trim()).toBe("still here");
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
