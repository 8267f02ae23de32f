/**
 * The headset speaker through `aplay -t raw -f S16_LE -r RATE -c 1 -D DEVICE` with explicit ALSA
 * period, buffer and start threshold (latency.ts): playback starts once two periods are queued
 * instead of aplay's default half second.
 *
 * The delay must not creep. aplay also prints a VU meter line (`-V mono`) after each period it
 * hands to ALSA, so the speaker knows how much it has written that aplay has not yet taken
 * (the pipe, plus aplay's own partial period). aplay stops taking only when ALSA's buffer is
 * full: then everything queued beyond the start threshold is excess (a burst from the clock,
 * aplay starved of CPU, a card slower than the host's clock) and the next frames are dropped
 * until the depth is back at its target. An aplay that stopped ticking is stalled, not blocked
 * on a full buffer: its backlog is kept. Repeated underruns, or frames that find the card nearly
 * dry, add a period of depth (up to the profile's buffer); three clean minutes take one back
 * (depth-adapt.ts). Dropped samples and the underruns aplay reports are counted. A dead aplay is
 * restarted with backoff (Supervisor); frames meanwhile are dropped.
 */
import { type ChildProcess, spawn as spawnChild } from "node:child_process";
import type { Logger } from "../log/logger.js";
import type { AudioFaultListener, AudioSink, SinkDepth } from "./audio.js";
import { explainEnd } from "./card.js";
import { DepthAdapt } from "./depth-adapt.js";
import {
  type AlsaParams,
  alsaStreamArgs,
  DEFAULT_LATENCY,
  type DeviceLatency,
  parseAlsaSetup,
} from "./latency.js";
import type { RealtimePriority } from "./realtime.js";
import { Resampler } from "./resample.js";
import { type Running, Supervisor } from "./supervisor.js";
import { pcmToBytes } from "./wav.js";

export interface Playback extends Running {
  /** false when the pipe is full: wait for onDrain before writing more. */
  write(bytes: Uint8Array): boolean;
}

/** What a running aplay tells about itself (all optional: fakes may report nothing). */
export interface PlaybackReports {
  /** The hw/sw parameters in force, once aplay printed them. */
  readonly onParams?: (params: AlsaParams) => void;
  /** aplay handed `frames` more to ALSA. */
  readonly onPlayed?: (frames: number) => void;
  /** ALSA reported an underrun (the card ran dry). */
  readonly onUnderrun?: () => void;
}

export type PlaybackSpawner = (
  options: {
    readonly device: string;
    readonly rate: number;
    readonly latency: DeviceLatency;
    /** Runs the process at real-time priority when permitted (realtime.ts). */
    readonly realtime?: RealtimePriority | undefined;
  },
  onDrain: () => void,
  onEnd: (message: string) => void,
  reports?: PlaybackReports,
) => Playback;

/** Reads aplay's/arecord's stderr: the setup dump, meter ticks, xrun lines, and error text. */
export class AlsaStderr {
  private setup = "";
  private params: AlsaParams | null = null;
  private line = "";
  /** The last non-meter lines, for the exit message. */
  tail = "";

  constructor(
    private readonly on: {
      params?: (p: AlsaParams) => void;
      meter?: () => void;
      xrun?: () => void;
    },
  ) {}

  push(text: string): void {
    for (const ch of text) {
      if (ch === "\r") {
        // A VU meter line is "\r####...| NN%": each one is one period written.
        if (this.params) this.on.meter?.();
        this.line = "";
      } else if (ch === "\n") {
        this.endLine(this.line);
        this.line = "";
      } else if (this.line.length < 400) {
        this.line += ch;
      }
    }
  }

  private endLine(line: string): void {
    // "underrun!!! (at least N ms long)" follows a meter line on the same line.
    if (/(underrun|overrun)!!!/.test(line)) {
      this.on.xrun?.();
      return;
    }
    if (!this.params) {
      this.setup += `${line}\n`;
      const p = parseAlsaSetup(this.setup);
      if (p && /^\s*boundary\s*:/.test(line)) {
        this.params = p;
        this.on.params?.(p);
      }
      if (this.setup.length > 16_384) this.setup = this.setup.slice(-8192);
    }
    if (!/^\s|^Playing|^Recording|^#/.test(line) && line.trim() !== "") {
      this.tail = `${this.tail}\n${line}`.slice(-300).trim();
    }
  }
}

/**
 * SIGTERM, then SIGKILL after a second: an aplay blocked inside an ALSA plugin (seen with the
 * pulse plugin) can sit on SIGTERM, and a stuck process must not hold the card.
 */
