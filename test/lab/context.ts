/**
 * What the integration global setup (global-setup.ts) hands to test files through vitest's
 * provide/inject:
 *
 *   import { inject } from "vitest";
 *   const lab = inject("lab");
 *   const kamailio = labKamailio(lab); // from ./kamailio.js — rpc, registrations, baresip peers
 */
import type { LabKamailioInfo } from "./kamailio.js";

export type { LabKamailioInfo };

export interface LabMosquittoInfo {
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  readonly tlsPort: number | null;
  readonly caFile: string | null;
  readonly dir: string;
}

export interface LabInfo {
  readonly kamailio: LabKamailioInfo;
  readonly mosquitto: LabMosquittoInfo;
  /** The lab's root directory (logs of every process are below it). */
  readonly dir: string;
}

declare module "vitest" {
  interface ProvidedContext {
    lab: LabInfo;
  }
}
