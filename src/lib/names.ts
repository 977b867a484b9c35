/**
 * Characters that must not appear in a display name: controls (Cc: NUL, newline, ESC…), format
 * characters (Cf: RLO U+202E and the other bidi overrides, zero-width space U+200B, ZWJ/ZWNJ, soft
 * hyphen, BOM…), line/paragraph separators, private-use and lone surrogates. They make one name
 * look like another, or reorder what is shown around them (phishing on the public invite preview).
 */
export const FORBIDDEN_NAME_CHARACTERS = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Zl}\p{Zp}]/u;
const FORBIDDEN_NAME_CHARACTERS_GLOBAL = new RegExp(FORBIDDEN_NAME_CHARACTERS.source, "gu");

/** For names stored before they were refused: shown without the invisible characters. */
export const withoutForbiddenCharacters = (name: string) => name.replace(FORBIDDEN_NAME_CHARACTERS_GLOBAL, "");

/**
 * The uniqueness key of a name: NFKC (compatibility forms: "ﬁ" → "fi", full-width → ASCII, NFC/NFD
 * agree), then case folding, then NFKC again (case mapping can leave a string unnormalized).
 * JavaScript has no full Unicode case fold; upper-casing first and then lower-casing approximates it
 * ("straße" → "STRASSE" → "strasse", "ſ" → "S" → "s", final and medial sigma agree). ASCII names get
 * exactly the key they had before (lower-cased), so existing rows keep theirs.
 */
export function nameKey(name: string): string {
  return name.trim().normalize("NFKC").toUpperCase().toLowerCase().normalize("NFKC");
}
