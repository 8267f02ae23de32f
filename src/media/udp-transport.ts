/**
 * The plain transport: one UDP port pair (RTP on an even port, RTCP on the next), symmetric RTP
 * (RFC 4961) with the latching rule of source-filter.ts, and the RTP socket connect()ed to the
 * latched far end so that a send is one synchronous call (see syncConnection).
 */
import type { Logger } from "../log/logger.js";
import type { PacketTransport, TransportListener } from "./packet-transport.js";
import type { PortPair } from "./port-allocator.js";
import { type Endpoint, SourceFilter } from "./source-filter.js";

export interface UdpTransportOptions {
  readonly ports: PortPair;
  readonly log: Logger;
  /** Monotonic milliseconds (the session's clock). */
  readonly now: () => number;
}

/** State of the RTP socket's connect() to the latched far end (see syncConnection). */
type ConnectState = "none" | "connecting" | "connected";

/** Packets held while the RTP socket connects (a connect takes one loop turn). */
const CONNECT_QUEUE = 8;

const NO_LISTENER: TransportListener = {
  rtp: () => {},
  rtcp: () => {},
  unreachable: () => {},
  isUnreachable: () => false,
};

export class UdpTransport implements PacketTransport {
  private readonly ports: PortPair;
  private readonly log: Logger;
  private readonly now: () => number;
  private listener: TransportListener = NO_LISTENER;
  private readonly filter = new SourceFilter();
  private remoteRtcpPort = 0;
  private stopped = false;
  private conn: ConnectState = "none";
  /** The endpoint the RTP socket is connected (or connecting) to: the latched one. */
  private connTo: Endpoint | null = null;
  /** An endpoint whose connect() failed: not retried until the latch changes. */
  private connFailed: Endpoint | null = null;
  /** Packets sent while connect() was under way, sent once it completes. */
  private readonly connQueue: Buffer[] = [];

  constructor(o: UdpTransportOptions) {
    this.ports = o.ports;
    this.log = o.log;
    this.now = o.now;
  }

  get localPort(): number {
    return this.ports.port;
  }

  get canSend(): boolean {
    const to = this.sendTarget();
    return to !== null && to.port !== 0;
  }

