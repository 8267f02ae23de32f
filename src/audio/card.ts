/**
 * A sound card by identity, not by index. A USB headset's ALSA card number is given in plug
 * order: unplugged and plugged back (or plugged after another card) it may come back as another
 * number, and `plughw:1,0` would then open the wrong card or none. ALSA also accepts a card's id
 * (`/proc/asound/cards`, `/sys/class/sound/cardN/id`, e.g. `Headset` or `EVOLVE20`) wherever it
 * takes a number: `plughw:CARD=Headset,DEV=0` finds the card again whatever its number, each
 * time arecord/aplay open it. (Two cards of one model get ids `Headset` and `Headset_1`.)
 */
import { readFile } from "node:fs/promises";

export const ASOUND_CARDS = "/proc/asound/cards";

export interface AsoundCard {
  readonly index: number;
  /** The card's id: what `CARD=` takes. */
  readonly id: string;
  readonly driver: string;
  readonly name: string;
  /** The second line: model and, for USB, where it is plugged (`at usb-0000:01:00.0-1.3, ...`). */
  readonly longName: string;
}

/**
 * Reads /proc/asound/cards:
 *
 *      1 [Headset        ]: USB-Audio - Jabra EVOLVE 20 MS
 *                           GN Netcom A/S Jabra EVOLVE 20 MS at usb-0000:01:00.0-1.3, full speed
 *
 * ("--- no soundcards ---" when there are none.)
 */
export function parseAsoundCards(text: string): AsoundCard[] {
  const cards: AsoundCard[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*(\d+)\s+\[([^\]]*)\]:\s*(\S+)\s+-\s+(.*)$/.exec(lines[i] ?? "");
    if (!m) continue;
    const next = lines[i + 1] ?? "";
    const longName = /^\s+\S/.test(next) && !/^\s*\d+\s+\[/.test(next) ? next.trim() : "";
    cards.push({
      index: Number(m[1]),
      id: (m[2] ?? "").trim(),
      driver: (m[3] ?? "").trim(),
      name: (m[4] ?? "").trim(),
      longName,
    });
  }
  return cards;
}

/** The ALSA device name that opens a card's first PCM by its id, through the plug layer. */
export function cardDevice(id: string): string {
  return `plughw:CARD=${id},DEV=0`;
}

/** The card id an ALSA device name refers to by id (`plughw:CARD=X,DEV=0`, `hw:X`); else null. */
export function cardIdOf(device: string): string | null {
  const byKey = /^(?:plug)?hw:(?:.*,)?CARD=([^,]+)/.exec(device);
  if (byKey) return byKey[1] ?? null;
  const plain = /^(?:plug)?hw:([A-Za-z_][^,]*)/.exec(device);
  return plain ? (plain[1] ?? null) : null;
}

/**
 * Whether the card `device` names by id is plugged in now: true or false; null when the
 * device does not name a card by id (a PCM from the ALSA config, `default`) or the list
 * cannot be read.
 */
export async function cardPresent(device: string, file = ASOUND_CARDS): Promise<boolean | null> {
  const id = cardIdOf(device);
  if (id === null) return null;
  try {
    return parseAsoundCards(await readFile(file, "utf8")).some((c) => c.id === id);
  } catch {
    return null;
  }
}

/** Reports a device process's end, saying so when its card (named by id) is unplugged. */
export function explainEnd(
  device: string,
  message: string,
  died: (message: string) => void,
  file = ASOUND_CARDS,
): void {
  // A device that names no card by id: nothing to look up, reported at once.
  if (cardIdOf(device) === null) {
    died(message);
    return;
  }
  void cardPresent(device, file).then(
    (present) =>
      died(present === false ? `sound card ${cardIdOf(device)} is unplugged: ${message}` : message),
    () => died(message),
  );
}
