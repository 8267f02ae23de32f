/**
 * The stream layer of one call's media (ARCHITECTURE § Media): the 20 ms packet clock, RTP
 * numbering (SSRC, sequence, timestamps), the jitter buffer, RTCP reports, the media watchdog
 * and the call's statistics. Below it, packets pass the protection layer (protection.ts) and the
 * transport (packet-transport.ts); above it, the codec and the audio devices (audio-bridge.ts);
 * RFC 4733 events take an audio packet's place on the clock (telephone-events.ts).
 *
 * Per packet (50 a second each way, every call) nothing here allocates beyond the datagram
 * itself and the parser's view of it, and nothing schedules a wake-up of its own: the watchdog
 * and the transport's upkeep run from the packet clock, every WATCH_TICKS ticks.
 */
import { hostname } from "node:os";
import type { AudioXruns, MediaStats } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import type { AudioBridge } from "./audio-bridge.js";
import type { CodecName } from "./codecs.js";
import { JitterBuffer } from "./jitter-buffer.js";
import { MediaWatchdog, type WatchdogLimits } from "./media-watchdog.js";
import { isHeld } from "./negotiation.js";
import type { PacketTransport, TransportListener } from "./packet-transport.js";
import type { Protection } from "./protection.js";
import { RtcpReporter } from "./rtcp-reporter.js";
import { parseRtp, RTP_HEADER_BYTES, writeRtpHeader } from "./rtp-packet.js";
import { flow, type Negotiated } from "./sdp.js";
import { SendClock, type TimerDeps } from "./send-clock.js";
import type { RtpPacketOut, TelephoneEvents } from "./telephone-events.js";
import type { XrunWindow } from "./xrun-window.js";

export const FRAME_MS = 20;

/** The watchdog is consulted every this many ticks of the packet clock (no timer of its own). */
const WATCH_TICKS = 25;
/** During a long run of ICMP unreachable errors, their count is logged this often. */
const UNREACHABLE_LOG_MS = 60_000;

/** Counters beyond MediaStats, for logs, tests and the benchmark. */
export interface MediaCounters extends MediaStats {
  readonly garbage: number;
  readonly unknownPayload: number;
  /** Payloads of the negotiated codec that it refused (a malformed Opus packet): dropped. */
  readonly undecodable: number;
  readonly lateOrDuplicate: number;
  readonly concealedFrames: number;
  readonly sourceDropped: number;
  readonly sinkDropped: number;
  readonly rtcpSent: number;
  readonly rtcpReceived: number;
  readonly remoteBye: boolean;
  readonly codec: CodecName | null;
  readonly localPort: number;
  /** What the media is protected with now. */
  readonly encryption: Protection["kind"];
}

export interface RtpStreamOptions {
  readonly transport: PacketTransport;
  readonly protection: Protection;
  readonly bridge: AudioBridge;
  readonly dtmf: TelephoneEvents;
  readonly log: Logger;
  readonly timers: TimerDeps;
  /** Mean RTCP interval (RFC 3550 §6.2: 5 s minimum for a two-party call). */
  readonly rtcpIntervalMs: number;
  readonly limits: WatchdogLimits;
  /** The sound card's xruns for health: looked at with the watchdog, reported when they change. */
  readonly xruns?: { readonly window: XrunWindow; report(x: AudioXruns | null): void } | undefined;
}

/** What the last negotiation means for the stream (replaced as a whole on each one). */
interface Format {
  readonly n: Negotiated;
  /** flow(n), computed once per negotiation rather than on every tick. */
  readonly send: boolean;
  readonly receive: boolean;
  /** Either side holds: the watchdog's hold limit applies. */
  readonly held: boolean;
  readonly jb: JitterBuffer;
  /** The frame played out, reused every tick (nothing keeps it beyond the tick). */
  readonly frame: Int16Array;
  /** RTP timestamp units per 20 ms frame. */
  readonly tsPerFrame: number;
}

function random32(): number {
  return Math.floor(Math.random() * 0x100000000) >>> 0;
}

