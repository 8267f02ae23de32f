/**
 * RFC 4733 telephone-events for DTMF: payload codec (§2.3), the send schedule (§2.5.1) and a
 * receiver that turns the packet stream into one digit per event (§2.5.2).
 */

const DIGITS = "0123456789*#ABCD";

export function digitToEvent(digit: string): number | null {
  const i = DIGITS.indexOf(digit.toUpperCase());
  return i < 0 ? null : i;
}

export function eventToDigit(event: number): string | null {
  return DIGITS[event] ?? null;
}

export interface TelephoneEvent {
  readonly event: number;
  readonly end: boolean;
  /** dBm0 below 0, 0-63 (§2.3.4). */
  readonly volume: number;
  /** In timestamp units of the telephone-event clock (§2.3.5). */
  readonly duration: number;
}

/** §2.3: event(8) | E(1) R(1) volume(6) | duration(16). */
export function encodeTelephoneEvent(e: TelephoneEvent): Uint8Array {
  const out = new Uint8Array(4);
  out[0] = e.event & 0xff;
  out[1] = (e.end ? 0x80 : 0) | (e.volume & 0x3f);
  out[2] = (e.duration >> 8) & 0xff;
  out[3] = e.duration & 0xff;
  return out;
}

export function parseTelephoneEvent(payload: Uint8Array): TelephoneEvent | null {
  if (payload.length < 4) return null;
  const b1 = payload[1] ?? 0;
  return {
    event: payload[0] ?? 0,
    end: (b1 & 0x80) !== 0,
    volume: b1 & 0x3f,
    duration: ((payload[2] ?? 0) << 8) | (payload[3] ?? 0),
  };
}

export interface PlannedEventPacket {
  /** Offset from the start of the event at which to send, ms. */
  readonly atMs: number;
  readonly marker: boolean;
  readonly payload: TelephoneEvent;
}

/**
 * The packets of one event, all carrying the same RTP timestamp (the event's start, §2.5.1.2):
 * a first packet with the marker bit, updates every `intervalMs` with growing duration, then
 * three end packets with the final duration, one interval apart (§2.5.1.4: the final packet
 * is sent three times).
 */
export function planTelephoneEvent(
  event: number,
  options: { durationMs: number; intervalMs: number; clockRate: number; volume?: number },
): PlannedEventPacket[] {
  const volume = options.volume ?? 10;
  const units = (ms: number): number => Math.min(0xffff, Math.round((ms * options.clockRate) / 1000));
  const out: PlannedEventPacket[] = [];
  let t = 0;
  while (t < options.durationMs) {
    out.push({
      atMs: t,
      marker: t === 0,
      payload: { event, end: false, volume, duration: units(t + options.intervalMs) },
    });
    t += options.intervalMs;
  }
  const final = units(options.durationMs);
  for (let i = 0; i < 3; i++) {
    out.push({
      atMs: t + i * options.intervalMs,
      marker: false,
      payload: { event, end: true, volume, duration: final },
    });
  }
  return out;
}

/**
 * Receiver: one digit per event, reported at its end. Events are identified by their RTP
 * timestamp (§2.5.2.1); retransmitted end packets and late updates of a finished event are
 * ignored. An event whose end packets were all lost is reported when the next one starts.
 */
export class TelephoneEventReceiver {
  private current: { timestamp: number; event: number } | null = null;
  private lastEndedTimestamp: number | null = null;

  constructor(private readonly onDigit: (digit: string) => void) {}

  receive(timestamp: number, payload: Uint8Array): void {
    const e = parseTelephoneEvent(payload);
    if (!e) return;
    if (timestamp === this.lastEndedTimestamp) return; // repeat of an event already reported
    if (this.current && this.current.timestamp !== timestamp) {
      // A new event started while the previous one never showed its end (§2.5.2.2).
      this.finish();
    }
    if (!this.current) this.current = { timestamp, event: e.event };
    if (e.end) this.finish();
  }

  private finish(): void {
    const c = this.current;
    if (!c) return;
    this.current = null;
    this.lastEndedTimestamp = c.timestamp;
    const digit = eventToDigit(c.event);
    if (digit !== null) this.onDigit(digit);
  }
}
