import { hostname } from "node:os";
import type { AudioFaultListener, AudioSink, AudioSource } from "../audio/audio.js";
import type { PcmCache } from "../audio/file-source.js";
import { openSink, openSource } from "../audio/open.js";
import type { AudioOptions } from "../audio/options.js";
import { Resampler } from "../audio/resample.js";
import type { MediaStats } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import { type CodecInstance, type CodecName, createCodec } from "./codecs.js";
import {
  digitToEvent,
  encodeTelephoneEvent,
  type PlannedEventPacket,
  planTelephoneEvent,
  TelephoneEventReceiver,
} from "./dtmf.js";
import { JitterBuffer } from "./jitter-buffer.js";
import { type MediaDirection, MediaError, type MediaSession } from "./media.js";
import { MediaWatchdog } from "./media-watchdog.js";
import type { PortPair } from "./port-allocator.js";
import { RtcpReporter } from "./rtcp-reporter.js";
import { parseRtp, RTP_HEADER_BYTES, writeRtpHeader } from "./rtp-packet.js";
import { acceptAnswer, answerOffer, buildOffer, flow, type Negotiated, offerDirection } from "./sdp.js";
import { realTimers, SendClock, type TimerDeps } from "./send-clock.js";
import { type Endpoint, SourceFilter } from "./source-filter.js";

export const FRAME_MS = 20;

export interface RtpSessionOptions {
  readonly callId: string;
  /** Address put in c=/o= (the ports are bound by the allocator, possibly to 0.0.0.0). */
  readonly address: string;
  readonly ports: PortPair;
  readonly codecs: readonly CodecName[];
  readonly audio: AudioOptions;
  readonly log: Logger;
  readonly onAudioFault?: AudioFaultListener | undefined;
  /** Mean RTCP interval (RFC 3550 §6.2: 5 s minimum for a two-party call). */
  readonly rtcpIntervalMs?: number;
  readonly timers?: TimerDeps;
  /** DTMF tone length and gap, ms. */
  readonly dtmfDurationMs?: number;
  /** Decoded audio files shared between calls (the factory's). */
  readonly pcmCache?: PcmCache;
  /** Nothing heard from the far end this long ends its media (onMediaTimeout), ms; 0 = off. Default 30 s. */
  readonly mediaTimeoutMs?: number;
  /** The same while either side holds, ms; 0 = off. Default 300 s. */
  readonly holdMediaTimeoutMs?: number;
  /** ICMP port-unreachable on our sends this long, nothing heard meanwhile, ends it sooner. Default 5 s. */
  readonly unreachableTimeoutMs?: number;
}

export const DEFAULT_MEDIA_TIMEOUT_MS = 30_000;
export const DEFAULT_HOLD_MEDIA_TIMEOUT_MS = 300_000;
export const DEFAULT_UNREACHABLE_TIMEOUT_MS = 5_000;
/** The watchdog is consulted every this many ticks of the packet clock (no timer of its own). */
const WATCH_TICKS = 25;
/** During a long run of ICMP unreachable errors, their count is logged this often. */
const UNREACHABLE_LOG_MS = 60_000;

/** Counters beyond MediaStats, for logs, tests and the benchmark. */
export interface MediaCounters extends MediaStats {
  readonly garbage: number;
  readonly unknownPayload: number;
  readonly lateOrDuplicate: number;
  readonly concealedFrames: number;
  readonly sourceDropped: number;
  readonly sinkDropped: number;
  readonly rtcpSent: number;
  readonly rtcpReceived: number;
  readonly remoteBye: boolean;
  readonly codec: CodecName | null;
  readonly localPort: number;
}

interface Active {
  readonly n: Negotiated;
  /** flow(n), computed once per negotiation rather than on every tick. */
  readonly send: boolean;
  readonly receive: boolean;
  readonly codec: CodecInstance;
  readonly jb: JitterBuffer;
  /** Reused every tick (nothing keeps them beyond the tick): the frame played out... */
  readonly frame: Int16Array;
  /** ...the frame to send, at the codec's rate... */
  readonly sendFrame: Int16Array;
  /** ...and its encoded payload, copied into each packet. */
  readonly payload: Uint8Array;
  /** RTP timestamp units per 20 ms frame. */
  readonly tsPerFrame: number;
  /** Decoded samples per payload byte (2 for G.722). */
  readonly samplesPerByte: number;
}

