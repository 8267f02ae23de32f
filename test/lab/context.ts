/**
 * What the integration global setup (global-setup.ts) hands to test files through vitest's
 * provide/inject:
 *
 *   import { inject } from "vitest";
 *   const lab = inject("lab");
 *   const kamailio = labKamailio(lab); // from ./kamailio.js — rpc, registrations, baresip peers
 */
export interface LabKamailioInfo {
  readonly pid: number;
  readonly base: number;
  readonly domain: string;
  readonly udpPort: number;
  readonly tcpPort: number;
  readonly tlsPort: number;
  readonly wsPort: number;
  readonly wssPort: number;
  /** CA certificate (PEM) that signed the TLS/WSS server certificate for IP 127.0.0.1. */
  readonly caFile: string;
  readonly users: Readonly<Record<string, string>>;
  readonly dir: string;
  /** kamcmd socket, e.g. unix:/tmp/cuffia-lab-x/kamailio/run/kamailio_ctl */
  readonly ctl: string;
}

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
