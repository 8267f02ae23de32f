/**
 * The lab's virtual sound card for one test file: started before its tests, with
 * ALSA_CONFIG_PATH pointing at it (the aplay and arecord the daemon's code spawns inherit it and
 * find the card's PCMs), and stopped after them, the variable put back as it was.
 */
import { afterAll, beforeAll } from "vitest";
import { startVirtualCard, type VirtualCard } from "./sound-card.js";

export function useVirtualCard(started: (card: VirtualCard) => void): void {
  let card: VirtualCard | undefined;
  const savedAlsa = process.env.ALSA_CONFIG_PATH;
  beforeAll(async () => {
    card = await startVirtualCard();
    process.env.ALSA_CONFIG_PATH = card.alsaEnv.ALSA_CONFIG_PATH;
    started(card);
  });
  afterAll(async () => {
    if (savedAlsa === undefined) delete process.env.ALSA_CONFIG_PATH;
    else process.env.ALSA_CONFIG_PATH = savedAlsa;
    await card?.stop();
  });
}
