/**
 * The roles between the RTP clock and the audio devices: 16-bit mono PCM, one 20 ms frame
 * at a time, pulled from a source and pushed into a sink by the media session's clock.
 * Neither side ever blocks or grows memory: a source with nothing ready yields silence, a
 * source or sink that runs ahead drops its oldest audio and counts it.
 */

export interface AudioSource {
  /** Samples per second of the frames `read` fills. */
  readonly rate: number;
  /** Fills one frame (its length is the frame size); silence when nothing is available. */
  read(frame: Int16Array): void;
  /** Samples dropped because the producer ran ahead of the clock. */
  readonly dropped: number;
  /** Overruns the sound card reported (absent for files). */
  readonly xruns?: number;
  /**
   * A live source (a sound card) only: `listener` is called each time captured audio arrived,
   * with the samples now held and how many just came. The media clock sends a frame the moment
   * it is complete instead of on a phase of its own. Paced files have none: the clock pulls them.
   */
  onCapture?(listener: (buffered: number, added: number) => void): void;
  close(): Promise<void>;
}

/** A sound card's queue as its sink sees it: queued ahead of the card now, and the depth it keeps (ms). */
export interface SinkDepth {
  readonly queuedMs: number;
  readonly targetMs: number;
}

export interface AudioSink {
  readonly rate: number;
  /** Takes one frame; the sink copies what it keeps. Never blocks. */
  write(frame: Int16Array): void;
  /**
   * A sink with a clock of its own (a sound card) only: its queue now, null while it cannot tell.
   * The media then hands it each frame as soon as it fits (playout on arrival); a sink without
   * it (a WAV file) is written on the packet clock.
   */
  depth?(): SinkDepth | null;
  readonly dropped: number;
  /** Underruns the sound card reported (absent for files). */
  readonly xruns?: number;
  close(): Promise<void>;
}

/** A device that died (and is being restarted), reported to whoever supervises the call. */
export interface AudioFault {
  readonly device: "microphone" | "speaker" | "file";
  readonly message: string;
  /** Delay before the next restart attempt, ms; null when it will not be retried. */
  readonly retryInMs: number | null;
}

export type AudioFaultListener = (fault: AudioFault) => void;

export class AudioError extends Error {
  constructor(
    /** unsupported: the file's format cannot be used; io: it cannot be read or written. */
    readonly code: "unsupported" | "io",
    message: string,
  ) {
    super(message);
    this.name = "AudioError";
  }
}

export class SilenceSource implements AudioSource {
  readonly dropped = 0;
  constructor(readonly rate: number) {}
  read(frame: Int16Array): void {
    frame.fill(0);
  }
  async close(): Promise<void> {}
}

export class DiscardSink implements AudioSink {
  readonly dropped = 0;
  constructor(readonly rate: number) {}
  write(_frame: Int16Array): void {}
  async close(): Promise<void> {}
}
