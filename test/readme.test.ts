import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { configReference } from "../src/config/reference.js";
import { lcdGallery } from "../src/lcd/preview.js";

const readme = readFileSync("README.md", "utf8");
const block = (name: string): string | undefined =>
  new RegExp(`<!-- ${name}:start -->\\n([\\s\\S]*?)<!-- ${name}:end -->`).exec(readme)?.[1];

describe("README", () => {
  it("starts with the two set-up commands", () => {
    const head = readme.split("\n").slice(0, 8).join("\n");
    expect(head).toContain("npm ci && npm run demo");
    expect(head).toContain("npm ci && npm test");
  });

  it("has the config reference the schema renders (node test/tools/update-readme.mjs)", () => {
    expect(block("config-reference")).toBe(configReference().trimEnd() + "\n");
  });

  it("shows the LCD screens the code draws (node test/tools/update-readme.mjs)", () => {
    expect(block("lcd-gallery")).toBe(lcdGallery().trimEnd() + "\n");
  });
});
