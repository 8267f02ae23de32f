/**
 * DTMF of one call as RFC 4733 telephone-events: the digits to send, queued and sent one packet
 * per tick of the stream's clock in place of audio, and the digits received. The packet formats
 * and the receiver's rules are in dtmf.ts (pure); this keeps the per-call state.
 */
import type { Logger } from "../log/logger.js";
import {
  digitToEvent,
  encodeTelephoneEvent,
  type PlannedEventPacket,
  planTelephoneEvent,
  TelephoneEventReceiver,
} from "./dtmf.js";
import { MediaError } from "./media.js";
import type { TelephoneEventFormat } from "./sdp.js";

/** Where the event packets go: the stream, which numbers, protects and sends them. */
export interface RtpPacketOut {
  sendPacket(payloadType: number, marker: boolean, timestamp: number, payload: Uint8Array): void;
}

export interface TelephoneEventsOptions {
  readonly log: Logger;
  /** The stream's packet interval, ms (one event packet per tick). */
  readonly frameMs: number;
  /** Tone length, ms (default 100). */
  readonly durationMs?: number;
}

interface Pending {
  readonly packets: PlannedEventPacket[];
  startTick: number | null;
  readonly done: () => void;
}

export class TelephoneEvents {
  private readonly listeners: Array<(digit: string) => void> = [];
  private readonly receiver = new TelephoneEventReceiver((d) => this.emit(d));
  private readonly queue: Pending[] = [];
  /** RTP timestamp of the event being sent (RFC 4733 §2.5.1.2: every packet carries its start). */
  private eventTs = 0;

  constructor(private readonly o: TelephoneEventsOptions) {}

  /** Whether an event is queued or under way (the stream's clock then asks `tick`). */
  get sending(): boolean {
    return this.queue.length > 0;
  }

  onDigit(listener: (digit: string) => void): void {
    this.listeners.push(listener);
  }

  /** Queues one event per digit; resolves when all are sent (or given up). */
  send(digits: string, te: TelephoneEventFormat): Promise<void> {
    const events: number[] = [];
    for (const d of digits) {
      const e = digitToEvent(d);
      if (e === null)
        return Promise.reject(new MediaError("malformed", `not a DTMF digit: ${JSON.stringify(d)}`));
      events.push(e);
    }
    const durationMs = this.o.durationMs ?? 100;
    const all = events.map(
      (e) =>
        new Promise<void>((done) => {
          const packets = planTelephoneEvent(e, {
            durationMs,
            intervalMs: this.o.frameMs,
            clockRate: te.clockRate,
          });
          this.queue.push({ packets, startTick: null, done });
        }),
    );
    return Promise.all(all).then(() => undefined);
  }

  /**
   * Sends tick `tick`'s telephone-event packets (RTP timestamp `ts`) if an event is under way;
   * true if the tick belongs to an event (no audio packet then).
   */
  tick(tick: number, ts: number, te: TelephoneEventFormat | null, out: RtpPacketOut): boolean {
    const cur = this.queue[0];
    if (!cur || !te) return false;
    if (cur.startTick === null) {
      cur.startTick = tick;
      this.eventTs = ts;
    }
    const at = (tick - cur.startTick) * this.o.frameMs;
    let sentAny = false;
    while (cur.packets.length > 0 && (cur.packets[0]?.atMs ?? 0) <= at) {
      const p = cur.packets.shift();
      if (!p) break;
      out.sendPacket(te.payloadType, p.marker, this.eventTs, encodeTelephoneEvent(p.payload));
      sentAny = true;
    }
    if (cur.packets.length === 0) {
      this.queue.shift();
      cur.done();
    }
    return sentAny || cur.packets.length > 0;
  }

  /** Gives up every queued event (not sending any more, or closing): their promises resolve. */
  abort(): void {
    if (this.queue.length === 0) return;
    for (const q of this.queue.splice(0)) q.done();
  }

  /** A received telephone-event payload (negotiated payload type, checked by the stream). */
  receive(timestamp: number, payload: Uint8Array): void {
    this.receiver.receive(timestamp, payload);
  }

  private emit(d: string): void {
    this.o.log.debug({ digit: d }, "DTMF received");
    for (const l of this.listeners) {
      try {
        l(d);
      } catch (e) {
        this.o.log.error({ err: (e as Error).message }, "DTMF listener threw");
      }
    }
  }
}
