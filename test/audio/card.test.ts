import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cardDevice, cardIdOf, cardPresent, explainEnd, parseAsoundCards } from "../../src/audio/card.js";

// /proc/asound/cards as a Raspberry Pi 4 shows it with a Jabra headset and a second USB card.
const PI_WITH_HEADSETS = ` 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones
                      bcm2835 Headphones
 1 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0
                      vc4-hdmi-0
 2 [EVOLVE20       ]: USB-Audio - Jabra EVOLVE 20 MS
                      GN Netcom A/S Jabra EVOLVE 20 MS at usb-0000:01:00.0-1.3, full speed
 3 [Headset        ]: USB-Audio - Plantronics Blackwire 3220 Series
                      Plantronics Plantronics Blackwire 3220 Series at usb-0000:01:00.0-1.4, full speed
`;

describe("/proc/asound/cards", () => {
  it("gives each card's index, id, driver, name and where it is plugged", () => {
    const cards = parseAsoundCards(PI_WITH_HEADSETS);
    expect(cards.map((c) => [c.index, c.id, c.driver])).toEqual([
      [0, "Headphones", "bcm2835_headpho"],
      [1, "vc4hdmi0", "vc4-hdmi"],
      [2, "EVOLVE20", "USB-Audio"],
      [3, "Headset", "USB-Audio"],
    ]);
    expect(cards[2]?.name).toBe("Jabra EVOLVE 20 MS");
    expect(cards[2]?.longName).toContain("at usb-0000:01:00.0-1.3");
  });

  it("has no cards when ALSA says so", () => {
    expect(parseAsoundCards("--- no soundcards ---\n")).toEqual([]);
    expect(parseAsoundCards("")).toEqual([]);
  });
});

describe("a card by identity", () => {
  it("names the card by its id, not its number", () => {
    expect(cardDevice("EVOLVE20")).toBe("plughw:CARD=EVOLVE20,DEV=0");
    expect(cardIdOf(cardDevice("EVOLVE20"))).toBe("EVOLVE20");
    expect(cardIdOf("hw:Headset")).toBe("Headset");
    expect(cardIdOf("plughw:Headset,0")).toBe("Headset");
  });

  it("does not claim device names that name no card by id", () => {
    expect(cardIdOf("plughw:1,0")).toBeNull();
    expect(cardIdOf("default")).toBeNull();
    expect(cardIdOf("cuffia_lab_mic")).toBeNull();
  });

  it("tells whether the card is plugged in now", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cuffia-cards-"));
    const file = join(dir, "cards");
    await writeFile(file, PI_WITH_HEADSETS);
    expect(await cardPresent(cardDevice("EVOLVE20"), file)).toBe(true);
    // unplugged: the Jabra's entry is gone (the Plantronics keeps its number 3)
    await writeFile(
      file,
      PI_WITH_HEADSETS.split("\n").slice(0, 4).concat(PI_WITH_HEADSETS.split("\n").slice(6)).join("\n"),
    );
    expect(await cardPresent(cardDevice("EVOLVE20"), file)).toBe(false);
    expect(await cardPresent(cardDevice("Headset"), file)).toBe(true);
    expect(await cardPresent("plughw:2,0", file)).toBeNull();
    expect(await cardPresent(cardDevice("EVOLVE20"), join(dir, "missing"))).toBeNull();
  });

  it("says so when a device process ended because its card is unplugged", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cuffia-cards-"));
    const file = join(dir, "cards");
    await writeFile(file, "--- no soundcards ---\n");
    const end = (device: string) =>
      new Promise<string>((r) => explainEnd(device, "aplay exited (code 1): write error", r, file));
    expect(await end(cardDevice("EVOLVE20"))).toBe(
      "sound card EVOLVE20 is unplugged: aplay exited (code 1): write error",
    );
    expect(await end("default")).toBe("aplay exited (code 1): write error");
  });
});
