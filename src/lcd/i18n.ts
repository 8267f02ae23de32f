/**
 * Every word the LCD shows, one table per operator language (agent.language). Each entry lists
 * templates from the most to the least wordy (see layout.ts: `{x}` placeholders, `\t` = align
 * right). Accents are written properly; the charset decides how a given ROM shows them.
 */
import type { LcdLanguage } from "./options.js";

export interface Strings {
  readonly loggedOut: readonly string[];
  readonly available: readonly string[];
  /** Row 0 when paused: `{t}` elapsed; `{reason}` for displays with no room for a second line. */
  readonly paused: readonly string[];
  readonly pausedWithReason: readonly string[];
  readonly wrapUp: readonly string[];
  readonly ringing: readonly string[];
  readonly onCall: readonly string[];
  readonly onHold: readonly string[];
  readonly outbound: readonly string[];
  readonly notResponding: readonly string[];
  readonly missed: readonly string[];
  readonly number: readonly string[];
  /** The number called (outbound). */
  readonly numberTo: readonly string[];
  readonly noNumber: string;
  readonly callQueue: readonly string[];
  readonly transfer: readonly string[];
  readonly pendingPause: readonly string[];
  readonly pendingLogout: readonly string[];
  /** `{n}` waiting callers, `{t}` longest wait. */
  readonly queue: readonly string[];
  readonly queueEmpty: readonly string[];
  readonly queueUnknown: readonly string[];
  readonly longest: readonly string[];
  readonly agents: readonly string[];
  readonly muted: string;
  readonly held: string;
  readonly remoteHeld: string;
  /** The call's media is not encrypted while the policy prefers it (rtp.encryption). */
  readonly clear: string;
  readonly sipRegistering: readonly string[];
  readonly sipUnregistered: readonly string[];
  readonly sipFailed: readonly string[];
  readonly noHeadset: readonly string[];
  readonly noSwitchboard: readonly string[];
  readonly fault: readonly string[];
  /** Pause reasons from policy.pause_reasons and the desk's own ("missed", "restart"). */
  readonly reasons: Readonly<Record<string, string>>;
}

const it: Strings = {
  loggedOut: ["Non in servizio", "Fuori servizio", "Uscito"],
  available: ["Disponibile", "Libero"],
  paused: ["In pausa\t{t}", "Pausa\t{t}"],
  pausedWithReason: ["Pausa: {reason}\t{t}", "{reason}\t{t}"],
  wrapUp: ["Post-chiamata\t{t}s", "Post-chiam.\t{t}s", "Post\t{t}s"],
  ringing: ["Chiamata in arrivo", "Squilla"],
  onCall: ["In chiamata", "In linea"],
  onHold: ["In attesa", "Attesa"],
  outbound: ["Chiamata uscente\t{t}", "Uscente\t{t}", "Out\t{t}"],
  notResponding: ["Chiamata non risposta", "Non risposta", "Persa"],
  missed: ["Perse di fila: {n}", "Perse: {n}"],
  number: ["Da: {number}", "{number}"],
  numberTo: ["A: {number}", "{number}"],
  noNumber: "Anonimo",
  callQueue: ["Coda: {queue}", "{queue}"],
  transfer: ["Trasferisco a {target}", "Trasf. {target}"],
  pendingPause: ["Poi pausa: {reason}", "Poi {reason}"],
  pendingLogout: ["Poi fuori servizio", "Poi esco"],
  queue: ["In coda: {n}  max {t}", "In coda {n} max {t}", "Coda {n} max {t}", "Coda {n} {t}", "{n} {t}"],
  queueEmpty: ["Nessuno in coda", "Coda vuota", "Coda {n}"],
  queueUnknown: ["Coda: --", "Coda --"],
  longest: ["Attesa max: {t}", "Max {t}"],
  agents: ["Operatori liberi: {n}", "Liberi: {n}"],
  muted: "MUTO",
  held: "ATTESA",
  remoteHeld: "ATT.REMOTA",
  clear: "IN CHIARO",
  sipRegistering: ["Registrazione SIP...", "Registrazione...", "Registro..."],
  sipUnregistered: ["SIP non registrato", "Non registrato", "No SIP"],
  sipFailed: ["SIP errore {reason}", "SIP {reason}", "SIP errore"],
  noHeadset: ["Cuffia non collegata", "Cuffia assente", "No cuffia"],
  noSwitchboard: ["Centrale irraggiungibile", "Centrale assente", "No centrale"],
  fault: ["Guasto: {side}", "Guasto {side}"],
  reasons: {
    break: "Pausa breve",
    lunch: "Pranzo",
    training: "Formazione",
    back_office: "Back office",
    meeting: "Riunione",
    missed: "Chiamate perse",
    restart: "Riavvio",
  },
};

