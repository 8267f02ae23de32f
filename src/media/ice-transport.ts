/**
 * The ICE + DTLS-SRTP transport (ARCHITECTURE § Media): one UDP socket per host address carries
 * STUN, DTLS, RTP and RTCP together (rtcp-mux, RFC 5761), told apart by their first byte
 * (RFC 7983 §7): 0–3 STUN (werift-ice answers and checks), 20–63 DTLS (werift-dtls), 128–191
 * RTP/RTCP (to the stream above; RTCP by payload type 192–223, RFC 5761 §4). Only RTP and RTCP
 * reach the listener.
 *
 *  - ICE (RFC 8445): werift-ice's agent. Candidates: host (only the configured addresses, never
 *    another interface: see HostOnlyConnection), server-reflexive (STUN), relayed (TURN,
 *    RFC 8656). Checks, nomination, consent freshness (RFC 7675: 30 s without a consent response
 *    and the agent fails) and restart are the library's.
 *  - DTLS (RFC 5764): werift-dtls, client or server by a=setup, certificate asked of the client
 *    too; the far end's certificate must match its a=fingerprint, or the media ends with an error.
 *    Its records are packed one flight per datagram and retransmissions renumbered on the way out
 *    (dtls-datagrams.ts).
 *    The use_srtp keys (RFC 5764 §4.2) go up as `DtlsSrtpKeys`; the session swaps in the SRTP
 *    protection. Until then nothing is sent and RTP received is dropped (it could not be read).
 *
 * States (one transport, one call):
 * ```
 *  gathered ──connect()──▶ checking ──ICE connected──▶ handshaking ──DTLS done──▶ secured
 *                               │                          │                       │
 *                               └──────── ICE failed, consent lost, DTLS error ────┴──▶ failed
 *  secured ──connect() with a new ufrag/pwd (ICE restart)──▶ checking ──▶ secured (same DTLS)
 * ```
 * Sends are one synchronous dgram call on the selected pair's socket (host and srflx pairs), or
 * through werift's TURN client for a relayed pair (ChannelData framing, RFC 8656 §12). RTP and
 * RTCP received on that socket from the selected pair go straight to the stream (`fastReceive`),
 * not through werift-ice's two event emitters (each an async function, so a promise, per packet);
 * STUN and DTLS still go to werift.
 */
import type { Socket } from "node:dgram";
import { isIP } from "node:net";
import { DtlsClient, DtlsServer, type DtlsSocket } from "werift-dtls/lib/dtls/src/index.js";
import {
  Candidate,
  Connection,
  candidateFoundation,
  candidatePriority,
  type IceOptions,
  StunProtocol,
  serverReflexiveCandidate,
} from "werift-ice";
import type { Logger } from "../log/logger.js";
import { DTLS_SIGNATURE, type DtlsCertificate, matchesFingerprint } from "./dtls-certificate.js";
import { DtlsDatagramWriter } from "./dtls-datagrams.js";
import type { HostSocket } from "./ice-host-sockets.js";
import type { PacketTransport, TransportListener } from "./packet-transport.js";
import {
  candidateToSdp,
  type Fingerprint,
  type IceCandidateLine,
  isIceRestart,
  needsNewDtls,
  type RemoteIceDtls,
} from "./sdp-ice.js";
import type { Endpoint } from "./source-filter.js";
import type { SrtpKeys, SrtpProfile } from "./srtp/index.js";

/**
 * The use_srtp protection profiles we offer (RFC 5764 §4.1.2, RFC 7714 §14.2), most preferred
 * first, with werift-dtls's numbers and the master key and salt lengths of each.
 */
const DTLS_SRTP_PROFILES: ReadonlyMap<1 | 7, { profile: SrtpProfile; key: number; salt: number }> = new Map([
  [1, { profile: "AES_CM_128_HMAC_SHA1_80", key: 16, salt: 14 }],
  [7, { profile: "AEAD_AES_128_GCM", key: 16, salt: 12 }],
]);