export function stopChild(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill();
  const t = setTimeout(() => child.kill("SIGKILL"), 1000);
  t.unref();
  child.once("close", () => clearTimeout(t));
}

export const aplaySpawner: PlaybackSpawner = (options, onDrain, onEnd, reports) => {
  const argv = [
    ...alsaStreamArgs(options, true), // with -v, the setup dump: the parameters in force
    "-V",
    "mono", // one meter line per period handed to ALSA: how far aplay has got
  ];
  const [command, args] = options.realtime?.command("aplay", argv) ?? ["aplay", argv];
  const child = spawnChild(command, args, { stdio: ["pipe", "ignore", "pipe"] });
  let ended = false;
  let periodSize = 0;
  const err = new AlsaStderr({
    params: (p) => {
      periodSize = p.periodSize;
      reports?.onParams?.(p);
    },
    meter: () => reports?.onPlayed?.(periodSize),
    xrun: () => reports?.onUnderrun?.(),
  });
  const end = (message: string): void => {
    if (!ended) {
      ended = true;
      onEnd(message);
    }
  };
  child.stderr?.setEncoding("latin1");
  child.stderr?.on("data", (d: string) => err.push(d));
  child.on("error", (e) => end(`aplay: ${e.message}`));
  child.on("close", (code, signal) =>
    end(`aplay exited (code ${code}, signal ${signal})${err.tail ? `: ${err.tail}` : ""}`),
  );
  child.stdin?.on("error", () => undefined); // EPIPE when aplay dies: reported through close
  child.stdin?.on("drain", onDrain);
  return {
    write: (bytes) => (child.stdin ? child.stdin.write(bytes) : false),
    stop: () => {
      ended = true;
      child.stdin?.destroy();
      stopChild(child);
    },
  };
};

export interface SpeakerOptions {
  readonly device: string;
  /** The call's rate: what `write` is given. */
  readonly rate: number;
  /** The rate the card is opened at (default `rate`); resampled with a low-pass in between. */
  readonly deviceRate?: number;
  readonly latency?: DeviceLatency;
  readonly log: Logger;
  readonly onFault?: AudioFaultListener | undefined;
  /** Queue capacity in frames while the pipe itself is full (default 10 = 200 ms). */
  readonly queueFrames?: number;
  readonly spawn?: PlaybackSpawner;
  /** Real-time priority for aplay (realtime.ts); none: normal priority. */
  readonly realtime?: RealtimePriority | undefined;
  /** Milliseconds, monotonic (tests drive it). */
  readonly now?: () => number;
}

/**
 * ALSA's playback buffer as seen from outside: aplay's meter says what goes in, the clock says
 * what the card has played since it started (at the start threshold), an underrun empties it.
 * The card's clock drifts from the host's; the estimate is pulled back whenever aplay shows the
 * buffer full (it cannot hand a period over) or ALSA reports an underrun.
 */
export class CardModel {
  fill = 0;
  running = false;
  private at = 0;

  reset(now: number): void {
    this.fill = 0;
    this.running = false;
    this.at = now;
  }

  advance(now: number, rate: number): void {
    if (this.running) {
      this.fill -= ((now - this.at) * rate) / 1000;
      if (this.fill <= 0) {
        this.fill = 0;
        this.running = false; // ran dry: a real card stops until the threshold is reached again
      }
    }
    this.at = now;
  }

  handed(now: number, rate: number, frames: number, startThreshold: number, bufferSize = Infinity): void {
    this.advance(now, rate);
    // Never more than ALSA's buffer holds: a card that plays faster than the host's clock says
    // (or a sound server that renders in bursts) would otherwise leave the estimate ever higher,
    // and the speaker dropping frames for an excess that is not there.
    this.fill = Math.min(this.fill + frames, bufferSize);
    if (!this.running && this.fill >= startThreshold) this.running = true;
  }

  /** The estimate at `now`, without moving it (for a reader that must not disturb the model). */
  fillAt(now: number, rate: number): number {
    return this.running ? Math.max(0, this.fill - ((now - this.at) * rate) / 1000) : this.fill;
  }

  atLeast(frames: number): void {
    if (this.fill < frames) this.fill = frames;
  }
}

