/**
 * What an incoming INVITE tells the desk about the caller, from raw header values (pure).
 */
export interface CallFacts {
  readonly number: string | null;
  readonly displayName: string | null;
  readonly queue: string | null;
  readonly language: string | null;
  readonly service: string | null;
  readonly autoAnswer: boolean;
}

export interface IdentityLike {
  readonly displayName: string;
  readonly user: string | undefined;
}

/**
 * Number and name: P-Asserted-Identity (RFC 3325 §9.1) wins over From, the PBX having checked it.
 * IVR facts from the configured headers. Auto-answer from `Call-Info: <...>;answer-after=0`
 * (draft-ietf-sip-answermode / the de-facto Call-Info convention of PBXs).
 */
export function callFacts(input: {
  readonly from: IdentityLike;
  readonly asserted: IdentityLike | null;
  readonly header: (name: string) => readonly string[];
  readonly callInfoHeaders: { readonly language: string; readonly service: string; readonly queue: string };
}): CallFacts {
  const who = input.asserted ?? input.from;
  const fallbackName = input.asserted && !input.asserted.displayName ? input.from.displayName : "";
  const first = (name: string): string | null => {
    const v = input.header(name)[0]?.trim();
    return v ? v : null;
  };
  return {
    number: who.user ? decodeUser(who.user) : null,
    displayName: cleanName(who.displayName || fallbackName),
    queue: first(input.callInfoHeaders.queue),
    language: first(input.callInfoHeaders.language),
    service: first(input.callInfoHeaders.service),
    autoAnswer: input.header("Call-Info").some((v) => /;\s*answer-after\s*=\s*0(?![0-9])/i.test(v)),
  };
}

function cleanName(name: string): string | null {
  const n = name.replace(/^"(.*)"$/, "$1").trim();
  return n === "" ? null : n;
}

function decodeUser(user: string): string {
  try {
    return decodeURIComponent(user);
  } catch {
    return user;
  }
}

/** A bare number or user becomes `sip:N@domain`; sip:, sips: and tel: URIs pass as they are. */
export function resolveTarget(target: string, domain: string): string {
  const t = target.trim();
  if (/^(sips?|tel):/i.test(t)) return t;
  return `sip:${t}@${domain}`;
}

/** Status line of a message/sipfrag NOTIFY body (RFC 3515 §2.4.5): `SIP/2.0 200 OK`. */
export function sipfragStatus(body: string): { readonly code: number; readonly reason: string } | null {
  const m = /^SIP\/2\.0\s+(\d{3})\s*([^\r\n]*)/.exec(body.trimStart());
  return m ? { code: Number(m[1]), reason: (m[2] ?? "").trim() } : null;
}