/** SRTP master keys for each direction, as the protection layer takes them (srtp/index.ts). */
export interface DtlsSrtpKeys {
  readonly send: SrtpKeys;
  readonly receive: SrtpKeys;
}

export interface TurnServer {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly transport: "udp" | "tcp";
}

export interface IceTransportOptions {
  readonly log: Logger;
  /** The only addresses host candidates are gathered on (never another interface). */
  readonly hostAddresses: readonly string[];
  readonly stunServer?: { readonly host: string; readonly port: number } | undefined;
  readonly turnServer?: TurnServer | undefined;
  /** Only the TURN relay's candidate (rtp.ice.relay_only): the box's addresses are never shown. */
  readonly relayOnly?: boolean | undefined;
  /** Ports the host candidates are bound in (rtp.port_min..port_max). */
  readonly portRange?: readonly [number, number] | undefined;
  readonly certificate: DtlsCertificate;
  /**
   * Host sockets bound ahead (ice-host-sockets.ts), one per host address: used instead of binding
   * at gathering, and released when the transport closes (or its gathering fails).
   */
  readonly hostSockets?: readonly HostSocket[] | undefined;
  /** How long an ICE restart may take to select a pair again (default RESTART_TIMEOUT_MS). */
  readonly restartTimeoutMs?: number | undefined;
}

/**
 * How long an ICE restart may go without a selected pair before the media fails: consent's limit
 * (RFC 7675 §5.1: 30 s without a consent response). werift-ice 0.2.3 reports no failure when a
 * restart's checks all fail and, with no selected pair, runs no consent checks either: without
 * this the call would stay up, silent, for good when the media watchdog is off.
 */
export const RESTART_TIMEOUT_MS = 30_000;

export type IceTransportState = "gathered" | "checking" | "handshaking" | "secured" | "failed" | "closed";

export interface LocalIce {
  readonly ufrag: string;
  readonly pwd: string;
  readonly candidates: readonly IceCandidateLine[];
  readonly fingerprint: Fingerprint;
}

const NO_LISTENER: TransportListener = {
  rtp: () => {},
  rtcp: () => {},
  unreachable: () => {},
  isUnreachable: () => false,
};

/**
 * werift-ice's agent, gathering host candidates on the given addresses only. The library's own
 * gathering reads os.networkInterfaces() and, when none of them matches its filter, uses them
 * all; that would put the machine's other addresses in our SDP (and make checks from them).
 * Written against werift-ice 0.2.3's gatherCandidates (the protocols kept across a restart are
 * announced again with the new generation and ufrag, as the library does).
 */
class HostOnlyConnection extends Connection {
  constructor(
    controlling: boolean,
    options: Partial<IceOptions>,
    private readonly hosts: readonly string[],
    private readonly bound: readonly HostSocket[] = [],
  ) {
    super(controlling, options);
  }

  override async gatherCandidates(): Promise<void> {
    // biome-ignore lint/suspicious/noExplicitAny: werift-ice's private gathering state (see the class comment).
    const self = this as any;
    if (!self.localCandidatesStart) {
      self.localCandidatesStart = true;
      for (const protocol of self.protocols) {
        if (protocol.localCandidate) {
          protocol.localCandidate.generation = this.generation;
          protocol.localCandidate.ufrag = this.localUsername;
          self.appendLocalCandidate(protocol.localCandidate);
        }
      }
      // One call per address, each socket bound to its own address (werift binds to
      // options.interfaceAddresses, else to 0.0.0.0, which would take datagrams from every
      // interface and send from whichever the route picks).
      // The STUN and TURN servers are asked once (the TURN allocation on the first address).
      const pending: Promise<unknown>[] = [];
      const turnServer = this.turnServer;
      this.hosts.forEach((host, i) => {
        this.options.interfaceAddresses = { udp4: host };
        if (i > 0) this.turnServer = undefined;
        // A socket bound ahead: its host candidate (and srflx) made here; werift then skips the
        // address (it has a protocol) and only allocates the TURN relay, if any.
        const socket = this.options.forceTurn
          ? undefined
          : this.bound.find((b) => b.address === host)?.socket;
        if (socket) pending.push(this.boundHost(host, socket));
        pending.push(...self.getCandidatePromises([host], 5));
      });
      this.turnServer = turnServer;
      await Promise.allSettled(pending);
      self.localCandidatesEnd = true;
    }
  }