export class RtpStream implements TransportListener, RtpPacketOut {
  private readonly log: Logger;
  private readonly timers: TimerDeps;
  private readonly transport: PacketTransport;
  private protection: Protection;
  /** Packets refused by protections swapped out since (rekeys), so the call's totals survive them. */
  private readonly droppedBefore = { auth: 0, replay: 0 };
  private readonly bridge: AudioBridge;
  private readonly dtmf: TelephoneEvents;
  private format: Format | null = null;
  /** Muted: silence is sent (keeps NAT bindings and the far end's jitter buffer alive). */
  muted = false;
  private readonly reporter: RtcpReporter;
  private readonly clock: SendClock;
  private rtcpTimer: unknown = null;
  private readonly ssrc = random32();
  /** Our RTCP CNAME (RFC 3550 §6.5.1), the same in SDES and in the SDP's a=ssrc. */
  private readonly cname = `cuffia@${hostname()}`;
  private seq = random32() & 0xffff;
  private readonly tsBase = random32();
  private tick = 0;
  private sendingBefore = false;
  private clockStarting = false;
  private stopped = false;
  private counters = {
    sent: 0,
    octets: 0,
    sentSinceReport: false,
    received: 0,
    rejected: 0,
    garbage: 0,
    unknownPayload: 0,
    undecodable: 0,
    lateOrDuplicate: 0,
    fecRecovered: 0,
    rtcpSent: 0,
    rtcpReceived: 0,
    remoteBye: false,
  };
  private readonly watchdog: MediaWatchdog;
  private readonly mediaTimeoutListeners: ((detail: string) => void)[] = [];
  /** The tick at which the watchdog is next consulted. */
  private watchAt = 0;
  /** Unreachable errors after the first of the current run (logged as a count), and since when. */
  private unreachableRepeats = 0;
  private unreachableLoggedAt = 0;

  /** Our RTP source as the SDP announces it (RFC 5576 a=ssrc, in DTLS-SRTP calls). */
  get source(): { readonly ssrc: number; readonly cname: string } {
    return { ssrc: this.ssrc, cname: this.cname };
  }

  constructor(private readonly o: RtpStreamOptions) {
    this.log = o.log;
    this.timers = o.timers;
    this.transport = o.transport;
    this.protection = o.protection;
    this.bridge = o.bridge;
    this.dtmf = o.dtmf;
    this.reporter = new RtcpReporter(this.ssrc, this.cname);
    this.clock = new SendClock(FRAME_MS, (n) => this.onTick(n), this.timers, {
      frameReady: () => this.bridge.frameReady,
    });
    // A sound card's frame is sent the moment its capture completes it (send-clock.ts).
    this.bridge.onFrameCaptured(() => this.clock.captured());
    this.watchdog = new MediaWatchdog(o.limits);
  }

  /**
   * Swaps the protection layer: a rekey (a new SDES key in a re-INVITE) or a DTLS handshake that
   * finished after the stream started. Packets from the next one on pass the new protection.
   */
  setProtection(p: Protection): void {
    if (p === this.protection) return;
    const old = this.protection;
    this.droppedBefore.auth += old.dropped.auth;
    this.droppedBefore.replay += old.dropped.replay;
    this.protection = p;
    this.log.info({ from: old.kind, to: p.kind }, "media protection changed");
  }

  /** What the media is protected with now. */
  get protectionKind(): Protection["kind"] {
    return this.protection.kind;
  }

  /** Received packets the protection layer refused over the whole call (failed authentication, replayed). */
  get dropped(): { readonly auth: number; readonly replay: number } {
    return {
      auth: this.droppedBefore.auth + this.protection.dropped.auth,
      replay: this.droppedBefore.replay + this.protection.dropped.replay,
    };
  }

  /** The last negotiation's outcome, null before the first. */
  get negotiated(): Negotiated | null {
    return this.format?.n ?? null;
  }

  onMediaTimeout(listener: (detail: string) => void): void {
    this.mediaTimeoutListeners.push(listener);
  }

