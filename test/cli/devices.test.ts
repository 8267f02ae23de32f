import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { devicesReport, parseAlsaCards, parseAlsaPcm } from "../../src/cli/devices.js";

const CARDS = ` 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones
                      bcm2835 Headphones
 1 [LINK           ]: USB-Audio - Jabra EVOLVE LINK MS
                      GN Netcom A/S Jabra EVOLVE LINK MS at usb-0000:01:00.0-1.3, full speed
`;
const PCM = `00-00: bcm2835 Headphones : bcm2835 Headphones : playback 8
01-00: USB Audio : USB Audio : playback 1 : capture 1
`;

describe("cuffia devices", () => {
  it("parses ALSA cards and PCMs as /proc shows them on a Pi", () => {
    expect(parseAlsaCards(CARDS)).toEqual([
      { card: 0, id: "Headphones", name: "bcm2835_headpho - bcm2835 Headphones" },
      { card: 1, id: "LINK", name: "USB-Audio - Jabra EVOLVE LINK MS" },
    ]);
    expect(parseAlsaPcm(PCM)).toEqual([
      { card: 0, device: 0, name: "bcm2835 Headphones", playback: true, capture: false },
      { card: 1, device: 0, name: "USB Audio", playback: true, capture: true },
    ]);
  });

  it("reports sound cards with their capture and playback devices", async () => {
    const proc = mkdtempSync(join(tmpdir(), "cuffia-proc-"));
    mkdirSync(join(proc, "asound"));
    writeFileSync(join(proc, "asound", "cards"), CARDS);
    writeFileSync(join(proc, "asound", "pcm"), PCM);
    const r = await devicesReport(proc);
    expect(r["sound_cards"]).toEqual([
      {
        card: 0,
        id: "Headphones",
        name: "bcm2835_headpho - bcm2835 Headphones",
        capture: [],
        playback: ["plughw:0,0"],
      },
      {
        card: 1,
        id: "LINK",
        name: "USB-Audio - Jabra EVOLVE LINK MS",
        capture: ["plughw:1,0"],
        playback: ["plughw:1,0"],
      },
    ]);
    expect(Array.isArray(r["headsets"])).toBe(true);
  });
});
