/** Transition 1's events (issue 11): the call a killed run left open, and the restart's pause. */
import { describe, expect, it } from "vitest";
import { currentCall } from "../../src/core/derive.js";
import { initialState, step } from "../../src/core/desk.js";
import type { OpenCallRecord } from "../../src/core/types.js";
import { samplePolicy } from "../samples.js";

const t0 = Date.parse("2026-12-05T10:00:00Z");
const open: OpenCallRecord = {
  id: "c1",
  direction: "inbound",
  number: "+390612345",
  queue: "sociale",
  offeredAt: t0,
  answeredAt: t0 + 5_000,
  aliveAt: t0 + 65_000,
};

describe("desk_restarted", () => {
  it("ends the open call with desk_restart, its times ending at the last sign of life", () => {
    const s = initialState(samplePolicy, t0 + 600_000, { status: "available", reason: null });
    const r = step(
      s,
      { type: "desk_restarted", previous: { status: "available", reason: null }, openCall: open },
      t0 + 600_000,
    );
    const events = r.effects.filter((e) => e.type === "event").map((e) => e.event);
    expect(events[0]).toMatchObject({
      type: "call.ended",
      call_id: "c1",
      direction: "inbound",
      number: "+390612345",
      queue: "sociale",
      end_reason: "desk_restart",
      duration: 65,
      talk_time: 60,
    });
    expect(events[1]).toEqual({
      type: "status.changed",
      status: "paused",
      reason: "restart",
      previous_status: "available",
      previous_reason: null,
      origin: "policy",
    });
    expect(r.effects).toContainEqual({ type: "persist_status", status: "paused", reason: "restart" });
    expect(currentCall(r.state)).toBeNull();
  });

  it("says nothing when the status did not change and no call was open", () => {
    const s = initialState(samplePolicy, t0, { status: "paused", reason: "lunch" });
    const r = step(
      s,
      { type: "desk_restarted", previous: { status: "paused", reason: "lunch" }, openCall: null },
      t0,
    );
    expect(r.effects).toEqual([]);
  });

  it("starts seq where the earlier runs left off so presence seq grows across restarts", () => {
    expect(initialState(samplePolicy, t0, null, 20_043).seq).toBe(20_043);
  });
});