  /**
   * The host candidate on a socket bound ahead, as werift-ice 0.2.3's getCandidatePromises makes
   * one on the socket it binds (and the srflx candidate through it, with the same 5 s limit).
   */
  private boundHost(host: string, socket: Socket): Promise<unknown> {
    // biome-ignore lint/suspicious/noExplicitAny: werift-ice's private gathering state (see the class comment).
    const self = this as any;
    const protocol = new StunProtocol();
    self.ensureProtocol(protocol);
    const transport = new BoundUdpTransport(socket);
    transport.onData = (data, addr) => {
      // biome-ignore lint/suspicious/noExplicitAny: StunProtocol's datagramReceived is private.
      (protocol as any).datagramReceived(data, addr);
    };
    protocol.transport = transport as unknown as StunProtocol["transport"];
    protocol.localIp = host;
    self.protocols.push(protocol);
    const candidate = new Candidate(
      candidateFoundation("host", "udp", host),
      1,
      "udp",
      candidatePriority("host", { transport: "udp" }),
      host,
      transport.port,
      "host",
      undefined,
      undefined,
      undefined,
      this.generation,
      this.localUsername,
    );
    protocol.localCandidate = candidate;
    self.pairLocalProtocol(protocol);
    self.appendLocalCandidate(candidate);
    const stun = this.stunServer;
    if (!stun) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      serverReflexiveCandidate(protocol, stun).then((c) => {
        if (c) self.appendLocalCandidate(c);
      }),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 5000);
      }),
    ])
      .catch(() => {}) // no srflx candidate: as werift-ice, gathering goes on without it
      .finally(() => clearTimeout(timer));
  }
}

/**
 * werift-ice's UdpTransport on a socket bound ahead (werift's own binds a socket of its own in
 * its constructor): the same fields and behaviour, plus an error listener (a dgram socket
 * without one throws an ICMP-reported send error at the process).
 */
class BoundUdpTransport {
  readonly type = "udp";
  readonly socketType = "udp4";
  closed = false;
  rinfo: { address: string; port: number } | undefined;
  onData: (data: Buffer, addr: readonly [string, number]) => void = () => {};

  constructor(readonly socket: Socket) {
    socket.on("error", () => {});
    socket.on("message", (data, info) => {
      this.rinfo = info;
      this.onData(data, [info.address, info.port]);
    });
  }

  get address(): { address: string; port: number } {
    return this.socket.address();
  }

  get host(): string {
    return this.socket.address().address;
  }

  get port(): number {
    return this.socket.address().port;
  }

  send = async (data: Buffer, addr?: readonly [string, number]): Promise<void> => {
    const to = addr ?? [this.rinfo?.address ?? "", this.rinfo?.port ?? 0];
    if (isIP(to[0]) === 0) {
      // a name (a STUN server's): the callback reports a failed lookup
      return new Promise((resolve, reject) =>
        this.socket.send(data, to[1], to[0], (e) => (e ? reject(e) : resolve())),
      );
    }
    this.socket.send(data, to[1], to[0]);
  };