  /**
   * A concluded offer/answer exchange (the transport already knows the far end's addresses).
   * The first one starts the clock and opens the audio devices, after the current turn of the
   * event loop.
   */
  apply(n: Negotiated): void {
    const prev = this.format;
    const wasHeld = prev ? prev.held : true;
    const moved = !prev || prev.n.remoteAddress !== n.remoteAddress || prev.n.remotePort !== n.remotePort;
    const f = flow(n);
    const held = isHeld(n);
    if (!prev || prev.n.codec.name !== n.codec.name || prev.n.payloadType !== n.payloadType) {
      const frameSamples = (n.codec.sampleRate * FRAME_MS) / 1000;
      this.format = {
        n,
        send: f.send,
        receive: f.receive,
        held,
        jb: new JitterBuffer({
          sampleRate: n.codec.sampleRate,
          samplesPerTick: n.codec.sampleRate / n.codec.clockRate,
          frameSamples,
        }),
        frame: new Int16Array(frameSamples),
        tsPerFrame: (n.codec.clockRate * FRAME_MS) / 1000,
      };
      this.reporter.remoteSsrc = null;
      this.bridge.setCodec(n.codec, n.codecFmtp);
    } else {
      this.format = { ...prev, n, send: f.send, receive: f.receive, held };
    }
    // The watchdog's clock starts with the media, and starts over when the stream moves (a new
    // far end gets the whole timeout) or comes back from hold (RTP resumes after a silence the
    // hold limit allowed).
    if (moved || (wasHeld && !held)) {
      this.watchdog.start(this.timers.now());
      this.flushUnreachableLog();
    }
    if (this.clock.isRunning || this.clockStarting) {
      this.bridge.open(n.codec.sampleRate);
      return;
    }
    // Audio devices and the first packet wait for the current turn of the event loop: the 200 OK
    // (or ACK) carrying this answer leaves first, without waiting for arecord/aplay to be spawned.
    this.clockStarting = true;
    setImmediate(() => {
      this.clockStarting = false;
      if (this.stopped || this.clock.isRunning || !this.format) return;
      this.bridge.open(this.format.n.codec.sampleRate);
      this.clock.begin();
      this.scheduleRtcp();
    });
  }

