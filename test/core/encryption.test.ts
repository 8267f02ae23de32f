/**
 * Whether a call is encrypted, from the SIP side's `call_answered` to what everyone sees: the
 * `call.answered` event, the presence document's `call` (also `ctl status`), and the LCD's mark
 * when a call is clear while the policy prefers SRTP.
 */
import { describe, expect, it } from "vitest";
import { step } from "../../src/core/desk.js";
import { presenceDocument } from "../../src/core/presence-document.js";
import type { CallEncryption, DeskState } from "../../src/core/types.js";
import { screen } from "../../src/lcd/screens.js";
import { SAMPLE_NOW } from "../../src/lcd/situations.js";
import { baseState, sampleCall } from "../samples.js";

const ringing = (over: Partial<DeskState> = {}): DeskState =>
  baseState(SAMPLE_NOW, {
    line: { kind: "ringing", since: SAMPLE_NOW - 3000, call: sampleCall(SAMPLE_NOW) },
    ...over,
  });

function answer(state: DeskState, encryption?: CallEncryption) {
  return step(
    state,
    { type: "call_answered", callId: "c1", ...(encryption ? { encryption } : {}) },
    SAMPLE_NOW,
  );
}

const lcd = (s: DeskState) =>
  screen(s, { language: "en", cols: 20, rows: 4, now: SAMPLE_NOW + 5000, agentName: null });

describe("call encryption reported", () => {
  it.each<[CallEncryption | undefined, CallEncryption | null]>([
    ["sdes", "sdes"],
    ["dtls", "dtls"],
    ["none", "none"],
    [undefined, null],
  ])("answered with %s: call.answered and the presence document say %s", (given, said) => {
    const r = answer(ringing(), given);
    const event = r.effects.find((e) => e.type === "event");
    expect(event?.type === "event" && event.event.type === "call.answered" && event.event.encryption).toBe(
      said,
    );
    expect(presenceDocument(r.state, { id: "d", name: null }, SAMPLE_NOW).call?.encryption).toBe(said);
  });

  it("ringing: not known yet (null)", () => {
    expect(presenceDocument(ringing(), { id: "d", name: null }, SAMPLE_NOW).call?.encryption).toBeNull();
  });

  it("the LCD marks a clear call while the policy prefers SRTP, not an encrypted one nor under `off`", () => {
    const clear = answer(ringing(), "none").state;
    expect(lcd(clear)[0]).toMatch(/^UNSECURED\s+0:0\d$/);
    expect(lcd(answer(ringing(), "sdes").state)[0]).not.toMatch(/UNSECURED/);
    const off = answer(ringing({ policy: { ...baseState().policy, encryption: "off" } }), "none").state;
    expect(lcd(off)[0]).not.toMatch(/UNSECURED/);
  });
});

describe("a re-INVITE that changes the protection (call_encryption)", () => {
  it("updates the call the views show, on an answered call only", () => {
    const clear = answer(ringing(), "none").state;
    const r = step(clear, { type: "call_encryption", callId: "c1", encryption: "sdes" }, SAMPLE_NOW + 1000);
    expect(presenceDocument(r.state, { id: "d", name: null }, SAMPLE_NOW).call?.encryption).toBe("sdes");
    expect(lcd(r.state)[0]).not.toMatch(/UNSECURED/);
    expect(r.effects).toEqual([]);
    // Another call's report, or one while ringing, changes nothing.
    expect(step(clear, { type: "call_encryption", callId: "zz", encryption: "sdes" }, SAMPLE_NOW).state).toBe(
      clear,
    );
    const ring = ringing();
    expect(step(ring, { type: "call_encryption", callId: "c1", encryption: "sdes" }, SAMPLE_NOW).state).toBe(
      ring,
    );
  });

  it("a report that changes nothing (the SIP side reports after every offer/answer, e.g. a hold) leaves the state as it is", () => {
    const sdes = answer(ringing(), "sdes").state;
    const r = step(sdes, { type: "call_encryption", callId: "c1", encryption: "sdes" }, SAMPLE_NOW + 1000);
    expect(r.state).toBe(sdes);
    expect(r.effects).toEqual([]);
  });
});