  close = (): Promise<void> =>
    new Promise((resolve) => {
      this.closed = true;
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
}

/** Whether a datagram is RTCP rather than RTP under rtcp-mux (RFC 5761 §4: PT 192–223). */
export function isRtcp(packet: Buffer): boolean {
  const pt = packet[1] ?? 0;
  return pt >= 192 && pt <= 223;
}

/** RFC 7983 §7: what the first byte of a datagram on a multiplexed port says it is. */
export function classify(packet: Buffer): "stun" | "dtls" | "rtp" | "rtcp" | "other" {
  const b = packet[0];
  if (b === undefined) return "other";
  if (b <= 3) return "stun";
  if (b >= 20 && b <= 63) return "dtls";
  if (b >= 128 && b <= 191) return isRtcp(packet) ? "rtcp" : "rtp";
  return "other";
}

function toLine(c: Candidate): IceCandidateLine {
  return {
    foundation: c.foundation,
    component: c.component,
    transport: c.transport.toLowerCase(),
    priority: c.priority,
    address: c.host,
    port: c.port,
    type: c.type,
    ...(c.relatedAddress !== undefined ? { relatedAddress: c.relatedAddress } : {}),
    ...(c.relatedPort !== undefined ? { relatedPort: c.relatedPort } : {}),
  };
}

export class IceTransport implements PacketTransport {
  private log: Logger;
  private readonly o: IceTransportOptions;
  private conn: HostOnlyConnection;
  private listener: TransportListener = NO_LISTENER;
  private dtls: DtlsSocket | null = null;
  private remoteIce: RemoteIceDtls | null = null;
  /** restartLocal() ran for the answer now being written. */
  private restarting = false;
  /** Fails the media when a restart has not selected a pair in time (RESTART_TIMEOUT_MS). */
  private restartDeadline: ReturnType<typeof setTimeout> | null = null;
  private role: "client" | "server" = "client";
  private st: IceTransportState = "gathered";
  /** Keys are in: the protection layer above can read and write SRTP. */
  private secure = false;
  /** The selected pair, for one synchronous send per packet (null: relayed or none yet). */
  private direct: { socket: Socket; address: string; port: number } | null = null;
  private selected: Endpoint | null = null;
  /** werift's UDP transports whose datagrams pass fastReceive first. */
  private readonly hooked = new WeakSet<object>();
  private onKeys: (keys: DtlsSrtpKeys) => void = () => {};
  private onFailure: (detail: string) => void = () => {};

  private constructor(o: IceTransportOptions, conn: HostOnlyConnection) {
    this.o = o;
    this.log = o.log;
    this.conn = conn;
  }

  /**
   * Gathers the candidates (host on each configured address; srflx and relay when servers are
   * configured) before the description that carries them is written (no trickle ICE).
   */
  static async gather(o: IceTransportOptions): Promise<IceTransport> {
    const refuse = async (detail: string): Promise<never> => {
      await Promise.all((o.hostSockets ?? []).map((h) => h.release()));
      throw new Error(detail);
    };
    if (o.hostAddresses.length === 0) return refuse("ICE: no host address to gather on");
    if (o.relayOnly && !o.turnServer) return refuse("ICE: relay_only without a TURN server");
    const conn = new HostOnlyConnection(
      true,
      {
        useIpv4: true,
        useIpv6: false,
        useTcp: false,
        ...(o.stunServer ? { stunServer: [o.stunServer.host, o.stunServer.port] as [string, number] } : {}),
        ...(o.turnServer
          ? {
              turnServer: [o.turnServer.host, o.turnServer.port] as [string, number],
              turnUsername: o.turnServer.username,
              turnPassword: o.turnServer.password,
              turnTransport: o.turnServer.transport,
              forceTurn: o.relayOnly === true,
            }
          : {}),
        ...(o.portRange ? { portRange: [o.portRange[0], o.portRange[1]] as [number, number] } : {}),
      },
      o.hostAddresses,
      o.hostSockets,
    );
    // werift-ice reads its servers from the connection, not only from the options. Without
    // rtp.ice.stun it would ask stun.l.google.com:19302 (its default) at every call: a lookup
    // and a request to a server nobody configured, before the answer could be written.
    conn.stunServer = o.stunServer ? [o.stunServer.host, o.stunServer.port] : undefined;
    if (o.turnServer) conn.turnServer = [o.turnServer.host, o.turnServer.port];
    try {
      await conn.gatherCandidates();
      if (conn.localCandidates.length === 0)
        throw new Error(`ICE: no candidate could be gathered on ${o.hostAddresses.join(", ")}`);
    } catch (e) {
      await conn.close().catch(() => {});
      await Promise.all((o.hostSockets ?? []).map((h) => h.release()));
      throw e;
    }
    const t = new IceTransport(o, conn);
    t.subscribe();
    return t;
  }

  private subscribe(): void {
    this.conn.onData.subscribe((data) => this.received(data));
    this.conn.stateChanged.subscribe((state) => {
      this.log.debug({ ice: state }, "ICE state");
      if (state === "connected") this.iceConnected();
      else if (state === "failed" && this.st !== "closed") {
        // werift-ice fails a connected agent when consent expires (RFC 7675 §5.1).
        this.fail(
          this.st === "secured" || this.st === "handshaking"
            ? "ICE consent lost: no consent response from the far end for 30 s (RFC 7675)"
            : "ICE failed: no candidate pair answered the connectivity checks",
        );
      }
    });
  }

  /** The call an agent gathered ahead now serves: its log lines name that call. */
  adopt(log: Logger): void {
    this.log = log;
  }

  /** Whether a process may exit while this agent (gathered ahead, not yet a call's) waits. */
  hold(held: boolean): void {
    for (const h of this.o.hostSockets ?? []) {
      if (held) h.socket.ref();
      else h.socket.unref();
    }
  }

  get state(): IceTransportState {
    return this.st;
  }

  /** Our ufrag, password, candidates and certificate fingerprint for the next description. */
  get local(): LocalIce {
    return {
      ufrag: this.conn.localUsername,
      pwd: this.conn.localPassword,
      candidates: this.conn.localCandidates.map(toLine),
      fingerprint: this.o.certificate.fingerprint,
    };
  }

  /** Told once the DTLS handshake gave SRTP keys (again after a new handshake). */
  onSecured(listener: (keys: DtlsSrtpKeys) => void): void {
    this.onKeys = listener;
  }

  /** Told once when the media cannot go on (ICE failed, consent lost, DTLS failed or not the far end's). */
  onFailed(listener: (detail: string) => void): void {
    this.onFailure = listener;
  }

  /**
   * A concluded exchange's ICE and DTLS parameters: the first starts the checks and the handshake;
   * a later one with a new ufrag/pwd restarts ICE (RFC 8445 §9) and keeps the DTLS association
   * unless the fingerprint or the roles changed (RFC 8842 §5.5).
   */
  connect(remote: RemoteIceDtls, role: "client" | "server", controlling: boolean): void {
    const before = this.remoteIce;
    this.remoteIce = remote;
    if (this.st === "failed" || this.st === "closed") return;
    if (before === null) {
      this.role = role;
      this.conn.iceControlling = controlling;
      // After the description that carries our answer has left (the 200 OK is sent in the same
      // turn): the checks and the DTLS socket need not delay it. The far end's checks that come
      // first are answered meanwhile (werift-ice keeps them as early checks, RFC 8445 §7.3), and
      // its ClientHello cannot come before its checks succeed.
      setImmediate(() => {
        if (this.st === "closed" || this.st === "failed") return; // ended meanwhile
        this.startIce(remote);
        this.startDtls();
      });
      return;
    }
    if (needsNewDtls(before, remote) || role !== this.role) {
      this.fail(
        "the far end changed its DTLS fingerprint or role in a re-INVITE (a new association is not supported)",
      );
      return;
    }
    if (isIceRestart(before, remote)) {
      this.log.info({}, "ICE restart asked by the far end");
      this.restart(remote);
    }
  }

  /**
   * Our side of an ICE restart (RFC 8445 §9: new ufrag and password), before the answer that
   * carries them is written. The sockets and the candidates gathered on them are kept; only
   * their generation and ufrag change. Synchronous: werift-ice 0.2.3's restart() has no await.
   */
  restartLocal(): void {
    // biome-ignore lint/suspicious/noExplicitAny: werift-ice's private gathering state (see HostOnlyConnection).
    const self = this.conn as any;
    const kept = [...this.conn.localCandidates];
    void this.conn.restart();
    self.localCandidatesStart = true;
    for (const c of kept) {
      c.generation = this.conn.generation;
      c.ufrag = this.conn.localUsername;
      self.appendLocalCandidate(c);
    }
    self.localCandidatesEnd = true;
    this.direct = null;
    this.restarting = true;
  }

  /** The far end's last ICE/DTLS attributes (null before the first exchange). */
  get remote(): RemoteIceDtls | null {
    return this.remoteIce;
  }

  /** Our DTLS role once the first exchange set it. */
  get dtlsRole(): "client" | "server" | null {
    return this.remoteIce === null ? null : this.role;
  }

  private restart(remote: RemoteIceDtls): void {
    if (!this.restarting) this.restartLocal(); // the far end restarted in its answer to our offer
    this.restarting = false;
    this.st = "checking";
    this.clearRestartDeadline();
    const ms = this.o.restartTimeoutMs ?? RESTART_TIMEOUT_MS;
    this.restartDeadline = setTimeout(() => {
      this.restartDeadline = null;
      if (this.st === "checking")
        this.fail(`ICE restart failed: no candidate pair answered the checks within ${ms / 1000} s`);
    }, ms);
    this.startIce(remote);
  }

  private clearRestartDeadline(): void {
    if (this.restartDeadline === null) return;
    clearTimeout(this.restartDeadline);
    this.restartDeadline = null;
  }

  private startIce(remote: RemoteIceDtls): void {
    this.st = "checking";
    this.conn.setRemoteParams({
      iceLite: remote.iceLite,
      usernameFragment: remote.ufrag,
      password: remote.pwd,
    });
    void (async () => {
      for (const c of remote.candidates) {
        try {
          await this.conn.addRemoteCandidate(Candidate.fromSdp(candidateToSdp(c)));
        } catch (e) {
          this.log.debug(
            { err: (e as Error).message, candidate: candidateToSdp(c) },
            "remote candidate ignored",
          );
        }
      }
      await this.conn.addRemoteCandidate(undefined);
      await this.conn.connect();
    })().catch((e: unknown) => {
      if (this.st !== "closed") this.fail(`ICE failed: ${(e as Error).message}`);
    });
  }

  /** The DTLS socket exists from the start so a ClientHello right after the checks is not lost. */
  private startDtls(): void {
    const conn = this.conn;
    // werift writes a flight's records one send() each, synchronously: they go out packed and
    // renumbered at the end of the turn (dtls-datagrams.ts: why).
    const writer = new DtlsDatagramWriter();
    let batch: Buffer[] = [];
    const flush = (): void => {
      const records = batch;
      batch = [];
      for (const datagram of writer.pack(records)) conn.send(datagram).catch(this.sendFailed);
    };
    const shim = {
      type: "udp",
      address: { address: "", family: "IPv4", port: 0 },
      closed: false,
      onData: (_data: Buffer, _addr: readonly [string, number]): void => {},
      send: (data: Buffer): Promise<void> => {
        if (batch.length === 0) queueMicrotask(flush);
        batch.push(data);
        return Promise.resolve();
      },
      close: async (): Promise<void> => {},
    };
    const options = {
      transport: shim,
      cert: this.o.certificate.certPem,
      key: this.o.certificate.keyPem,
      signatureHash: DTLS_SIGNATURE,
      srtpProfiles: [...DTLS_SRTP_PROFILES.keys()],
      // The server asks for the client's certificate: both fingerprints are checked (RFC 5763 §5).
      certificateRequest: true,
    };
    const socket: DtlsSocket = this.role === "client" ? new DtlsClient(options) : new DtlsServer(options);
    socket.onConnect.subscribe(() => this.dtlsConnected(socket));
    socket.onError.subscribe((e) => this.fail(`DTLS failed: ${e.message}`));
    // close_notify: the far end is leaving (its BYE follows); no more media is sent. If the BYE
    // never comes the media watchdog ends the call.
    socket.onClose.subscribe(() => {
      if (this.st !== "secured") return;
      this.log.info({}, "DTLS: the far end closed the association");
      this.secure = false;
    });
    this.dtls = socket;
  }

  private iceConnected(): void {
    const pair = this.conn.nominated;
    if (pair) {
      this.selected = { address: pair.remoteAddr[0], port: pair.remoteAddr[1] };
      // biome-ignore lint/suspicious/noExplicitAny: the selected pair's werift protocol (host/srflx: a UDP transport).
      const protocol = pair.protocol as any;
      const socket: Socket | undefined = protocol?.transport?.socket;
      this.direct =
        pair.localCandidate.type !== "relay" && socket
          ? { socket, address: this.selected.address, port: this.selected.port }
          : null;
      if (this.direct !== null) this.hookReceive(protocol.transport);
      this.log.info(
        {
          local: `${pair.localCandidate.host}:${pair.localCandidate.port} ${pair.localCandidate.type}`,
          remote: `${pair.remoteCandidate.host}:${pair.remoteCandidate.port} ${pair.remoteCandidate.type}`,
        },
        "ICE connected",
      );
    }
    if (this.st === "checking" && this.secure) {
      this.st = "secured"; // a restart: the DTLS association goes on
      this.clearRestartDeadline();
      return;
    }
    if (this.st !== "checking") return;
    this.st = "handshaking";
    const socket = this.dtls;
    if (socket instanceof DtlsClient) {
      socket.connect().catch((e: unknown) => this.fail(`DTLS handshake failed: ${(e as Error).message}`));
    }
  }

  private dtlsConnected(socket: DtlsSocket): void {
    const remote = this.remoteIce;
    if (this.st === "failed" || this.st === "closed" || remote === null) return;
    const der = socket.remoteCertificate;
    if (!der || !matchesFingerprint(der, remote.fingerprint)) {
      this.fail(
        `DTLS: the far end's certificate does not match its a=fingerprint (${remote.fingerprint.algorithm}); media refused`,
      );
      return;
    }
    const chosen =
      socket.srtp.srtpProfile === undefined ? undefined : DTLS_SRTP_PROFILES.get(socket.srtp.srtpProfile);
    if (chosen === undefined) {
      this.fail(`DTLS: no common SRTP profile (use_srtp: ${String(socket.srtp.srtpProfile)})`);
      return;
    }
    const k = socket.extractSessionKeys(chosen.key, chosen.salt);
    this.secure = true;
    this.st = "secured";
    this.log.info({ role: this.role, profile: chosen.profile }, "DTLS-SRTP established");
    this.onKeys({
      send: { profile: chosen.profile, masterKey: k.localKey as Buffer, masterSalt: k.localSalt as Buffer },
      receive: {
        profile: chosen.profile,
        masterKey: k.remoteKey as Buffer,
        masterSalt: k.remoteSalt as Buffer,
      },
    });
  }

  private fail(detail: string): void {
    if (this.st === "failed" || this.st === "closed") return;
    this.st = "failed";
    this.clearRestartDeadline();
    this.secure = false;
    this.direct = null;
    this.log.warn({ detail }, "media transport failed");
    try {
      this.onFailure(detail);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "media handler failed");
    }
  }

  /**
   * Puts fastReceive in front of werift's handler of a UDP transport's datagrams (werift-ice
   * 0.2.3's UdpTransport calls its `onData(data, [address, port])` from the socket's message
   * event). Once per transport; what fastReceive does not take goes on to werift as before.
   */
  private hookReceive(transport: { onData: (data: Buffer, addr: readonly [string, number]) => void }): void {
    if (this.hooked.has(transport) || typeof transport.onData !== "function") return;
    this.hooked.add(transport);
    const werift = transport.onData;
    const socket = (transport as unknown as { socket?: Socket }).socket;
    transport.onData = (data, addr) => {
      if (!this.fastReceive(socket, data, addr)) werift.call(transport, data, addr);
    };
  }

  /**
   * RTP or RTCP (RFC 7983: first byte 128–191) on the selected pair's socket from the selected
   * pair's address, once the keys are in: straight to the stream. False: werift's (STUN, DTLS,
   * anything else, another address, before the keys or after a restart changed the pair).
   */
  private fastReceive(socket: Socket | undefined, data: Buffer, addr: readonly [string, number]): boolean {
    const d = this.direct;
    const b = data[0] ?? 0;
    if (d === null || !this.secure || b < 128 || b > 191 || d.socket !== socket) return false;
    if (addr[1] !== d.port || addr[0] !== d.address) return false;
    try {
      if (isRtcp(data)) this.listener.rtcp(data, d.address, d.port);
      else this.listener.rtp(data, d.address, d.port);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "media handler failed");
    }
    return true;
  }

