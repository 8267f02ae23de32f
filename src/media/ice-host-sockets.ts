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
import type { Logger } from "../log/logger.js";
// Types only: werift (ice-transport.js, dtls-certificate.js) is imported at the first DTLS call
// or when the desk prepares, never at start.
import type { IceTransport, IceTransportOptions } from "./ice-transport.js";
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

/** What IceAgents gathers each DTLS call's agent with (IceTransport.gather's, but the call's and the desk's certificate). */
export type IceAgentOptions = Omit<IceTransportOptions, "log" | "hostSockets" | "certificate">;

/**
 * Each DTLS call's ICE agent. With host candidates only (no STUN, no TURN configured) the next
 * call's agent is gathered ahead, right after a call took one (or when the desk prepares): its
 * candidates need no network round trip, so they cannot go stale while it waits, and the answer
 * only writes them. With a STUN or TURN server the agent is gathered per call on a socket bound
 * ahead: a server-reflexive address learnt ahead could be stale by the call (the home router's
 * UDP binding times out) and a TURN allocation held between calls would need refreshing; so the
 * call waits for those servers' answers, as the SDP must carry every candidate (no trickle ICE).
 */
export class IceAgents {
  private readonly sockets: IceHostSockets | null;
  private readonly ahead: boolean;
  private spare: Promise<IceTransport | null> | null = null;
  private closed = false;

  constructor(
    private readonly o: IceAgentOptions,
    private readonly log: Logger,
  ) {
    const hostCandidates = !o.relayOnly && o.hostAddresses.length > 0;
    this.sockets =
      hostCandidates && o.portRange
        ? new IceHostSockets(o.hostAddresses, o.portRange[0], o.portRange[1])
        : null;
    this.ahead = this.sockets !== null && !o.stunServer && !o.turnServer;
  }

  /** Binds (and, host-only, gathers) the next call's agent now. Idempotent. */
  prepare(): void {
    if (this.closed) return;
    this.sockets?.prepare();
    if (!this.ahead || this.spare) return;
    this.spare = this.gather(this.log).then(
      (agent) => {
        if (this.closed) {
          void agent.close();
          return null;
        }
        agent.hold(false); // an idle spare never keeps the process alive
        return agent;
      },
      (e: unknown) => {
        this.log.warn({ err: (e as Error).message }, "cannot gather the next DTLS call's ICE agent ahead");
        return null; // the call gathers its own
      },
    );
  }

  /** A call's agent: the one gathered ahead if there is one, else gathered now. */
  async take(log: Logger): Promise<IceTransport> {
    if (this.closed) throw new Error("the media factory is closed");
    const spare = this.spare;
    this.spare = null;
    const agent = (spare ? await spare : null) ?? (await this.gather(log));
    agent.adopt(log);
    agent.hold(true);
    if (this.ahead) setImmediate(() => this.prepare()); // after the call's answer has gone out
    return agent;
  }

  async close(): Promise<void> {
    this.closed = true;
    const spare = this.spare;
    this.spare = null;
    await (await spare)?.close();
    await this.sockets?.close();
  }

  private async gather(log: Logger): Promise<IceTransport> {
    const [{ IceTransport }, { deskCertificate }] = await Promise.all([
      import("./ice-transport.js"),
      import("./dtls-certificate.js"),
    ]);
    const certificate = await deskCertificate();
    return IceTransport.gather({ ...this.o, log, certificate, hostSockets: await this.sockets?.take() });
  }
}
