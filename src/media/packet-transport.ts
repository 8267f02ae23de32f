/**
 * The transport layer of one call's media (ARCHITECTURE § Media): how RTP and RTCP datagrams
 * reach the far end and come back, and which sources belong to the call. Today's implementation
 * is a plain UDP pair with symmetric RTP latching (udp-transport.ts); ICE + DTLS with rtcp-mux
 * will be another implementation of this interface, below the same protection and stream layers.
 *
 * Contract:
 *  - `start(listener)` is called once, before any remote description; from then on every
 *    datagram received goes to the listener as it is (still protected: the protection layer
 *    sits above), with the address and port it came from. Listener calls are guarded by the
 *    transport (a throwing listener is logged, never crashes the socket).
 *  - `setRemote` gives the far end's addresses from each negotiated description.
 *  - The stream asks `admitRtp` for every packet it has validated (RTP of a negotiated payload
 *    type, past the protection layer): only admitted packets count as the far end's media. The
 *    transport decides who the far end is (latching for plain UDP, the selected candidate pair
 *    for ICE) and sends only there.
 *  - `sendRtp`/`sendRtcp` never throw; send failures are logged by the transport, and a far end
 *    that is unreachable (ICMP) is reported with `listener.unreachable`.
 *  - Per packet, nothing here may allocate or schedule a wake-up beyond the datagram itself
 *    (the benchmark in test/bench/media-clock.ts watches CPU per call).
 *  - `stop()` (synchronous) ends connection upkeep; RTCP may still be sent (the BYE) until
 *    `close()` frees the sockets.
 */
import type { Endpoint } from "./source-filter.js";

export type { Endpoint };

/** What the layer above a transport receives. */
export interface TransportListener {
  /** A datagram on the RTP channel. */
  rtp(packet: Buffer, address: string, port: number): void;
  /** A datagram on the RTCP channel (the same socket when RTCP is multiplexed). */
  rtcp(packet: Buffer, address: string, port: number): void;
  /** Our sends draw ICMP port-unreachable (the far end's port is closed). */
  unreachable(message: string): void;
  /** Whether such errors are arriving now (a plain UDP transport stays connected to hear them). */
  isUnreachable(now: number): boolean;
}

export interface PacketTransport {
  /** Our RTP port, as put in the SDP. */
  readonly localPort: number;
  /** Whether an RTP packet sent now would go anywhere (a far end known, not on port 0). */
  readonly canSend: boolean;
  start(listener: TransportListener): void;
  /** The far end's RTP address and RTCP port from its description (a moved stream is learnt again). */
  setRemote(rtp: Endpoint, rtcpPort: number): void;
  /** Whether packets from here belong to the call: its garbage is garbage, not a stranger's. */
  isKnown(address: string, port: number): boolean;
  /** An RTP packet of the far end's we do not play (comfort noise...): the source is alive at `now`. */
  heardFrom(address: string, port: number, now: number): void;
  /** A valid RTP packet from `address:port` at monotonic `now`: true if it is the far end's. */
  admitRtp(address: string, port: number, ssrc: number, sequence: number, now: number): boolean;
  /** An RTCP packet from `address:port`: true if it is the far end's. */
  admitRtcp(address: string, port: number): boolean;
  /** Sends one RTP packet to the far end (the caller checked `canSend`). */
  sendRtp(packet: Buffer): void;
  /** Sends one RTCP packet to the far end; false when there is nowhere to send it. */
  sendRtcp(packet: Buffer): boolean;
  /** Upkeep from the stream's packet clock, a few times a second (connections, consent). */
  maintain(now: number): void;
  stop(): void;
  /** Frees the sockets. Idempotent. */
  close(): Promise<void>;
}