  /** Stops the clock and the RTCP timer (close() then sends the BYE with sendRtcp(true)). */
  stop(): void {
    this.stopped = true;
    this.clock.stop();
    if (this.rtcpTimer !== null) this.timers.clearTimeout(this.rtcpTimer);
    this.flushUnreachableLog();
    if (this.o.xruns?.window.reported) this.o.xruns.report(null);
    const jb = this.format?.receive ? this.format.jb.stats() : null;
    // What the caller's audio waited for at the end of the call, and what that cost.
    if (jb && this.counters.received > 0)
      this.log.info(
        {
          target_ms: Math.round(jb.targetDelayMs * 10) / 10,
          jitter_ms: Math.round(jb.jitterMs * 10) / 10,
          concealed_frames: jb.concealedFrames,
          fec_recovered: this.counters.fecRecovered,
          dropped_for_delay: jb.droppedForDelay,
          late: jb.late,
          resyncs: jb.resyncs,
        },
        "jitter buffer at call end",
      );
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "media handler failed");
    }
  }

  // ── the packet clock ──────────────────────────────────────────────────────────────────────

  /** One 20 ms tick: play one frame out, send one packet (audio or event). */
  private onTick(n: number): void {
    this.tick = n;
    const f = this.format;
    if (!f) return;
    if (n >= this.watchAt) {
      this.watchAt = n + WATCH_TICKS;
      this.watch(f);
      if (this.stopped) return; // a media-timeout listener ended the call
    }
    // Receive side: the sink always gets a frame, so the device never starves.
    const out = f.frame;
    if (f.receive) f.jb.pull(out, this.timers.now());
    else out.fill(0);
    this.bridge.play(out);

    // Send side. The source is read even when not sending, so it stays in step with the clock.
    const frame = this.bridge.capture();
    if (!f.send) {
      this.sendingBefore = false;
      this.dtmf.abort();
      return;
    }
    const ts = (this.tsBase + n * f.tsPerFrame) >>> 0;
    if (this.dtmf.sending && this.dtmf.tick(n, ts, f.n.telephoneEvent, this)) return;
    // Muted, or held by us (sendonly): silence, so the far end's jitter buffer and NAT stay alive.
    if (this.muted || f.n.localDirection === "sendonly") frame.fill(0);
    const payload = this.bridge.encode(frame);
    if (!payload) return; // the codec's library is still loading (once per process, Opus)
    this.sendPacket(f.n.payloadType, !this.sendingBefore, ts, payload);
    this.sendingBefore = true;
  }

  /** Numbers, protects and sends one RTP packet (audio or telephone-event). */
  sendPacket(payloadType: number, marker: boolean, timestamp: number, payload: Uint8Array): void {
    if (!this.transport.canSend) return;
    // A packet of its own every time (a pool slice, cheap): dgram may still hold it queued
    // when the socket would block, so it must not be rewritten by the next tick.
    const pkt = Buffer.allocUnsafe(RTP_HEADER_BYTES + payload.length);
    writeRtpHeader(pkt, payloadType, marker, this.seq, timestamp, this.ssrc);
    pkt.set(payload, RTP_HEADER_BYTES);
    this.seq = (this.seq + 1) & 0xffff;
    this.counters.sent++;
    this.counters.octets += payload.length;
    this.counters.sentSinceReport = true;
    this.transport.sendRtp(this.protection.protectRtp(pkt));
  }

  /** Consulted from the packet clock every WATCH_TICKS ticks. */
  private watch(f: Format): void {
    const now = this.timers.now();
    const w = this.watchdog;
    if (
      this.unreachableRepeats > 0 &&
      (!w.isUnreachable(now) || now - this.unreachableLoggedAt >= UNREACHABLE_LOG_MS)
    )
      this.flushUnreachableLog();
    this.transport.maintain(now);
    const x = this.o.xruns;
    if (x && this.bridge.hasCard) {
      const changed = x.window.update(now, this.bridge.underruns, this.bridge.overruns);
      if (changed) x.report(changed);
    }
    const detail = w.check(now, f.held);
    if (detail === null) return;
    this.flushUnreachableLog();
    this.log.warn(
      { detail, silent_ms: Math.round(w.silentFor(now)), remote_direction: f.n.remoteDirection },
      "far end media gone",
    );
    for (const l of this.mediaTimeoutListeners) {
      try {
        l(detail);
      } catch (e) {
        this.log.error({ err: (e as Error).message }, "media timeout listener threw");
      }
    }
  }

  // ── what the transport hands up ───────────────────────────────────────────────────────────

  rtp(packet: Buffer, address: string, port: number): void {
    // After the packet is in the jitter buffer: the clock may send (and play) the coming tick
    // from this wake-up.
    if (this.onRtp(packet, address, port)) this.clock.arrival();
  }

  /** Takes one RTP datagram; true if it was a packet of the far end's stream. */
  private onRtp(msg: Buffer, address: string, port: number): boolean {
    const f = this.format;
    if (!f || this.stopped) return false;
    // Only RTP with a payload type negotiated for this call counts (and may latch): the far
    // end's own garbage or comfort noise is counted as such, anything of a stranger's rejected.
    // A packet that fails the protection layer's checks is garbage too, and never latches.
    const clear = this.protection.unprotectRtp(msg);
    const p = clear === null ? null : parseRtp(clear);
    const n = f.n;
    const te = n.telephoneEvent;
    if (
      p === null ||
      (p.payloadType !== n.payloadType && (te === null || p.payloadType !== te.payloadType))
    ) {
      if (!this.transport.isKnown(address, port)) this.counters.rejected++;
      else if (p === null) this.counters.garbage++;
      else {
        // Comfort noise (RFC 3389) or another payload type of the offer, from the far end itself:
        // not played, but the far end is there (silence suppression, often without RTCP): neither
        // the media timeout nor a stranger's takeover after a silence may take it for silence.
        this.counters.unknownPayload++;
        const now = this.timers.now();
        this.transport.heardFrom(address, port, now);
        this.watchdog.heard(now);
      }
      return false;
    }
    const now = this.timers.now();
    if (!this.transport.admitRtp(address, port, p.ssrc, p.sequence, now)) {
      this.counters.rejected++;
      return false;
    }
    if (this.reporter.remoteSsrc !== p.ssrc || !this.reporter.receiver) {
      this.reporter.resetSource(p.ssrc, n.codec.clockRate);
      f.jb.reset();
      this.bridge.newSource();
    }
    this.reporter.receiver?.update(p.sequence, p.timestamp, now);
    this.counters.received++;
    this.watchdog.heard(now);
    if (p.payloadType === n.payloadType) {
      if (n.localDirection === "sendonly" || n.localDirection === "inactive") return true;
      const d = this.bridge.decode(p.payload, p.timestamp);
      if (d === "malformed") {
        if (this.counters.undecodable++ === 0)
          this.log.warn(
            { codec: n.codec.name, bytes: p.payload.length },
            "undecodable payload dropped (counted)",
          );
      } else if (d === "late") this.counters.lateOrDuplicate++;
      else if (d !== "unready") {
        const r = f.jb.push(d.timestamp, d.samples, now);
        if (r === "late" || r === "duplicate") this.counters.lateOrDuplicate++;
        else if (d.fecSamples > 0) this.counters.fecRecovered++;
      }
    } else {
      this.dtmf.receive(p.timestamp, p.payload); // telephone-event (checked above)
    }
    return true;
  }

  rtcp(packet: Buffer, address: string, port: number): void {
    if (this.stopped) return;
    if (!this.transport.admitRtcp(address, port)) {
      this.counters.rejected++;
      return;
    }
    const clear = this.protection.unprotectRtcp(packet);
    const r = clear === null ? null : this.reporter.receive(clear, this.wallMs());
    if (r === null) {
      this.counters.garbage++;
      return;
    }
    this.counters.rtcpReceived++;
    this.watchdog.heard(this.timers.now());
    if (r === "bye") this.counters.remoteBye = true;
  }

  unreachable(err: string): void {
    if (this.stopped) return;
    const now = this.timers.now();
    if (this.watchdog.unreachable(now)) {
      this.flushUnreachableLog();
      this.unreachableLoggedAt = now;
      this.log.info({ err }, "RTP far end unreachable (ICMP port unreachable); repeats are counted");
    } else {
      this.unreachableRepeats++;
    }
  }

  isUnreachable(now: number): boolean {
    return this.watchdog.isUnreachable(now);
  }

  /** Logs how many unreachable errors followed the run's first line, if any. */
  private flushUnreachableLog(): void {
    if (this.unreachableRepeats === 0) return;
    const now = this.timers.now();
    this.log.info(
      { repeats: this.unreachableRepeats, over_ms: Math.round(now - this.unreachableLoggedAt) },
      "RTP far end unreachable, repeated",
    );
    this.unreachableRepeats = 0;
    this.unreachableLoggedAt = now;
  }

  // ── RTCP ──────────────────────────────────────────────────────────────────────────────────

  private wallMs(): number {
    return performance.timeOrigin + performance.now();
  }

  private scheduleRtcp(): void {
    const mean = this.o.rtcpIntervalMs;
    // RFC 3550 §6.3.1: randomise over [0.5, 1.5] × the interval so reports do not synchronise.
    const delay = mean * (0.5 + Math.random());
    this.rtcpTimer = this.timers.setTimeout(() => {
      this.guard(() => this.sendRtcp(false));
      if (!this.stopped) this.scheduleRtcp();
    }, delay);
  }

  /** A compound report (SR or RR, CNAME), with BYE when leaving (RFC 3550 §6.6). */
  sendRtcp(bye: boolean): void {
    const f = this.format;
    if (!f) return;
    const ts = (this.tsBase + this.tick * f.tsPerFrame) >>> 0;
    const packet = this.reporter.report(
      this.wallMs(),
      {
        packets: this.counters.sent,
        octets: this.counters.octets,
        rtpTimestamp: ts,
        sentSinceLastReport: this.counters.sentSinceReport,
      },
      bye,
    );
    this.counters.sentSinceReport = false;
    if (this.transport.sendRtcp(this.protection.protectRtcp(packet))) this.counters.rtcpSent++;
  }

  // ── statistics ────────────────────────────────────────────────────────────────────────────

  stats(): MediaStats {
    const r = this.reporter.receiver;
    const dropped = this.dropped;
    return {
      packetsSent: this.counters.sent,
      packetsReceived: this.counters.received,
      packetsLost: r?.lost ?? 0,
      jitterMs: r ? Math.round(r.jitterMs * 100) / 100 : 0,
      roundTripMs: this.reporter.roundTrip === null ? null : Math.round(this.reporter.roundTrip * 100) / 100,
      packetsRejected: this.counters.rejected,
      audioUnderruns: this.bridge.underruns,
      audioOverruns: this.bridge.overruns,
      srtpAuthDropped: dropped.auth,
      srtpReplayDropped: dropped.replay,
      fecRecovered: this.counters.fecRecovered,
    };
  }

  details(): MediaCounters {
    const jb = this.format?.jb.stats();
    return {
      ...this.stats(),
      garbage: this.counters.garbage,
      unknownPayload: this.counters.unknownPayload,
      undecodable: this.counters.undecodable,
      lateOrDuplicate: this.counters.lateOrDuplicate,
      concealedFrames: jb?.concealedFrames ?? 0,
      sourceDropped: this.bridge.sourceDropped,
      sinkDropped: this.bridge.sinkDropped,
      rtcpSent: this.counters.rtcpSent,
      rtcpReceived: this.counters.rtcpReceived,
      remoteBye: this.counters.remoteBye,
      codec: this.format?.n.codec.name ?? null,
      localPort: this.transport.localPort,
      encryption: this.protection.kind,
    };
  }
}