  /** One datagram from the agent (STUN already taken by werift-ice): RFC 7983 demultiplexing. */
  private received(data: Buffer): void {
    const kind = classify(data);
    try {
      if (kind === "dtls") {
        // biome-ignore lint/suspicious/noExplicitAny: werift-dtls reads through its transport's onData.
        (this.dtls?.transport.socket as any)?.onData(data, null);
        return;
      }
      if (!this.secure || (kind !== "rtp" && kind !== "rtcp")) return; // unreadable before the keys
      const from = this.selected;
      if (from === null) return;
      if (kind === "rtp") this.listener.rtp(data, from.address, from.port);
      else this.listener.rtcp(data, from.address, from.port);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "media handler failed");
    }
  }

  // ── PacketTransport ───────────────────────────────────────────────────────────────────────

  get localPort(): number {
    return this.conn.localCandidates.find((c) => c.type === "host")?.port ?? 9;
  }

  get canSend(): boolean {
    return this.secure && this.st === "secured";
  }

  start(listener: TransportListener): void {
    if (this.listener === NO_LISTENER) this.listener = listener;
  }

  /** The c=/m= address is not where media goes with ICE (RFC 8839 §4.2.1.1): the selected pair is. */
  setRemote(_rtp: Endpoint, _rtcpPort: number): void {}

  isKnown(_address: string, _port: number): boolean {
    return true; // only the selected pair's datagrams reach the stream
  }

  heardFrom(_address: string, _port: number, _now: number): void {}

  admitRtp(_address: string, _port: number, _ssrc: number, _sequence: number, _now: number): boolean {
    return true; // ICE authenticated the pair, SRTP the packet
  }

  admitRtcp(_address: string, _port: number): boolean {
    return true;
  }

  sendRtp(packet: Buffer): void {
    this.transmit(packet);
  }

  sendRtcp(packet: Buffer): boolean {
    // Without rtcp-mux RTCP would need a second ICE component, which we do not gather.
    if (!this.canSend || this.remoteIce?.rtcpMux !== true) return false;
    this.transmit(packet);
    return true;
  }

  private transmit(packet: Buffer): void {
    if (!this.canSend) return;
    const d = this.direct;
    if (d !== null) {
      d.socket.send(packet, d.port, d.address);
      return;
    }
    this.conn.send(packet).catch(this.sendFailed);
  }

  private readonly sendFailed = (e: unknown): void => {
    this.log.debug({ err: (e as Error).message }, "media send failed");
  };

  maintain(_now: number): void {}

  /** Nothing to keep up: werift-ice runs the consent checks. RTCP (the BYE) may still go out. */
  stop(): void {}

  async close(): Promise<void> {
    this.st = "closed";
    this.clearRestartDeadline();
    this.secure = false;
    this.direct = null;
    try {
      this.dtls?.close();
    } catch {
      // already closed
    }
    this.dtls = null;
    await this.conn.close().catch(() => {});
    await Promise.all((this.o.hostSockets ?? []).map((h) => h.release()));
  }
}
