/** The core's policy drawn from the config (replaced on reload). */
import type { Policy } from "../core/types.js";
import type { Config } from "./schema.js";

export function policyFromConfig(c: Config): Policy {
  const hook = c.headset?.idle_hook_off;
  return {
    wrapUpSeconds: c.policy.wrap_up_seconds,
    pauseReasons: c.policy.pause_reasons,
    autoPauseAfterMissed: c.policy.auto_pause_after_missed,
    ringTimeoutSeconds: c.policy.ring_timeout_seconds,
    notRespondingSeconds: c.policy.not_responding_seconds,
    autoAnswer: c.sip?.auto_answer ?? false,
    transferTargets: c.sip?.transfer_targets ?? {},
    encryption: c.rtp.encryption,
    idleHookOff:
      hook === undefined || hook === "ignore" ? { action: "ignore" } : { action: "dial", target: hook.dial },
    sides: {
      sip: c.sip !== undefined,
      headset: c.headset !== undefined,
      lcd: c.lcd !== undefined,
      mqtt: c.mqtt !== undefined,
    },
  };
}
