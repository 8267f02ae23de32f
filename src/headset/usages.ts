/**
 * HID usages the headset driver cares about, as full 32-bit values (page << 16 | id).
 * Always compare all 32 bits: vendor collections reuse the same 16-bit ids on their own pages
 * (reference/hid-telephony.md §2; EPOS D1 mirrors Hook Switch as 0xFF13:0x20).
 */

export const PAGE_LED = 0x08;
export const PAGE_BUTTON = 0x09;
export const PAGE_TELEPHONY = 0x0b;
export const PAGE_CONSUMER = 0x0c;

export const usage = (page: number, id: number): number => ((page & 0xffff) * 0x10000 + (id & 0xffff)) >>> 0;
export const pageOf = (u: number): number => (u >>> 16) & 0xffff;
export const idOf = (u: number): number => u & 0xffff;

/** Telephony page 0x0B (HUT 1.21 §14). */
export const TEL = {
  phone: usage(PAGE_TELEPHONY, 0x01),
  headset: usage(PAGE_TELEPHONY, 0x05),
  keypad: usage(PAGE_TELEPHONY, 0x06),
  programmableButton: usage(PAGE_TELEPHONY, 0x07),
  hookSwitch: usage(PAGE_TELEPHONY, 0x20),
  flash: usage(PAGE_TELEPHONY, 0x21),
  redial: usage(PAGE_TELEPHONY, 0x24),
  drop: usage(PAGE_TELEPHONY, 0x26),
  line: usage(PAGE_TELEPHONY, 0x2a),
  phoneMute: usage(PAGE_TELEPHONY, 0x2f),
  speedDial: usage(PAGE_TELEPHONY, 0x50),
  lineBusyTone: usage(PAGE_TELEPHONY, 0x97),
  ringer: usage(PAGE_TELEPHONY, 0x9e),
} as const;

/** LED page 0x08 (HUT 1.21 §11): all On/Off Controls the host drives. */
export const LED = {
  mute: usage(PAGE_LED, 0x09),
  offHook: usage(PAGE_LED, 0x17),
  ring: usage(PAGE_LED, 0x18),
  speaker: usage(PAGE_LED, 0x1e),
  hold: usage(PAGE_LED, 0x20),
  microphone: usage(PAGE_LED, 0x21),
  onLine: usage(PAGE_LED, 0x2a),
} as const;

export const BUTTON_1 = usage(PAGE_BUTTON, 0x01);
export const BUTTON_7 = usage(PAGE_BUTTON, 0x07);

/**
 * The one configurable "programmable / reject" key: Teams lists Button 1 as reject, Gigaset
 * Button 7, and descriptors disagree on the page binding of id 0x07 (reference §2, §3.2).
 */
export const PROGRAMMABLE_USAGES: readonly number[] = [TEL.programmableButton, BUTTON_1, BUTTON_7];

const NAMES = new Map<number, string>([
  [TEL.phone, "Phone"],
  [TEL.headset, "Headset"],
  [TEL.keypad, "Telephony Key Pad"],
  [TEL.programmableButton, "Programmable Button"],
  [TEL.hookSwitch, "Hook Switch"],
  [TEL.flash, "Flash"],
  [TEL.redial, "Redial"],
  [TEL.drop, "Drop"],
  [TEL.line, "Line"],
  [TEL.phoneMute, "Phone Mute"],
  [TEL.speedDial, "Speed Dial"],
  [TEL.lineBusyTone, "Line Busy Tone"],
  [TEL.ringer, "Ringer"],
  [LED.mute, "Mute LED"],
  [LED.offHook, "Off-Hook LED"],
  [LED.ring, "Ring LED"],
  [LED.speaker, "Speaker LED"],
  [LED.hold, "Hold LED"],
  [LED.microphone, "Microphone LED"],
  [LED.onLine, "On-Line LED"],
  [BUTTON_1, "Button 1"],
  [BUTTON_7, "Button 7"],
  [usage(PAGE_CONSUMER, 0x01), "Consumer Control"],
]);

/** `0x000B:0x0020`, the notation the logs and the inspect output use. */
export function usageHex(u: number): string {
  const h = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");
  return `0x${h(pageOf(u))}:0x${h(idOf(u))}`;
}

export function usageName(u: number): string {
  const name = NAMES.get(u);
  if (name !== undefined) return `${name} (${usageHex(u)})`;
  if (pageOf(u) >= 0xff00) return `vendor ${usageHex(u)}`;
  return usageHex(u);
}
