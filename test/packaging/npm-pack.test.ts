// What `npm pack` (and so `npm publish`) puts in the tarball: the daemon, never its lab or demo.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { LAB_OR_DEMO_PATH, labAndDemoNames, labOrDemoDefinitions } from "./lab-and-demo.js";

const REPO = resolve(import.meta.dirname, "..", "..");

describe("npm pack", () => {
  it("contains neither lab nor demo code", () => {
    // The tarball takes dist/ as it is: it must be a build of this tree (npm run build).
    expect(existsSync(join(REPO, "dist", "cli.js")), "dist/ is missing: run npm run build first").toBe(true);
    const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
      cwd: REPO,
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    const [pack] = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>;
    const paths = pack!.files.map((f) => f.path);
    expect(paths).toContain("dist/cli.js");
    expect(paths).toContain("dist/wiring.js");
    expect(paths.filter((p) => LAB_OR_DEMO_PATH.test(p))).toEqual([]);

    const names = labAndDemoNames();
    expect(names).toEqual(expect.arrayContaining(["startKamailio", "startBaresip", "runDemo"]));
    const found = paths
      .filter((p) => p.endsWith(".js"))
      .flatMap((p) =>
        labOrDemoDefinitions(readFileSync(join(REPO, p), "utf8"), names).map((n) => `${p}: ${n}`),
      );
    expect(found).toEqual([]);
  });

  it("the check finds lab code when it is there (the demo's own build)", () => {
    const demo = join(REPO, "test", "demo-app", "dist", "test", "demo-app", "main.js");
    expect(existsSync(demo), "the demo's build is missing: run npm run build first").toBe(true);
    expect(labOrDemoDefinitions(readFileSync(demo, "utf8"), labAndDemoNames())).toContain("runDemo");
    expect(LAB_OR_DEMO_PATH.test("dist/lab/kamailio.js")).toBe(true);
    expect(LAB_OR_DEMO_PATH.test("dist/demo/main.js")).toBe(true);
    expect(LAB_OR_DEMO_PATH.test("dist/headset/telephony-map.js")).toBe(false);
  });
});