/** State of the RTP socket's connect() to the latched far end (see syncConnection). */
type ConnectState = "none" | "connecting" | "connected";

function random32(): number {
  return Math.floor(Math.random() * 0x100000000) >>> 0;
}

/** Packets held while the RTP socket connects (a connect takes one loop turn). */
const CONNECT_QUEUE = 8;

export class RtpMediaSession implements MediaSession {
  private readonly log: Logger;
  private readonly sessionId = String(Math.floor(Math.random() * 1e9) + 1e9);
  private version = 0;
  private lastOffer: { codecs: readonly CodecName[]; direction: MediaDirection } | null = null;
  private active: Active | null = null;
  private remoteDir: MediaDirection = "sendrecv";
  private muted = false;
  private readonly filter = new SourceFilter();
  private readonly rtcp: RtcpReporter;
  private readonly clock: SendClock;
  private readonly timers: TimerDeps;
  private rtcpTimer: unknown = null;
  private readonly ssrc = random32();
  private seq = random32() & 0xffff;
  private readonly tsBase = random32();
  private tick = 0;
  private sendingBefore = false;
  private counters = {
    sent: 0,
    octets: 0,
    sentSinceReport: false,
    received: 0,
    rejected: 0,
    garbage: 0,
    unknownPayload: 0,
    lateOrDuplicate: 0,
    rtcpSent: 0,
    rtcpReceived: 0,
    remoteBye: false,
  };
  private dtmfListeners: Array<(digit: string) => void> = [];
  private readonly dtmfRx = new TelephoneEventReceiver((d) => this.emitDigit(d));
  private dtmfQueue: Array<{ packets: PlannedEventPacket[]; startTick: number | null; done: () => void }> =
    [];
  private dtmfTs = 0;
  private source: AudioSource | null = null;
  private sink: AudioSink | null = null;
  private audioOpening: Promise<void> | null = null;
  private toCodec: Resampler | null = null;
  private toSink: Resampler | null = null;
  /** The source's frame when it runs at another rate than the codec (reused every tick). */
  private rawFrame: Int16Array | null = null;
  /** Where received payloads are decoded (the jitter buffer copies what it keeps). */
  private decoded = new Int16Array(0);
  private closed: Promise<MediaStats> | null = null;
  private clockStarting = false;
  private conn: ConnectState = "none";
  /** The endpoint the RTP socket is connected (or connecting) to: the latched one. */
  private connTo: Endpoint | null = null;
  /** An endpoint whose connect() failed: not retried until the latch changes. */
  private connFailed: Endpoint | null = null;
  /** Packets sent while connect() was under way, sent once it completes. */
  private readonly connQueue: Buffer[] = [];
  private readonly watchdog: MediaWatchdog;
  private readonly mediaTimeoutListeners: ((detail: string) => void)[] = [];
  /** The tick at which the watchdog is next consulted. */
  private watchAt = 0;
  /** Unreachable errors after the first of the current run (logged as a count), and since when. */
  private unreachableRepeats = 0;
  private unreachableLoggedAt = 0;

  constructor(private readonly o: RtpSessionOptions) {
    this.log = o.log;
    this.timers = o.timers ?? realTimers;
    this.rtcp = new RtcpReporter(this.ssrc, `cuffia@${hostname()}`);
    this.clock = new SendClock(FRAME_MS, (n) => this.onTick(n), this.timers);
    this.watchdog = new MediaWatchdog({
      mediaMs: o.mediaTimeoutMs ?? DEFAULT_MEDIA_TIMEOUT_MS,
      holdMs: o.holdMediaTimeoutMs ?? DEFAULT_HOLD_MEDIA_TIMEOUT_MS,
      unreachableMs: o.unreachableTimeoutMs ?? DEFAULT_UNREACHABLE_TIMEOUT_MS,
    });
    // No closure per packet: the handler itself catches (50 packets a second, every call).
    o.ports.rtp.on("message", (msg, rinfo) => {
      try {
        // After the packet is in the jitter buffer: the clock may send (and play) the coming
        // tick from this wake-up.
        if (this.onRtp(msg, rinfo.address, rinfo.port)) this.clock.arrival();
      } catch (e) {
        this.log.error({ err: (e as Error).message }, "media handler failed");
      }
    });
    o.ports.rtcp.on("message", (msg, rinfo) => this.guard(() => this.onRtcp(msg, rinfo.address, rinfo.port)));
    o.ports.rtp.on("error", (e: NodeJS.ErrnoException) => {
      // A connected UDP socket reports the far end's ICMP port-unreachable (its port closed,
      // typically just before its BYE, or its host or process gone): one per packet we send,
      // 50 a second, so logged once per run and then counted; a long run ends the media.
      if (e.code === "ECONNREFUSED") this.guard(() => this.onUnreachable(e.message));
      else this.log.warn({ err: e.message }, "RTP socket error");
    });
    o.ports.rtcp.on("error", (e) => this.log.warn({ err: e.message }, "RTCP socket error"));
  }