const en: Strings = {
  loggedOut: ["Logged out", "Off duty"],
  available: ["Available", "Ready"],
  paused: ["Paused\t{t}"],
  pausedWithReason: ["Paused: {reason}\t{t}", "{reason}\t{t}"],
  wrapUp: ["Wrap-up\t{t}s", "Wrap\t{t}s"],
  ringing: ["Incoming call", "Ringing"],
  onCall: ["On call", "Talking"],
  onHold: ["On hold", "Hold"],
  outbound: ["Outgoing call\t{t}", "Outgoing\t{t}", "Out\t{t}"],
  notResponding: ["Call not answered", "Not answered", "Missed"],
  missed: ["Missed in a row: {n}", "Missed: {n}"],
  number: ["From: {number}", "{number}"],
  numberTo: ["To: {number}", "{number}"],
  noNumber: "Anonymous",
  callQueue: ["Queue: {queue}", "{queue}"],
  transfer: ["Transfer to {target}", "Xfer {target}"],
  pendingPause: ["Then pause: {reason}", "Then {reason}"],
  pendingLogout: ["Then log out", "Then out"],
  queue: ["Waiting: {n}  max {t}", "Waiting {n} max {t}", "Queue {n} max {t}", "Queue {n} {t}", "{n} {t}"],
  queueEmpty: ["No one waiting", "Queue empty", "Queue {n}"],
  queueUnknown: ["Queue: --", "Queue --"],
  longest: ["Longest wait: {t}", "Max {t}"],
  agents: ["Agents free: {n}", "Free: {n}"],
  muted: "MUTED",
  held: "HOLD",
  remoteHeld: "REMOTE HOLD",
  clear: "UNSECURED",
  sipRegistering: ["Registering SIP...", "Registering..."],
  sipUnregistered: ["SIP not registered", "Not registered", "No SIP"],
  sipFailed: ["SIP error {reason}", "SIP {reason}", "SIP error"],
  noHeadset: ["No headset connected", "No headset"],
  noSwitchboard: ["Switchboard unreachable", "No switchboard", "No server"],
  fault: ["Fault: {side}", "Fault {side}"],
  reasons: {
    break: "Break",
    lunch: "Lunch",
    training: "Training",
    back_office: "Back office",
    meeting: "Meeting",
    missed: "Missed calls",
    restart: "Restarted",
  },
};

const fr: Strings = {
  loggedOut: ["Hors service", "Déconnecté"],
  available: ["Disponible", "Libre"],
  paused: ["En pause\t{t}", "Pause\t{t}"],
  pausedWithReason: ["Pause : {reason}\t{t}", "{reason}\t{t}"],
  wrapUp: ["Après-appel\t{t}s", "Après\t{t}s"],
  ringing: ["Appel entrant", "Sonnerie"],
  onCall: ["En ligne", "Appel"],
  onHold: ["En attente", "Attente"],
  outbound: ["Appel sortant\t{t}", "Sortant\t{t}", "Sort.\t{t}"],
  notResponding: ["Appel sans réponse", "Sans réponse", "Manqué"],
  missed: ["Manqués de suite : {n}", "Manqués : {n}", "Manqués {n}"],
  number: ["De : {number}", "{number}"],
  numberTo: ["À : {number}", "{number}"],
  noNumber: "Masqué",
  callQueue: ["File : {queue}", "{queue}"],
  transfer: ["Transfert à {target}", "Transf. {target}"],
  pendingPause: ["Puis pause : {reason}", "Puis {reason}"],
  pendingLogout: ["Puis déconnexion", "Puis sortie"],
  queue: ["En file : {n}  max {t}", "En file {n} max {t}", "File {n} max {t}", "File {n} {t}", "{n} {t}"],
  queueEmpty: ["Personne en file", "File vide", "File {n}"],
  queueUnknown: ["File : --", "File --"],
  longest: ["Attente max : {t}", "Max {t}"],
  agents: ["Agents libres : {n}", "Libres : {n}"],
  muted: "MUET",
  held: "ATTENTE",
  remoteHeld: "ATT.DISTANTE",
  clear: "EN CLAIR",
  sipRegistering: ["Enregistrement SIP...", "Enregistrement...", "Enreg..."],
  sipUnregistered: ["SIP non enregistré", "Non enregistré", "Pas de SIP"],
  sipFailed: ["Erreur SIP {reason}", "SIP {reason}", "Erreur SIP"],
  noHeadset: ["Casque non branché", "Pas de casque"],
  noSwitchboard: ["Standard injoignable", "Pas de standard", "Standard ?"],
  fault: ["Panne : {side}", "Panne {side}"],
  reasons: {
    break: "Pause café",
    lunch: "Déjeuner",
    training: "Formation",
    back_office: "Back-office",
    meeting: "Réunion",
    missed: "Appels manqués",
    restart: "Redémarrage",
  },
};

