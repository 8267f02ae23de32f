/** The demo's keyboard headset. */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type { DeskInput } from "../../src/core/types.js";
import { ALL_OFF, type Indicators } from "../../src/headset/indicators.js";
import { KeyboardHeadset } from "../../src/headset/keyboard-headset.js";
import { silentLogger } from "../../src/log/logger.js";
import { desk } from "./helpers.js";

describe("KeyboardHeadset", () => {
  it("keys become buttons; the hook follows its own level and the host's Off-Hook", async () => {
    const input = new PassThrough();
    let interrupted = 0;
    const kb = new KeyboardHeadset({ input, log: silentLogger, onInterrupt: () => interrupted++ });
    const got: DeskInput[] = [];
    await kb.start((i) => {
      got.push(i);
      return { ok: true };
    });
    expect(got).toEqual([{ type: "health", side: "headset", up: true }]);
    const shown: Indicators[] = [];
    kb.onChange = (ind) => shown.push(ind);
    const press = async (keys: string) => {
      input.write(keys);
      await new Promise((r) => setImmediate(r));
    };
    kb.project(desk("ringing"));
    await press(" ");
    kb.project(desk("on_call"));
    await press("mfxrpu\u0003");
    await press("h");
    kb.project(desk("idle"));
    kb.project(desk("on_call")); // e.g. answered from the CLI
    kb.project(desk("wrap_up")); // far end hung up: the key's level follows
    await press("H");
    const buttons = got.flatMap((i) => (i.type === "button" ? [i.button] : []));
    expect(buttons).toEqual(["hook_off", "mute", "flash", "reject", "pause", "ready", "hook_on", "hook_off"]);
    expect(interrupted).toBe(1);
    expect(shown).toEqual([
      { ...ALL_OFF, ring: true },
      { ...ALL_OFF, offHook: true },
      ALL_OFF,
      { ...ALL_OFF, offHook: true },
      ALL_OFF,
    ]);
    expect(kb.indicators).toEqual(ALL_OFF);
    await kb.stop();
    await press(" ");
    expect(got.filter((i) => i.type === "button")).toHaveLength(8);
  });
});