export class Speaker implements AudioSink {
  readonly rate: number;
  /** The rate the card runs at: asked for, or what the card gave instead (see onParams). */
  deviceRate: number;
  readonly latency: DeviceLatency;
  /** Samples (at the device rate) dropped: excess depth, a full pipe, or no aplay running. */
  dropped = 0;
  /** Underruns aplay reported. */
  underruns = 0;
  /** Samples (at the device rate) of silence put in: at start, after underruns, for missing frames. */
  padded = 0;
  /** The ALSA parameters of the running aplay (null until it printed them). */
  params: AlsaParams | null = null;
  private readonly queue: Buffer[] = [];
  private readonly capacity: number;
  private playback: Playback | null = null;
  /** Identifies the running aplay's callbacks. */
  private current: object | null = null;
  private blocked = false;
  private readonly supervisor: Supervisor;
  private resampler: Resampler | null;
  /** Samples given to the running aplay, and how many it reported handed to ALSA. */
  private written = 0;
  private played = 0;
  /** What ALSA's buffer holds, estimated. */
  private readonly card = new CardModel();
  private readonly now: () => number;
  /** Extra periods of depth after repeated underruns (depth-adapt.ts). */
  private readonly adapt: DepthAdapt;
  private readonly log: Logger;
  /** When aplay last reported a period handed to ALSA (it ticks every period while it plays). */
  private lastPlayedAt = 0;
  /** The card just ran dry: the next frame may bring the depth up to target with silence. */
  private topUp = false;
  /** Frames in a row that left the queue short of its target by more than half a frame. */
  private short = 0;
  /** When the last frame was written (for the underrun log: was it the feed or the card?). */
  private lastWriteAt = 0;
  /** Samples (device rate) of the last frame written: the depth target is for such a frame. */
  private lastFrame = 0;

  constructor(o: SpeakerOptions) {
    this.rate = o.rate;
    this.deviceRate = o.deviceRate ?? o.rate;
    this.latency = o.latency ?? DEFAULT_LATENCY;
    this.resampler = this.deviceRate !== this.rate ? new Resampler(this.rate, this.deviceRate) : null;
    this.capacity = o.queueFrames ?? 10;
    this.now = o.now ?? (() => performance.now());
    this.log = o.log;
    this.adapt = new DepthAdapt({ ceiling: this.latency.periods - this.latency.startPeriods });
    const spawn = o.spawn ?? aplaySpawner;
    this.supervisor = new Supervisor({
      device: "speaker",
      log: o.log,
      onFault: o.onFault,
      start: (died) => {
        this.blocked = false;
        this.queue.length = 0;
        this.written = 0;
        this.played = 0;
        this.card.reset(this.now());
        this.lastPlayedAt = this.now();
        this.params = null;
        // Reports may come while spawn() runs (fakes): they are matched by this token, not by p.
        const token = {};
        this.current = token;
        const mine = () => this.current === token;
        const p = spawn(
          { device: o.device, rate: this.deviceRate, latency: this.latency, realtime: o.realtime },
          () => {
            if (!mine()) return;
            this.blocked = false;
            this.flush();
          },
          (message) => {
            if (mine()) {
              this.current = null;
              this.playback = null;
            }
            explainEnd(o.device, message, died);
          },
          {
            onParams: (params) => {
              if (!mine()) return;
              this.params = params;
              o.log.info({ device: o.device, ...params }, "speaker: ALSA parameters in force (frames)");
              this.followCardRate(params.rate, o.log);
            },
            onPlayed: (frames) => {
              if (!mine()) return;
              this.played += frames;
              this.lastPlayedAt = this.now();
              this.card.handed(
                this.now(),
                this.deviceRate,
                frames,
                this.params?.startThreshold ?? 0,
                this.params?.bufferSize,
              );
            },
            onUnderrun: () => {
              if (!mine()) return;
              this.underruns++;
              const at = this.now();
              if (this.underruns <= 20 || this.underruns % 50 === 0) {
                // What led to it: a feed that stopped (the desk had no CPU, the packet clock
                // skipped), or a card that drained what it had been given (aplay or the sound
                // server stalled).
                o.log.info(
                  {
                    device: o.device,
                    underruns: this.underruns,
                    sinceWriteMs: Math.round(at - this.lastWriteAt),
                    sinceAplayMs: Math.round(at - this.lastPlayedAt),
                    pending: this.pending,
                    estimated: Math.round(this.card.fill),
                    extraPeriods: this.adapt.extra,
                  },
                  "speaker: ALSA underrun",
                );
              }
              this.card.reset(at); // ALSA ran dry and restarts at the threshold
              this.topUp = true;
              if (this.adapt.underrun(this.now())) {
                o.log.info(
                  { device: o.device, extraPeriods: this.adapt.extra, underruns: this.underruns },
                  "speaker: ALSA underrun; keeping one period more queued",
                );
              }
            },
          },
        );
        if (mine()) this.playback = p;
        return p;
      },
    });
    this.supervisor.start();
  }

