/**
 * Headset buttons: each is the command it means in the current state, or nothing. A button that
 * cannot apply is noise from the device, not an error for anyone to read.
 */
import { lineCall } from "../derive.js";
import type { Command, HeadsetButton } from "../types.js";
import { command } from "./commands.js";
import type { Step } from "./step.js";

export function button(s: Step, b: HeadsetButton): void {
  const st = s.state;
  const kind = st.line.kind;
  const call = lineCall(st.line);
  const via = (c: Command): void => {
    command(s, c, "headset");
    s.error = undefined;
  };
  switch (b) {
    case "hook_off":
      if (kind === "ringing") return via({ cmd: "answer" });
      if (call || !st.policy.sides.sip) return;
      if (st.policy.idleHookOff.action === "dial")
        return via({ cmd: "dial", target: st.policy.idleHookOff.target });
      // Idle hook-off with nothing to do: push the indicators again so the headset's own
      // hook state agrees with the desk (reference/hid-telephony.md, host owns the state).
      return s.effect({ type: "headset_resync" });
    case "hook_on":
      if (call && kind !== "ringing") return via({ cmd: "hangup" });
      return;
    case "mute":
      return via({ cmd: "mute" });
    case "flash":
      if (call) return via({ cmd: "hold" });
      return;
    case "reject":
      if (kind === "ringing") return via({ cmd: "reject" });
      if (call) return via({ cmd: "hangup" });
      return;
    case "redial":
    case "programmable":
      return;
    case "pause":
      if (st.status === "available") return via({ cmd: "pause" });
      if (st.status === "paused" || st.status === "logged_out")
        return via({ cmd: st.status === "paused" ? "unpause" : "login" });
      return;
    case "ready":
      if (kind === "wrap_up" || kind === "not_responding") return via({ cmd: "ready" });
      if (st.status === "paused") return via({ cmd: "unpause" });
      if (st.status === "logged_out") return via({ cmd: "login" });
      return;
  }
}
