/**
 * The guard behind each side's `…OptionsFromConfig`: the function destructures its config section
 * key by key and hands what is left here. What is left must be nothing, so a key added to the
 * schema fails the type-check until the side reads it (or names who does, e.g. the core policy).
 */
export function everyKeyRead(_rest: Record<string, never>): void {}
