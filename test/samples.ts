/**
 * Test data: a policy, health, queues, a call and a desk built from them. The LCD's situations
 * (src/lcd/situations.ts, what `cuffia lcd preview` shows) use the same instant and figures.
 */
import type { Call, DeskState, Health, Policy, QueueSummary } from "../src/core/types.js";
import { SAMPLE_NOW } from "../src/lcd/situations.js";

export const samplePolicy: Policy = {
  wrapUpSeconds: 30,
  pauseReasons: ["break", "training", "back_office"],
  autoPauseAfterMissed: 2,
  ringTimeoutSeconds: 20,
  notRespondingSeconds: 10,
  autoAnswer: false,
  transferTargets: {},
  idleHookOff: { action: "ignore" },
  sides: { sip: true, headset: true, lcd: true, mqtt: true },
};

export const sampleHealth: Health = {
  sip: "registered",
  sipReason: null,
  headset: true,
  lcd: true,
  mqtt: true,
  faults: {},
};

export function sampleQueues(now = SAMPLE_NOW): QueueSummary {
  // 72 s when published, 13 s ago: the LCD shows 1:25.
  return {
    waiting: 3,
    longestWait: 72,
    availableAgents: 2,
    byLanguage: { it: 1, fr: 1, ar: 1 },
    receivedAt: now - 13_000,
  };
}

export function sampleCall(now = SAMPLE_NOW, over: Partial<Call> = {}): Call {
  return {
    id: "c1",
    direction: "inbound",
    number: "+393331234567",
    displayName: null,
    queue: "sociale",
    language: "fr",
    service: "Anagrafe",
    offeredAt: now - 4_000,
    answeredAt: null,
    muted: false,
    transferTarget: null,
    ...over,
  };
}

/** An available, idle, healthy desk (overridden by `over`). */
export function baseState(now = SAMPLE_NOW, over: Partial<DeskState> = {}): DeskState {
  return {
    status: "available",
    reason: null,
    statusSince: now - 3_600_000,
    line: { kind: "idle", since: now - 60_000 },
    pending: null,
    missed: 0,
    queues: sampleQueues(now),
    health: sampleHealth,
    seq: 1,
    policy: samplePolicy,
    ...over,
  };
}
