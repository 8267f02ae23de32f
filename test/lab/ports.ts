/**
 * Free loopback ports for the things tests start (baresip instances, daemons under test).
 *
 * Layout on this machine, chosen so that labs of several developers can run side by side:
 *   25000–29999  Kamailio labs (base + 0..23, bases 100 apart; see kamailio.ts)
 *   30000–32767  handed out here (below Linux's ephemeral range 32768–60999)
 *   10000–20000  baresip RTP (rtp_ports in baresip.ts)
 * A port is handed out only after a test bind of both UDP and TCP succeeds, and never twice
 * by one process. The start of the scan depends on the pid, so two test processes rarely probe
 * the same ports.
 */
import { createSocket } from "node:dgram";
import { createServer } from "node:net";

export const LOOPBACK = "127.0.0.1";

const RANGE_START = 30_000;
const RANGE_END = 32_767;

let cursor = RANGE_START + ((process.pid * 97) % (RANGE_END - RANGE_START - 100));
const handedOut = new Set<number>();

function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: LOOPBACK, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Whether a UDP `port` can be bound on loopback right now (i.e. nobody holds it). */
export function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    socket.once("error", () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, LOOPBACK, () => socket.close(() => resolve(true)));
  });
}

/** True when `port` can be bound on 127.0.0.1 for both UDP and TCP right now. */
export async function isPortFree(port: number): Promise<boolean> {
  return (await tcpFree(port)) && (await udpFree(port));
}

/**
 * The first of `count` consecutive ports that are free for UDP and TCP on 127.0.0.1.
 * baresip needs 2 (SIP, and SIP+1 for its TLS listener).
 */
export async function freePorts(count = 1): Promise<number> {
  for (let attempt = 0; attempt < 2000; attempt++) {
    if (cursor + count > RANGE_END) cursor = RANGE_START;
    const first = cursor;
    cursor += count;
    let ok = true;
    for (let p = first; p < first + count && ok; p++) {
      ok = !handedOut.has(p) && (await isPortFree(p));
    }
    if (ok) {
      for (let p = first; p < first + count; p++) handedOut.add(p);
      return first;
    }
  }
  throw new Error(`no ${count} consecutive free ports in ${RANGE_START}-${RANGE_END}`);
}

/** One free port (UDP and TCP). */
export function freePort(): Promise<number> {
  return freePorts(1);
}

/** A port for `startBaresip({ port })`: it and the next one (baresip's TLS listener) are free. */
export function baresipPort(): Promise<number> {
  return freePorts(2);
}
