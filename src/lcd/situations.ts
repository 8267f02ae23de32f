/**
 * Sample desk states, one per situation the LCD distinguishes: what `cuffia lcd preview` and the
 * README's gallery show (tests draw their own desks from test/samples.ts).
 */
import type { Call, DeskState, Health, Line, Policy, QueueSummary } from "../core/types.js";

export const SITUATIONS = [
  "logged-out",
  "available",
  "available-empty",
  "queues-unknown",
  "paused",
  "wrap-up",
  "ringing",
  "ringing-arabic",
  "on-call",
  "on-call-muted",
  "on-call-unencrypted",
  "on-hold",
  "outbound",
  "not-responding",
  "not-registered",
  "no-headset",
  "switchboard-down",
] as const;
export type Situation = (typeof SITUATIONS)[number];

/** A fixed instant so previews and goldens never depend on the wall clock. */
export const SAMPLE_NOW = Date.UTC(2025, 2, 3, 9, 41, 30);

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

export function sampleState(situation: Situation, now = SAMPLE_NOW): DeskState {
  const talking = (over: Partial<Call> = {}, local: "off" | "held" = "off"): { line: Line } => {
    const call = sampleCall(now, { answeredAt: now - 205_000, offeredAt: now - 210_000, ...over });
    return { line: { kind: "on_call", since: now - 60_000, call, hold: { local, remote: false } } };
  };
  const ringing = (call: Call): { line: Line } => ({ line: { kind: "ringing", since: now - 60_000, call } });
  switch (situation) {
    case "logged-out":
      return baseState(now, { status: "logged_out" });
    case "available":
      return baseState(now);
    case "available-empty":
      return baseState(now, { queues: { ...sampleQueues(now), waiting: 0, longestWait: 0, byLanguage: {} } });
    case "queues-unknown":
      return baseState(now, { queues: null });
    case "paused":
      return baseState(now, { status: "paused", reason: "training", statusSince: now - 725_000 });
    case "wrap-up":
      return baseState(now, { line: { kind: "wrap_up", until: now + 24_200, since: now - 5_800 } });
    case "ringing":
      return baseState(now, ringing(sampleCall(now)));
    case "ringing-arabic":
      return baseState(
        now,
        ringing(
          sampleCall(now, {
            number: "0612345678",
            language: "العربية",
            service: "Servizi sociali",
            queue: "casa",
          }),
        ),
      );
    case "on-call":
      return baseState(now, talking());
    case "on-call-muted":
      return baseState(now, talking({ muted: true }));
    case "on-call-unencrypted":
      return baseState(now, talking({ encryption: "none" }));
    case "on-hold":
      return baseState(now, talking({}, "held"));
    case "outbound": {
      const call = sampleCall(now, {
        direction: "outbound",
        number: "2001",
        language: null,
        service: null,
        queue: null,
        offeredAt: now - 7_000,
      });
      return baseState(now, { line: { kind: "outbound", since: now - 60_000, call } });
    }
    case "not-responding":
      return baseState(now, { line: { kind: "not_responding", since: now - 60_000 }, missed: 1 });
    case "not-registered":
      return baseState(now, { health: { ...sampleHealth, sip: "failed", sipReason: "403 Forbidden" } });
    case "no-headset":
      return baseState(now, { health: { ...sampleHealth, headset: false } });
    case "switchboard-down":
      return baseState(now, { health: { ...sampleHealth, mqtt: false }, queues: null });
  }
}