  start(listener: TransportListener): void {
    if (this.listener !== NO_LISTENER) return;
    this.listener = listener;
    const { rtp, rtcp } = this.ports;
    // No closure per packet: the handler itself catches (50 packets a second, every call).
    rtp.on("message", (msg, rinfo) => {
      try {
        this.listener.rtp(msg, rinfo.address, rinfo.port);
      } catch (e) {
        this.log.error({ err: (e as Error).message }, "media handler failed");
      }
    });
    rtcp.on("message", (msg, rinfo) => {
      try {
        this.listener.rtcp(msg, rinfo.address, rinfo.port);
      } catch (e) {
        this.log.error({ err: (e as Error).message }, "media handler failed");
      }
    });
    rtp.on("error", (e: NodeJS.ErrnoException) => {
      // A connected UDP socket reports the far end's ICMP port-unreachable (its port closed,
      // typically just before its BYE, or its host or process gone): one per packet we send.
      if (e.code !== "ECONNREFUSED") {
        this.log.warn({ err: e.message }, "RTP socket error");
        return;
      }
      try {
        this.listener.unreachable(e.message);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, "media handler failed");
      }
    });
    rtcp.on("error", (e) => this.log.warn({ err: e.message }, "RTCP socket error"));
  }

  setRemote(rtp: Endpoint, rtcpPort: number): void {
    this.remoteRtcpPort = rtcpPort;
    this.filter.setExpected(rtp, rtcpPort);
    this.syncConnection(this.now()); // a moved stream unlatched: disconnect until the new source latches
  }

  isKnown(address: string, port: number): boolean {
    return this.filter.isKnown(address, port);
  }

  heardFrom(address: string, port: number, now: number): void {
    this.filter.touch(address, port, now);
  }

  admitRtp(address: string, port: number, ssrc: number, sequence: number, now: number): boolean {
    const before = this.filter.latched;
    if (this.filter.check(address, port, ssrc, sequence, now) === "reject") return false;
    if (this.filter.latched !== before) {
      this.log.debug(
        { source: `${address}:${port}`, previous: before ? `${before.address}:${before.port}` : null },
        "RTP source latched",
      );
      this.syncConnection(now);
    } else if (this.conn === "none") {
      this.syncConnection(now); // the source is back after a silence: connect again
    }
    return true;
  }

  admitRtcp(address: string, port: number): boolean {
    return this.filter.checkControl(address, port) === "accept";
  }

  maintain(now: number): void {
    // The latched source fell silent (another may take over) or is back: (dis)connect.
    if (this.filter.latched !== null) this.syncConnection(now);
  }

  /** Only the latched source, or the SDP's address before one is: never a stranger. */
  private sendTarget(): Endpoint | null {
    return this.filter.latched ?? this.filter.expectedEndpoint;
  }

  sendRtp(packet: Buffer): void {
    const to = this.sendTarget();
    if (to !== null) this.transmit(packet, to);
  }

  sendRtcp(packet: Buffer): boolean {
    const expected = this.filter.expectedEndpoint;
    if (expected === null) return false;
    const address = this.filter.latched?.address ?? expected.address;
    if (address === "0.0.0.0") return false;
    this.ports.rtcp.send(packet, this.remoteRtcpPort, address, (err) => {
      if (err) this.log.debug({ err: err.message }, "RTCP send failed");
    });
    return true;
  }

  stop(): void {
    this.stopped = true;
  }

  close(): Promise<void> {
    this.stopped = true;
    return this.ports.release();
  }

  private transmit(pkt: Buffer, to: Endpoint): void {
    const sock = this.ports.rtp;
    if (this.conn === "connected" && this.connTo === to) {
      // Connected to the latched far end: no address to resolve, no callback, no nextTick;
      // dgram sends at once. Errors (ECONNREFUSED) surface as the socket's "error" event.
      sock.send(pkt);
      return;
    }
    if (this.conn === "connected") this.syncConnection(this.now()); // latch moved: disconnect first
    if (this.conn === "connecting") {
      // dgram would resolve the address after connect() completes and then fail the send
      // (EISCONN): the packet waits for the connection instead, a few milliseconds at most.
      if (this.connQueue.length < CONNECT_QUEUE) this.connQueue.push(pkt);
      return;
    }
    sock.send(pkt, to.port, to.address, (err) => {
      if (err) this.log.debug({ err: err.message }, "RTP send failed");
    });
  }

  /**
   * Keeps the RTP socket connect()ed to the latched far end, and only to it. Unconnected,
   * every send names its destination, and dgram resolves it, defers the send to a nextTick and
   * runs a callback per packet; connected, a send is one synchronous call. A connected socket
   * also makes the kernel drop datagrams from any other source, which is what the SourceFilter
   * does anyway once latched. Before latching (symmetric RTP learning) the socket stays
   * unconnected so every candidate source reaches the filter; a re-INVITE that moves the
   * stream unlatches, so the socket is disconnected until the new source latches.
   */
  private syncConnection(now: number): void {
    if (this.conn === "connecting") return; // re-evaluated when connect() completes
    const want = this.stopped ? null : this.connectTarget(now);
    const sock = this.ports.rtp;
    if (this.conn === "connected") {
      if (want === this.connTo) return;
      try {
        sock.disconnect();
      } catch (e) {
        this.log.debug({ err: (e as Error).message }, "RTP disconnect failed");
      }
      this.conn = "none";
      this.connTo = null;
    }
    if (!want || want === this.connFailed) return;
    this.conn = "connecting";
    this.connTo = want;
    try {
      sock.connect(want.port, want.address, (err?: Error) => {
        if (err) {
          this.log.debug({ err: err.message, to: `${want.address}:${want.port}` }, "RTP connect failed");
          this.conn = "none";
          this.connTo = null;
          this.connFailed = want;
        } else {
          this.conn = "connected";
        }
        const to = this.stopped ? null : this.sendTarget();
        for (const pkt of this.connQueue.splice(0)) if (to && to.port !== 0) this.transmit(pkt, to);
        this.syncConnection(this.now()); // the latch may have moved meanwhile
      });
    } catch (e) {
      // The socket is closing (a call ending) or already connected elsewhere: stay unconnected.
      this.log.debug({ err: (e as Error).message }, "RTP connect failed");
      this.conn = "none";
      this.connTo = null;
      this.connFailed = want;
    }
  }

  /**
   * Where the RTP socket should be connected: the latched source while it is alive. Once it has
   * been silent long enough for another source to take over (SourceFilter), the socket is
   * disconnected so that source's packets reach the filter at all; except while our sends to it
   * draw ICMP port unreachable, which only a connected socket reports (the watchdog needs them).
   */
  private connectTarget(now: number): Endpoint | null {
    const l = this.filter.latched;
    if (l === null) return null;
    if (this.filter.isLearning(now) && !this.listener.isUnreachable(now)) return null;
    return l;
  }
}