  get localPort(): number {
    return this.o.ports.port;
  }

  get remoteDirection(): MediaDirection {
    return this.remoteDir;
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "media handler failed");
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new MediaError("closed", "media session is closed");
  }

  private local() {
    this.version++;
    return {
      address: this.o.address,
      port: this.o.ports.port,
      sessionId: this.sessionId,
      version: this.version,
      codecs: this.o.codecs,
    };
  }

  createOffer(options: { readonly hold: boolean }): string {
    this.assertOpen();
    const direction = offerDirection(options.hold, this.remoteDir);
    this.lastOffer = { codecs: this.o.codecs, direction };
    return buildOffer(this.local(), direction);
  }

  answer(remoteSdp: string, options: { readonly hold: boolean }): string {
    this.assertOpen();
    // Only a successful negotiation uses up an o= version (RFC 3264 §8: it changes per new SDP).
    const version = this.version;
    try {
      const { sdp, negotiated } = answerOffer(this.local(), remoteSdp, options.hold);
      this.apply(negotiated);
      return sdp;
    } catch (e) {
      this.version = version;
      throw e instanceof MediaError ? e : new MediaError("malformed", (e as Error).message);
    }
  }

  acceptAnswer(remoteSdp: string): void {
    this.assertOpen();
    const offer = this.lastOffer;
    if (!offer) throw new MediaError("incompatible", "no offer of ours is pending");
    let n: Negotiated;
    try {
      n = acceptAnswer(offer.codecs, offer.direction, remoteSdp);
    } catch (e) {
      throw e instanceof MediaError ? e : new MediaError("malformed", (e as Error).message);
    }
    this.lastOffer = null;
    this.apply(n);
  }

  private apply(n: Negotiated): void {
    const wasHeld = this.active ? this.isHeld(this.active, this.remoteDir) : true;
    const moved =
      !this.active ||
      this.active.n.remoteAddress !== n.remoteAddress ||
      this.active.n.remotePort !== n.remotePort;
    this.remoteDir = n.remoteDirection;
    this.filter.setExpected({ address: n.remoteAddress, port: n.remotePort }, n.remoteRtcpPort);
    this.syncConnection(); // a moved stream unlatched: disconnect until the new source latches
    const prev = this.active;
    const f = flow(n);
    if (!prev || prev.n.codec.name !== n.codec.name || prev.n.payloadType !== n.payloadType) {
      const frameSamples = (n.codec.sampleRate * FRAME_MS) / 1000;
      const tsPerFrame = (n.codec.clockRate * FRAME_MS) / 1000;
      this.active = {
        n,
        send: f.send,
        receive: f.receive,
        codec: createCodec(n.codec.name),
        jb: new JitterBuffer({
          sampleRate: n.codec.sampleRate,
          samplesPerTick: n.codec.sampleRate / n.codec.clockRate,
          frameSamples,
        }),
        frame: new Int16Array(frameSamples),
        sendFrame: new Int16Array(frameSamples),
        // G.711 and G.722 (64 kbit/s, 8000 Hz RTP clock) alike: one byte per timestamp unit.
        payload: new Uint8Array(tsPerFrame),
        tsPerFrame,
        samplesPerByte: n.codec.sampleRate / n.codec.clockRate,
      };
      this.rtcp.remoteSsrc = null;
      this.setupResamplers();
    } else {
      this.active = { ...prev, n, send: f.send, receive: f.receive };
    }
    // The watchdog's clock starts with the media, and starts over when the stream moves (a new
    // far end gets the whole timeout) or comes back from hold (RTP resumes after a silence the
    // hold limit allowed).
    const active = this.active;
    if (active && (moved || (wasHeld && !this.isHeld(active, this.remoteDir)))) {
      this.watchdog.start(this.timers.now());
      this.flushUnreachableLog();
    }
    this.log.debug(
      {
        codec: n.codec.name,
        pt: n.payloadType,
        te: n.telephoneEvent?.payloadType ?? null,
        remote: `${n.remoteAddress}:${n.remotePort}`,
        local: n.localDirection,
        remoteDirection: n.remoteDirection,
        send: f.send,
        receive: f.receive,
      },
      "media negotiated",
    );
    if (this.clock.isRunning || this.clockStarting) {
      this.ensureAudio(n.codec.sampleRate);
      return;
    }
    // Audio devices and the first packet wait for the current turn of the event loop: the 200 OK
    // (or ACK) carrying this answer leaves first, without waiting for arecord/aplay to be spawned.
    this.clockStarting = true;
    setImmediate(() => {
      this.clockStarting = false;
      if (this.closed || this.clock.isRunning || !this.active) return;
      this.ensureAudio(this.active.n.codec.sampleRate);
      this.clock.begin();
      this.scheduleRtcp();
    });
  }

  private ensureAudio(rate: number): void {
    if (this.audioOpening) return;
    const ctx = {
      rate,
      callId: this.o.callId,
      log: this.log.child("audio"),
      onFault: this.o.onAudioFault,
      pcmCache: this.o.pcmCache,
    };
    this.audioOpening = (async () => {
      const [src, snk] = await Promise.allSettled([
        openSource(this.o.audio.source, ctx),
        openSink(this.o.audio.sink, ctx),
      ]);
      if (this.closed) {
        if (src.status === "fulfilled") await src.value.close();
        if (snk.status === "fulfilled") await snk.value.close();
        return;
      }
      for (const [which, r] of [
        ["source", src],
        ["sink", snk],
      ] as const) {
        if (r.status === "rejected") {
          const message = (r.reason as Error).message;
          this.log.error({ which, err: message }, "cannot open call audio; using silence");
          this.o.onAudioFault?.({ device: "file", message, retryInMs: null });
        }
      }
      if (src.status === "fulfilled") this.source = src.value;
      if (snk.status === "fulfilled") this.sink = snk.value;
      this.setupResamplers();
    })();
  }

  private setupResamplers(): void {
    const a = this.active;
    if (!a) return;
    const r = a.n.codec.sampleRate;
    this.toCodec = this.source && this.source.rate !== r ? new Resampler(this.source.rate, r) : null;
    this.toSink = this.sink && this.sink.rate !== r ? new Resampler(r, this.sink.rate) : null;
    this.rawFrame =
      this.source && this.toCodec ? new Int16Array(Math.round((this.source.rate * FRAME_MS) / 1000)) : null;
  }

  setMuted(muted: boolean): void {
    this.muted = muted;
  }

  onDtmf(listener: (digit: string) => void): void {
    this.dtmfListeners.push(listener);
  }

  onMediaTimeout(listener: (detail: string) => void): void {
    this.mediaTimeoutListeners.push(listener);
  }

  /** Either side holds (or the far end sends nothing by its description): the hold limit applies. */
  private isHeld(a: Active, remoteDir: MediaDirection): boolean {
    return (
      !a.receive || remoteDir === "sendonly" || remoteDir === "inactive" || a.n.remoteAddress === "0.0.0.0"
    );
  }

  /** Consulted from the packet clock every WATCH_TICKS ticks. */
  private watch(a: Active): void {
    const now = this.timers.now();
    const w = this.watchdog;
    if (
      this.unreachableRepeats > 0 &&
      (!w.isUnreachable(now) || now - this.unreachableLoggedAt >= UNREACHABLE_LOG_MS)
    )
      this.flushUnreachableLog();
    // The latched source fell silent (another may take over) or is back: (dis)connect.
    if (this.filter.latched !== null) this.syncConnection();
    const detail = w.check(now, this.isHeld(a, this.remoteDir));
    if (detail === null) return;
    this.flushUnreachableLog();
    this.log.warn(
      { detail, silent_ms: Math.round(w.silentFor(now)), remote_direction: this.remoteDir },
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

  private onUnreachable(err: string): void {
    if (this.closed) return;
    const now = this.timers.now();
    if (this.watchdog.unreachable(now)) {
      this.flushUnreachableLog();
      this.unreachableLoggedAt = now;
      this.log.info({ err }, "RTP far end unreachable (ICMP port unreachable); repeats are counted");
    } else {
      this.unreachableRepeats++;
    }
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

  private emitDigit(d: string): void {
    this.log.debug({ digit: d }, "DTMF received");
    for (const l of this.dtmfListeners) {
      try {
        l(d);
      } catch (e) {
        this.log.error({ err: (e as Error).message }, "DTMF listener threw");
      }
    }
  }

  sendDtmf(digits: string): Promise<void> {
    if (this.closed) return Promise.reject(new MediaError("closed", "media session is closed"));
    const te = this.active?.n.telephoneEvent;
    if (!this.active || !te) {
      return Promise.reject(new MediaError("incompatible", "telephone-event was not negotiated"));
    }
    const events: number[] = [];
    for (const d of digits) {
      const e = digitToEvent(d);
      if (e === null)
        return Promise.reject(new MediaError("malformed", `not a DTMF digit: ${JSON.stringify(d)}`));
      events.push(e);
    }
    const durationMs = this.o.dtmfDurationMs ?? 100;
    const all = events.map(
      (e) =>
        new Promise<void>((done) => {
          const packets = planTelephoneEvent(e, {
            durationMs,
            intervalMs: FRAME_MS,
            clockRate: te.clockRate,
          });
          this.dtmfQueue.push({ packets, startTick: null, done });
        }),
    );
    return Promise.all(all).then(() => undefined);
  }

  /** One 20 ms tick: play one frame out, send one packet (audio or event). */
  private onTick(n: number): void {
    this.tick = n;
    const a = this.active;
    if (!a) return;
    if (n >= this.watchAt) {
      this.watchAt = n + WATCH_TICKS;
      this.watch(a);
      if (this.closed) return; // a media-timeout listener ended the call
    }
    // Receive side: the sink always gets a frame, so the device never starves.
    const out = a.frame;
    if (a.receive) a.jb.pull(out, this.timers.now());
    else out.fill(0);
    if (this.sink) this.sink.write(this.toSink ? this.toSink.process(out) : out);

    // Send side. The source is read even when not sending, so it stays in step with the clock.
    const codecFrame = a.sendFrame;
    if (this.source) {
      if (this.toCodec && this.rawFrame) {
        this.source.read(this.rawFrame);
        const conv = this.toCodec.process(this.rawFrame);
        const k = Math.min(conv.length, codecFrame.length);
        codecFrame.set(k === conv.length ? conv : conv.subarray(0, k));
        codecFrame.fill(0, k);
      } else {
        this.source.read(codecFrame);
      }
    } else {
      codecFrame.fill(0);
    }
    if (!a.send) {
      this.sendingBefore = false;
      this.abortDtmf();
      return;
    }
    const ts = (this.tsBase + n * a.tsPerFrame) >>> 0;
    if (this.dtmfQueue.length > 0 && this.sendDtmfTick(a, ts)) return;
    // Muted, or held by us (sendonly): silence, so the far end's jitter buffer and NAT stay alive.
    if (this.muted || a.n.localDirection === "sendonly") codecFrame.fill(0);
    this.send(a.n.payloadType, !this.sendingBefore, ts, a.codec.encode(codecFrame, a.payload));
    this.sendingBefore = true;
  }

  /** Sends this tick's telephone-event packet if an event is under way; true if it did. */
  private sendDtmfTick(a: Active, ts: number): boolean {
    const te = a.n.telephoneEvent;
    const cur = this.dtmfQueue[0];
    if (!cur || !te) return false;
    if (cur.startTick === null) {
      cur.startTick = this.tick;
      this.dtmfTs = ts; // RFC 4733 §2.5.1.2: every packet of the event carries its start time
    }
    const at = (this.tick - cur.startTick) * FRAME_MS;
    let sentAny = false;
    while (cur.packets.length > 0 && (cur.packets[0]?.atMs ?? 0) <= at) {
      const p = cur.packets.shift();
      if (!p) break;
      this.send(te.payloadType, p.marker, this.dtmfTs, encodeTelephoneEvent(p.payload));
      sentAny = true;
    }
    if (cur.packets.length === 0) {
      this.dtmfQueue.shift();
      cur.done();
    }
    return sentAny || cur.packets.length > 0;
  }

  private abortDtmf(): void {
    for (const q of this.dtmfQueue.splice(0)) q.done();
  }

  private sendTarget(): { address: string; port: number } | null {
    const a = this.active;
    if (!a) return null;
    // Only the latched source, or the SDP's address before one is: never a stranger.
    return this.filter.latched ?? this.filter.expectedEndpoint;
  }

  private send(pt: number, marker: boolean, ts: number, payload: Uint8Array): void {
    const to = this.sendTarget();
    if (!to || to.port === 0) return;
    // A packet of its own every time (a pool slice, cheap): dgram may still hold it queued
    // when the socket would block, so it must not be rewritten by the next tick.
    const pkt = Buffer.allocUnsafe(RTP_HEADER_BYTES + payload.length);
    writeRtpHeader(pkt, pt, marker, this.seq, ts, this.ssrc);
    pkt.set(payload, RTP_HEADER_BYTES);
    this.seq = (this.seq + 1) & 0xffff;
    this.counters.sent++;
    this.counters.octets += payload.length;
    this.counters.sentSinceReport = true;
    this.transmit(pkt, to);
  }

  private transmit(pkt: Buffer, to: Endpoint): void {
    const sock = this.o.ports.rtp;
    if (this.conn === "connected" && this.connTo === to) {
      // Connected to the latched far end: no address to resolve, no callback, no nextTick;
      // dgram sends at once. Errors (ECONNREFUSED) surface as the socket's "error" event.
      sock.send(pkt);
      return;
    }
    if (this.conn === "connected") this.syncConnection(); // latch moved: disconnect first
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
  private syncConnection(): void {
    if (this.conn === "connecting") return; // re-evaluated when connect() completes
    const want = this.closed ? null : this.connectTarget();
    const sock = this.o.ports.rtp;
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
        const to = this.closed ? null : this.sendTarget();
        for (const pkt of this.connQueue.splice(0)) if (to && to.port !== 0) this.transmit(pkt, to);
        this.syncConnection(); // the latch may have moved meanwhile
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
  private connectTarget(): Endpoint | null {
    const l = this.filter.latched;
    if (l === null) return null;
    const now = this.timers.now();
    if (this.filter.isLearning(now) && !this.watchdog.isUnreachable(now)) return null;
    return l;
  }

  /** Takes one RTP datagram; true if it was a packet of the far end's stream. */
  private onRtp(msg: Buffer, address: string, port: number): boolean {
    const a = this.active;
    if (!a || this.closed) return false;
    // Only RTP with a payload type negotiated for this call counts (and may latch): the far
    // end's own garbage or comfort noise is counted as such, anything of a stranger's rejected.
    const p = parseRtp(msg);
    const te = a.n.telephoneEvent;
    if (
      p === null ||
      (p.payloadType !== a.n.payloadType && (te === null || p.payloadType !== te.payloadType))
    ) {
      if (!this.filter.isKnown(address, port)) this.counters.rejected++;
      else if (p === null) this.counters.garbage++;
      else this.counters.unknownPayload++;
      return false;
    }
    const now = this.timers.now();
    const before = this.filter.latched;
    if (this.filter.check(address, port, p.ssrc, p.sequence, now) === "reject") {
      this.counters.rejected++;
      return false;
    }
    if (this.filter.latched !== before) {
      this.log.debug(
        { source: `${address}:${port}`, previous: before ? `${before.address}:${before.port}` : null },
        "RTP source latched",
      );
      this.syncConnection();
    } else if (this.conn === "none") {
      this.syncConnection(); // the source is back after a silence: connect again
    }
    if (this.rtcp.remoteSsrc !== p.ssrc || !this.rtcp.receiver) {
      this.rtcp.resetSource(p.ssrc, a.n.codec.clockRate);
      a.jb.reset();
    }
    this.rtcp.receiver?.update(p.sequence, p.timestamp, now);
    this.counters.received++;
    this.watchdog.heard(now);
    if (p.payloadType === a.n.payloadType) {
      if (a.n.localDirection === "sendonly" || a.n.localDirection === "inactive") return true;
      const need = p.payload.length * a.samplesPerByte;
      if (this.decoded.length < need) this.decoded = new Int16Array(Math.max(need, 320));
      const pcm = a.codec.decode(p.payload, this.decoded.subarray(0, need));
      const r = a.jb.push(p.timestamp, pcm, now);
      if (r === "late" || r === "duplicate") this.counters.lateOrDuplicate++;
    } else {
      this.dtmfRx.receive(p.timestamp, p.payload); // telephone-event (checked above)
    }
    return true;
  }

  private onRtcp(msg: Buffer, address: string, port: number): void {
    if (this.closed) return;
    if (this.filter.checkControl(address, port) === "reject") {
      this.counters.rejected++;
      return;
    }
    const r = this.rtcp.receive(msg, this.wallMs());
    if (r === null) {
      this.counters.garbage++;
      return;
    }
    this.counters.rtcpReceived++;
    this.watchdog.heard(this.timers.now());
    if (r === "bye") this.counters.remoteBye = true;
  }

  private wallMs(): number {
    return performance.timeOrigin + performance.now();
  }

  private scheduleRtcp(): void {
    const mean = this.o.rtcpIntervalMs ?? 5000;
    // RFC 3550 §6.3.1: randomise over [0.5, 1.5] × the interval so reports do not synchronise.
    const delay = mean * (0.5 + Math.random());
    this.rtcpTimer = this.timers.setTimeout(() => {
      this.guard(() => this.sendRtcp(false));
      if (!this.closed) this.scheduleRtcp();
    }, delay);
  }

  private sendRtcp(bye: boolean): void {
    const a = this.active;
    if (!a) return;
    const ts = (this.tsBase + this.tick * a.tsPerFrame) >>> 0;
    const packet = this.rtcp.report(
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
    const latched = this.filter.latched;
    const address = latched?.address ?? a.n.remoteAddress;
    if (address === "0.0.0.0") return;
    this.counters.rtcpSent++;
    this.o.ports.rtcp.send(packet, a.n.remoteRtcpPort, address, (err) => {
      if (err) this.log.debug({ err: err.message }, "RTCP send failed");
    });
  }

  stats(): MediaStats {
    const r = this.rtcp.receiver;
    return {
      packetsSent: this.counters.sent,
      packetsReceived: this.counters.received,
      packetsLost: r?.lost ?? 0,
      jitterMs: r ? Math.round(r.jitterMs * 100) / 100 : 0,
      roundTripMs: this.rtcp.roundTrip === null ? null : Math.round(this.rtcp.roundTrip * 100) / 100,
      packetsRejected: this.counters.rejected,
      audioUnderruns: this.sink?.xruns ?? 0,
      audioOverruns: this.source?.xruns ?? 0,
    };
  }

  details(): MediaCounters {
    const jb = this.active?.jb.stats();
    return {
      ...this.stats(),
      garbage: this.counters.garbage,
      unknownPayload: this.counters.unknownPayload,
      lateOrDuplicate: this.counters.lateOrDuplicate,
      concealedFrames: jb?.concealedFrames ?? 0,
      sourceDropped: this.source?.dropped ?? 0,
      sinkDropped: this.sink?.dropped ?? 0,
      rtcpSent: this.counters.rtcpSent,
      rtcpReceived: this.counters.rtcpReceived,
      remoteBye: this.counters.remoteBye,
      codec: this.active?.n.codec.name ?? null,
      localPort: this.o.ports.port,
    };
  }

  close(): Promise<MediaStats> {
    this.closed ??= (async () => {
      this.clock.stop();
      if (this.rtcpTimer !== null) this.timers.clearTimeout(this.rtcpTimer);
      this.abortDtmf();
      this.flushUnreachableLog();
      // RFC 3550 §6.6: BYE in a compound packet when leaving.
      this.guard(() => this.sendRtcp(true));
      const final = this.stats();
      await new Promise((r) => setImmediate(r)); // let the BYE leave before the socket closes
      await this.audioOpening?.catch(() => undefined);
      const closing: Array<Promise<void>> = [];
      if (this.source) closing.push(this.source.close());
      if (this.sink) closing.push(this.sink.close());
      await Promise.allSettled(closing);
      await this.o.ports.release();
      this.log.debug({ ...final }, "media closed");
      return final;
    })();
    return this.closed;
  }
}
