/**
 * `cuffia devices`: what is plugged in — telephony headsets with their decoded buttons and LEDs
 * and the sound card that belongs to each, serial ports (for the LCD), ALSA capture/playback
 * devices. Reads sysfs and /proc; never opens a device for writing.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { listHeadsets } from "../headset/list-headsets.js";

export interface AlsaPcm {
  readonly card: number;
  readonly device: number;
  readonly name: string;
  readonly playback: boolean;
  readonly capture: boolean;
}

/** Parses /proc/asound/pcm: `00-00: USB Audio : USB Audio : playback 1 : capture 1`. */
export function parseAlsaPcm(text: string): AlsaPcm[] {
  const out: AlsaPcm[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+)-(\d+): ([^:]*?)\s*:\s*[^:]*?(?:\s*:\s*(.*))?$/.exec(line.trim());
    if (!m) continue;
    const rest = m[4] ?? "";
    out.push({
      card: Number(m[1]),
      device: Number(m[2]),
      name: (m[3] ?? "").trim(),
      playback: /playback \d+/.test(rest),
      capture: /capture \d+/.test(rest),
    });
  }
  return out;
}

/** Parses /proc/asound/cards: ` 1 [Headset        ]: USB-Audio - Jabra EVOLVE LINK MS`. */
export function parseAlsaCards(text: string): Array<{ card: number; id: string; name: string }> {
  const out: Array<{ card: number; id: string; name: string }> = [];
  for (const line of text.split("\n")) {
    const m = /^\s*(\d+)\s+\[([^\]]+)\]:\s*(.*)$/.exec(line);
    if (m) out.push({ card: Number(m[1]), id: (m[2] ?? "").trim(), name: (m[3] ?? "").trim() });
  }
  return out;
}

async function serialPorts(): Promise<Array<Record<string, unknown>> | { error: string }> {
  try {
    const { SerialPort } = await import("serialport");
    const ports = await SerialPort.list();
    return ports.map((p) => ({
      path: p.path,
      manufacturer: p.manufacturer ?? null,
      serial: p.serialNumber ?? null,
      vendorId: p.vendorId ?? null,
      productId: p.productId ?? null,
    }));
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { error: /udevadm/.test(msg) ? `${msg} (install the udev package)` : msg };
  }
}

export async function devicesReport(procRoot = "/proc"): Promise<Record<string, unknown>> {
  let headsets: unknown;
  try {
    headsets = await listHeadsets();
  } catch (e) {
    headsets = { error: e instanceof Error ? e.message : String(e) };
  }
  const read = (p: string) => readFile(join(procRoot, p), "utf8").catch(() => "");
  const cards = parseAlsaCards(await read("asound/cards"));
  const pcms = parseAlsaPcm(await read("asound/pcm"));
  return {
    headsets,
    serial_ports: await serialPorts(),
    sound_cards: cards.map((c) => ({
      ...c,
      capture: pcms.filter((p) => p.card === c.card && p.capture).map((p) => `plughw:${c.card},${p.device}`),
      playback: pcms
        .filter((p) => p.card === c.card && p.playback)
        .map((p) => `plughw:${c.card},${p.device}`),
    })),
  };
}

/** `cuffia devices`: the report as JSON. */
export async function devicesCommand(): Promise<{ code: number; stdout: string }> {
  return { code: 0, stdout: `${JSON.stringify(await devicesReport(), null, 2)}\n` };
}