const es: Strings = {
  loggedOut: ["Fuera de servicio", "Desconectado", "Fuera"],
  available: ["Disponible", "Libre"],
  paused: ["En pausa\t{t}", "Pausa\t{t}"],
  pausedWithReason: ["Pausa: {reason}\t{t}", "{reason}\t{t}"],
  wrapUp: ["Posllamada\t{t}s", "Posllam.\t{t}s", "Post\t{t}s"],
  ringing: ["Llamada entrante", "Sonando"],
  onCall: ["En llamada", "Hablando"],
  onHold: ["En espera", "Espera"],
  outbound: ["Llamada saliente\t{t}", "Saliente\t{t}", "Sal.\t{t}"],
  notResponding: ["Llamada no atendida", "No atendida", "Perdida"],
  missed: ["Perdidas seguidas: {n}", "Perdidas: {n}"],
  number: ["De: {number}", "{number}"],
  numberTo: ["A: {number}", "{number}"],
  noNumber: "Oculto",
  callQueue: ["Cola: {queue}", "{queue}"],
  transfer: ["Transferir a {target}", "Transf. {target}"],
  pendingPause: ["Luego pausa: {reason}", "Luego {reason}"],
  pendingLogout: ["Luego desconexión", "Luego salir"],
  queue: ["En cola: {n}  máx {t}", "En cola {n} máx {t}", "Cola {n} máx {t}", "Cola {n} {t}", "{n} {t}"],
  queueEmpty: ["Nadie en cola", "Cola vacía", "Cola {n}"],
  queueUnknown: ["Cola: --", "Cola --"],
  longest: ["Espera máx: {t}", "Máx {t}"],
  agents: ["Agentes libres: {n}", "Libres: {n}"],
  muted: "MUDO",
  held: "ESPERA",
  remoteHeld: "ESP.REMOTA",
  clear: "SIN CIFRAR",
  sipRegistering: ["Registrando SIP...", "Registrando..."],
  sipUnregistered: ["SIP no registrado", "No registrado", "Sin SIP"],
  sipFailed: ["Error SIP {reason}", "SIP {reason}", "Error SIP"],
  noHeadset: ["Auriculares no conectados", "Sin auriculares", "Sin casco"],
  noSwitchboard: ["Centralita inaccesible", "Sin centralita", "Sin central"],
  fault: ["Avería: {side}", "Avería {side}"],
  reasons: {
    break: "Descanso",
    lunch: "Comida",
    training: "Formación",
    back_office: "Back office",
    meeting: "Reunión",
    missed: "Llamadas perdidas",
    restart: "Reinicio",
  },
};

export const STRINGS: Readonly<Record<LcdLanguage, Strings>> = { it, en, fr, es };

/** Table for a language; unknown languages fall back to English rather than crashing. */
export function strings(language: string): Strings {
  return (STRINGS as Record<string, Strings | undefined>)[language] ?? en;
}

/** Every string a language can show (to choose the CGRAM glyphs it needs at init). */
export function allText(s: Strings): string {
  const parts: string[] = [];
  for (const v of Object.values(s)) {
    if (typeof v === "string") parts.push(v);
    else if (Array.isArray(v)) parts.push(...(v as string[]));
    else parts.push(...Object.values(v as Record<string, string>));
  }
  return parts.join(" ").replace(/\{\w+\}/g, "");
}

/**
 * Caller language (IVR choice, e.g. "fr", "ar-EG", "ara", "Arabic", "العربية") → a Latin tag the
 * display can always show. Scripts no HD44780 ROM has (Arabic, § 8) never reach the screen.
 */
const ISO639_2: Readonly<Record<string, string>> = {
  ita: "IT",
  eng: "EN",
  fra: "FR",
  fre: "FR",
  spa: "ES",
  ara: "AR",
  deu: "DE",
  ger: "DE",
  por: "PT",
  ron: "RO",
  rum: "RO",
  rus: "RU",
  ukr: "UK",
  zho: "ZH",
  chi: "ZH",
  alb: "SQ",
  sqi: "SQ",
};
const NAMES: Readonly<Record<string, string>> = {
  arabic: "AR",
  arabo: "AR",
  arabe: "AR",
  العربية: "AR",
  english: "EN",
  inglese: "EN",
  anglais: "EN",
  ingles: "EN",
  inglés: "EN",
  french: "FR",
  francese: "FR",
  français: "FR",
  frances: "FR",
  francés: "FR",
  italian: "IT",
  italiano: "IT",
  italien: "IT",
  spanish: "ES",
  spagnolo: "ES",
  espagnol: "ES",
  español: "ES",
  espanol: "ES",
  german: "DE",
  tedesco: "DE",
};

export function languageTag(language: string | null): string | null {
  if (language === null) return null;
  const l = language.normalize("NFC").trim().toLowerCase();
  if (l === "") return null;
  const named = NAMES[l];
  if (named) return named;
  const primary = l.split(/[-_\s]/)[0] ?? "";
  if (/^[a-z]{2}$/.test(primary)) return primary.toUpperCase();
  if (/^[a-z]{3}$/.test(primary)) return ISO639_2[primary] ?? primary.toUpperCase();
  // Anything else (another script, a long name): its ASCII letters, else unknown.
  const ascii = l
    .replace(/[^a-z]/g, "")
    .slice(0, 2)
    .toUpperCase();
  return ascii.length === 2 ? ascii : "??";
}
