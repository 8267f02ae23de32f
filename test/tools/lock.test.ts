import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs tool without types
import { missingOptionals, platformOf } from "./lock-platforms.mjs";

describe("package-lock.json", () => {
  it("lists every optional platform package, or npm ci refuses it on a fresh machine", () => {
    const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
    expect(missingOptionals(lock)).toEqual([]);
  });

  it("knows the platform of a package from its name", () => {
    expect(platformOf("@biomejs/cli-linux-arm64-musl")).toEqual({
      os: ["linux"],
      cpu: ["arm64"],
      libc: ["musl"],
    });
    expect(platformOf("@biomejs/cli-darwin-x64")).toEqual({ os: ["darwin"], cpu: ["x64"] });
    expect(platformOf("left-pad")).toBeNull();
  });
});
