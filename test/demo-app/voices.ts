/**
 * The voices of the demo, made with espeak-ng at start: the operator (in the desk's language),
 * the citizens (one per caller language) and the service desk. A baresip caller's call ends when
 * its WAV ends, so a sentence is repeated with pauses to fill the whole call. Without espeak-ng
 * (or when it fails) a tone stands in, so the demo still runs.
 */
import { join } from "node:path";
import { makeSpeech, makeTone, readWav, writeWav } from "../lab/audio.js";
import type { CallerLanguage } from "./switchboard.js";

export type DeskLanguage = "it" | "en" | "fr" | "es";

export const OPERATOR_TEXT: Readonly<Record<DeskLanguage, string>> = {
  it: "Buongiorno, sportello dei servizi sociali del Comune. Come posso aiutarla?",
  en: "Good morning, city social services desk. How can I help you?",
  fr: "Bonjour, guichet des services sociaux de la mairie. Comment puis-je vous aider ?",
  es: "Buenos días, oficina de servicios sociales del ayuntamiento. ¿En qué puedo ayudarle?",
};

export const SERVICE_DESK_TEXT: Readonly<Record<DeskLanguage, string>> = {
  it: "Polo uno, ufficio anagrafe, buongiorno. Mi dica pure.",
  en: "Service desk one, registry office, good morning. Go ahead, please.",
  fr: "Pôle un, bureau de l'état civil, bonjour. Je vous écoute.",
  es: "Punto uno, oficina del padrón, buenos días. Dígame.",
};

export const CALLER_TEXT: Readonly<Record<CallerLanguage, string>> = {
  it: "Buongiorno, vorrei un certificato di residenza. Come devo fare?",
  fr: "Bonjour, je voudrais des informations sur l'aide au logement, s'il vous plaît.",
  ar: "مرحبا، أريد معلومات عن المساعدة الاجتماعية من فضلك.",
  en: "Hello, I would like to renew my identity card. Which documents do I need?",
  es: "Hola, quisiera pedir una cita para el servicio de vivienda, por favor.",
};

export interface Voice {
  readonly path: string;
  /** "speech" (espeak-ng) or "tone" (the fallback). */
  readonly kind: "speech" | "tone";
}

/**
 * `text` spoken in `language`, repeated with `gapSeconds` of silence until the file lasts at
 * least `seconds` (8 kHz mono S16). Falls back to a tone of `toneHz`.
 */
export async function makeVoice(
  dir: string,
  name: string,
  text: string,
  language: string,
  seconds: number,
  toneHz: number,
): Promise<Voice> {
  const path = join(dir, `${name}.wav`);
  const once = join(dir, `${name}.once.wav`);
  try {
    await makeSpeech(once, text, 8000, language);
    const wav = await readWav(once);
    const gap = new Float32Array(Math.round(1.5 * wav.rate));
    const unit = wav.samples.length + gap.length;
    const repeats = Math.max(1, Math.ceil((seconds * wav.rate) / unit));
    const out = new Int16Array(repeats * unit);
    for (let r = 0; r < repeats; r++) {
      const at = r * unit;
      for (let i = 0; i < wav.samples.length; i++) {
        out[at + i] = Math.max(-32768, Math.min(32767, Math.round((wav.samples[i] ?? 0) * 32767)));
      }
    }
    await writeWav(path, out, wav.rate);
    return { path, kind: "speech" };
  } catch {
    await makeTone(path, { freq: toneHz, seconds, amplitude: 0.3 });
    return { path, kind: "tone" };
  }
}