  /** Periods queued beyond the profile's target, after repeated underruns (0 when clean). */
  get extraPeriods(): number {
    return this.adapt.extra;
  }

  /** Times the card came within half a period of running dry (counted at most once a second). */
  get nearMisses(): number {
    return this.adapt.nearMisses;
  }

  get xruns(): number {
    return this.underruns;
  }

  /**
   * A hw: device that cannot do the rate asked for plays at its own (aplay warns "rate is not
   * accurate" and goes on): resample to what the card really runs at, or the caller would sound
   * like a chipmunk.
   */
  private followCardRate(rate: number, log: Logger): void {
    if (Math.abs(rate - this.deviceRate) <= this.deviceRate * 0.01) return;
    log.warn({ asked: this.deviceRate, got: rate }, "the sound card plays at another rate; resampling to it");
    this.deviceRate = rate;
    this.resampler = rate !== this.rate ? new Resampler(this.rate, rate) : null;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Samples written that aplay has not yet handed to ALSA (pipe, queue, aplay's partial period). */
  get pending(): number {
    return this.written - this.played;
  }

  /** Samples per ms at the device rate. */
  private samples(us: number): number {
    return Math.round((us * this.deviceRate) / 1_000_000);
  }

  write(frame: Int16Array): void {
    const data = this.resampler ? this.resampler.process(frame) : frame;
    this.lastFrame = data.length;
    const pad = this.playback ? this.keepDepth(data.length) : -1;
    this.lastWriteAt = this.now();
    if (pad < 0) {
      this.dropped += data.length;
      return;
    }
    if (pad > 0) {
      this.padded += pad;
      this.push(new Int16Array(pad));
    }
    this.push(data);
    this.flush();
  }

  private push(data: Int16Array): void {
    if (this.queue.length >= this.capacity) {
      const old = this.queue.shift();
      this.dropped += (old?.length ?? 0) / 2;
      this.written -= (old?.length ?? 0) / 2;
    }
    this.queue.push(pcmToBytes(data));
    this.written += data.length;
  }

  /**
   * What to do with a frame of n samples to keep the depth at its target: -1 drop it, else
   * the number of silent samples to queue before it (a card starting or restarting after an
   * underrun begins at the start threshold, which for the `low` profile is less than a frame
   * plus a period: without that much it would run dry before the next frame arrives).
   */
  private keepDepth(n: number): number {
    const p = this.params;
    const period = p?.periodSize ?? this.samples(this.latency.periodUs);
    const start = p?.startThreshold ?? period * this.latency.startPeriods;
    const now = this.now();
    const wasRunning = this.card.running;
    this.card.advance(now, this.deviceRate);
    if (this.adapt.tick(now)) {
      this.log.info(
        { extraPeriods: this.adapt.extra },
        "speaker: three minutes without ALSA underruns; one period less queued",
      );
    }
    // More than a period waiting while the card plays, with aplay still ticking every period,
    // means aplay cannot hand it over: ALSA's buffer is full. An aplay that has not ticked for
    // two periods is stalled (no CPU, a sound server holding it) while the card drains: its
    // backlog is then not excess, and taking the buffer for full would drop the very frames that
    // refill the card when aplay runs again.
    const ticking = this.ticking(now, period);
    if (p && this.card.running && ticking && this.pending >= period + n)
      this.card.atLeast(p.bufferSize - period);
    // A near miss: the card had less than half a period left when this frame came, or by the
    // estimate none at all (it came late by most of a frame). On a loaded host the next one may
    // come later still: repeated near misses deepen the queue a period before the card actually
    // runs dry (depth-adapt.ts). The added depth is silence put in right here, where the card is
    // nearly dry anyway. (aplay hands whole periods: what it holds of a partial one cannot play
    // before this frame completes it.)
    const playable = this.card.fill + Math.floor(this.pending / period) * period;
    const deeper = !!p && wasRunning && playable < period / 2 && this.adapt.nearMiss(now);
    if (deeper) {
      this.log.info(
        { extraPeriods: this.adapt.extra, nearMisses: this.adapt.nearMisses },
        "speaker: frames keep finding ALSA nearly empty; keeping one period more queued",
      );
    }
    // Queued with this frame: what aplay has not taken, what ALSA still holds, the frame. The
    // target is the start threshold, and at least a period more than the frame (frames come
    // every 20 ms: the card must not run dry in between), plus the periods repeated underruns
    // added. Half a frame more (the clock ticks late, never early) is excess: this frame goes.
    const target = this.depthTarget(start, period, n);
    const queued = this.pending + this.card.fill + n;
    if (queued > target + n / 2) return -1;
    // A frame that never came leaves the card a frame short for good, not late: the packet clock
    // skips the ticks of a stall longer than two frames, and their frames are never played. A
    // late frame is followed by its catch-up at once; two frames in a row that leave the queue
    // more than half a frame short mean one went missing: the gap is filled with silence now,
    // rather than by an underrun later.
    this.short = p && this.card.running && queued < target - n / 2 ? this.short + 1 : 0;
    const missing = this.short >= 2;
    if (missing) this.short = 0;
    // Silence goes in only where there is a gap anyway: before the card starts, right after it
    // ran dry (aplay may have restarted it at once with what the pipe held, below the target),
    // where frames went missing, or where a near miss deepens the queue.
    const gap = !this.card.running || this.topUp || deeper || missing;
    this.topUp = false;
    // Before aplay has printed its parameters (the first frames of a call, or of a restarted
    // aplay) the card is not playing yet: the start is padded too, with the requested sizes, so
    // the first write already holds the start threshold. A card that honours the threshold
    // starts as before; one that starts playing on the first data (the lab's PulseAudio does:
    // it played the first 20 ms frame at once and, with the second, ran dry 40 ms after the
    // first instead of 40 ms after the second) still has a frame of slack.
    if (!p && this.card.running) return 0;
    if (!gap || queued >= target) return 0;
    // Rounded to whole periods so that aplay is left with no partial one: it hands whole periods,
    // and what it holds of a partial one could not play before the next frame completed it (a
    // frame that came on time would then find the card with a period less than the depth says).
    // Down when that stays within half a frame of the target (the next frame is then not excess
    // and dropped), else up.
    const pad = target - queued;
    const rem = (this.pending + pad + n) % period;
    if (rem === 0) return pad;
    return rem <= n / 2 && pad - rem > 0 ? pad - rem : pad + period - rem;
  }

  /**
   * Hook for the media's playout on arrival (src/media/playout.ts, issue 13): what is queued
   * ahead of the card now (what aplay has not taken, plus ALSA's buffer by the estimate) and the
   * depth the speaker keeps for a frame (keepDepth's target), in ms. The playout hands a frame
   * over when it fits under that target, instead of on the packet clock. Reads the estimate
   * without moving it. Null while no aplay runs or before it printed its parameters, and while
   * aplay is stalled (a period waiting that it has not taken for two periods): the estimate then
   * says nothing of the card, and the packet clock feeds the speaker, whose stall rule keeps
   * the backlog that refills the card when aplay runs again.
   */
  depth(): SinkDepth | null {
    const p = this.params;
    if (!p || !this.playback) return null;
    const period = p.periodSize;
    const now = this.now();
    if (this.pending >= period && !this.ticking(now, period)) return null;
    const n = this.lastFrame || this.samples(20_000);
    const target = this.depthTarget(p.startThreshold, period, n);
    const queued = this.pending + this.card.fillAt(now, this.deviceRate);
    const ms = (samples: number) => (samples * 1000) / this.deviceRate;
    return { queuedMs: ms(queued), targetMs: ms(target) };
  }

  /** aplay has reported a period within the last two: it runs (otherwise it is stalled). */
  private ticking(now: number, period: number): boolean {
    return now - this.lastPlayedAt < (2 * period * 1000) / this.deviceRate;
  }

  /** The depth kept queued with a frame of `n` samples (see keepDepth). */
  private depthTarget(start: number, period: number, n: number): number {
    return Math.max(start, period + n) + this.adapt.extra * period;
  }

  private flush(): void {
    const p = this.playback;
    while (p && !this.blocked && this.queue.length > 0) {
      const b = this.queue.shift();
      if (b && !p.write(b)) this.blocked = true;
    }
  }

  async close(): Promise<void> {
    const ms = (samples: number) => Math.round((samples * 1000) / this.deviceRate);
    this.log.info(
      {
        underruns: this.underruns,
        nearMisses: this.adapt.nearMisses,
        paddedMs: ms(this.padded),
        droppedMs: ms(this.dropped),
        extraPeriods: this.adapt.extra,
      },
      "speaker: ALSA summary at close",
    );
    this.queue.length = 0;
    this.playback = null;
    this.current = null;
    this.supervisor.close();
  }
}
