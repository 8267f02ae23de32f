import { existsSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import setup from "./tmp-root.js";

// Each call of setup() below plays one project's global setup inside this worker: the worker's
// own TMPDIR (the run directory of this run) is the parent, as for a nested run.
const outer = process.env.TMPDIR;
const keep = process.env.CUFFIA_KEEP_TMP;

afterEach(() => {
  process.env.TMPDIR = outer;
  if (keep === undefined) delete process.env.CUFFIA_KEEP_TMP;
  else process.env.CUFFIA_KEEP_TMP = keep;
  vi.restoreAllMocks();
});

describe("the run's temporary directory (test/tmp-root.ts)", () => {
  it("is where this test's temporary files go", () => {
    expect(outer).toBeDefined();
    expect(tmpdir()).toBe(outer);
    expect(basename(tmpdir())).toMatch(/^cuffia-test-/);
    expect(existsSync(tmpdir())).toBe(true);
  });

  it("is made once for several projects and removed after the last teardown", async () => {
    delete process.env.CUFFIA_KEEP_TMP;
    const first = await setup();
    const dir = process.env.TMPDIR as string;
    expect(dirname(dir)).toBe(outer);
    expect(basename(dir)).toMatch(/^cuffia-test-/);
    const second = await setup();
    expect(process.env.TMPDIR).toBe(dir);
    await writeFile(join(tmpdir(), "left-by-a-test"), "x");

    await second();
    expect(existsSync(join(dir, "left-by-a-test"))).toBe(true);
    await second(); // a teardown called twice counts once
    expect(existsSync(dir)).toBe(true);
    await first();
    expect(existsSync(dir)).toBe(false);
    expect(process.env.TMPDIR).toBe(outer);
  });

  it("is kept, and its path printed, with CUFFIA_KEEP_TMP=1", async () => {
    process.env.CUFFIA_KEEP_TMP = "1";
    const said: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      said.push(String(chunk));
      return true;
    });
    const teardown = await setup();
    const dir = process.env.TMPDIR as string;
    try {
      await teardown();
      expect(existsSync(dir)).toBe(true);
      expect(said.join("")).toContain(`kept in ${dir}`);
      expect(process.env.TMPDIR).toBe(outer);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
