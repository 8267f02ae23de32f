/**
 * The host sockets of DTLS calls (ICE host candidates, rtcp-mux: one socket per host address),
 * bound ahead like the plain calls' RTP pairs: answering a DTLS call hands out sockets already
 * bound, and the next call's are bound after it (PortAllocator's spare). One allocator per
 * `rtp.ice.host_addresses` entry, each socket bound to its own address in rtp.port_min..port_max,
 * handed out round-robin (a port just freed is not reused at once). Without this, werift-ice
 * looked for a free port from port_min up at every call, binding and closing a probe socket per
 * taken port, all before the 200 OK.
 *
 * The allocator binds even/odd pairs; a DTLS call needs the even port only, so the odd one is
 * closed at hand-out (its number stays reserved until the call's sockets are released).
 * The plain RTP pairs are not touched: a DTLS call takes none.
 */
import type { Socket } from "node:dgram";
import { PortAllocator } from "./port-allocator.js";

export interface HostSocket {
  /** The host address the socket is bound to (the candidate's address). */
  readonly address: string;
  readonly socket: Socket;
  /** Closes the socket (if its user did not) and frees its port. Idempotent. */
  release(): Promise<void>;
}

export class IceHostSockets {
  private readonly allocators: ReadonlyArray<readonly [string, PortAllocator]>;

  constructor(hostAddresses: readonly string[], portMin: number, portMax: number) {
    this.allocators = hostAddresses.map((a) => [a, new PortAllocator(a, portMin, portMax)] as const);
  }

  /** Binds the next call's sockets now (idempotent), e.g. once the desk knows it may take DTLS calls. */
  prepare(): void {
    for (const [, ports] of this.allocators) ports.prepareSpare();
  }

  /**
   * One bound socket per host address, in the configured order (a spare if one is ready, else
   * bound now); the next ones are bound right after. Nothing is kept when one address fails.
   */
  async take(): Promise<HostSocket[]> {
    const taken = await Promise.allSettled(
      this.allocators.map(async ([address, ports]) => {
        const pair = await ports.allocate();
        pair.rtcp.close(); // rtcp-mux: one component
        return { address, socket: pair.rtp, release: () => pair.release() };
      }),
    );
    const failed = taken.find((t): t is PromiseRejectedResult => t.status === "rejected");
    const sockets = taken.flatMap((t) => (t.status === "fulfilled" ? [t.value] : []));
    if (failed) {
      await Promise.all(sockets.map((s) => s.release()));
      throw failed.reason;
    }
    return sockets;
  }

  /** Releases the spares; sockets handed out are their calls' to release. */
  async close(): Promise<void> {
    await Promise.all(this.allocators.map(([, ports]) => ports.close()));
  }
}
