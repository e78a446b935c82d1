/**
 * Text primitives with Go's semantics. BuildKit's parser is written in Go, and several of
 * its observable behaviours come straight from Go's standard library: which characters
 * count as white space (`unicode.IsSpace`), how `strings.TrimSpace` trims, and how
 * `strconv.Quote` prints a string. Matching them here is what makes the dump agree byte
 * for byte.
 */

/** Go's `unicode.IsSpace` for one code point. */
export function isGoSpace(cp: number): boolean {
  if (cp <= 0xff) {
    return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d) || cp === 0x85 || cp === 0xa0;
  }
  return cp === 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp === 0x2028 || cp === 0x2029
    || cp === 0x202f || cp === 0x205f || cp === 0x3000;
}

/** Go's `unicode.IsSpace` applied to a single byte value (Go code that does `rune(s[i])`). */
export function isGoSpaceByte(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d) || b === 0x85 || b === 0xa0;
}

/** A character class (for RegExp sources) of Go's white space, `\n` excluded. */
export const GO_SPACE_NO_NL = '\\t\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const LEADING_SPACE = new RegExp(`^[${GO_SPACE_NO_NL}\\n]+`);
const TRAILING_SPACE = new RegExp(`[${GO_SPACE_NO_NL}\\n]+$`);

export function goTrimLeftSpace(s: string): string {
  return s.replace(LEADING_SPACE, '');
}

export function goTrimSpace(s: string): string {
  return s.replace(LEADING_SPACE, '').replace(TRAILING_SPACE, '');
}

/** BuildKit's `reWhitespace` = `[\t\v\f\r ]+` (ASCII only, unlike IsSpace). */
export const RE_WHITESPACE = /[\t\v\f\r ]+/;

/** Go's `regexp.Split(s, n)` for `reWhitespace` with n = 2 or n = -1. */
export function splitWhitespace(s: string, limit: 2 | -1): string[] {
  if (s === '') return [''];
  const re = /[\t\v\f\r ]+/g;
  const out: string[] = [];
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    if (limit === 2 && out.length === 1) break;
    // Go's Split skips an empty match at position 0 only when the match is empty; a
    // leading separator gives an empty first field, as here.
    out.push(s.slice(last, m.index));
    last = m.index + m[0].length;
  }
  out.push(s.slice(last));
  return out;
}

function isPrintable(cp: number): boolean {
  // Go's strconv.IsPrint: letters, marks, numbers, punctuation, symbols and U+0020.
  if (cp === 0x20) return true;
  if (cp < 0x20 || cp === 0x7f) return false;
  if (cp >= 0x80 && cp < 0xa0) return false;
  return PRINTABLE.test(String.fromCodePoint(cp));
}
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** Go's `strconv.Quote`: double-quoted, Go escapes, printable Unicode kept as is. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    switch (cp) {
      case 0x22: out += '\\"'; continue;
      case 0x5c: out += '\\\\'; continue;
      case 0x07: out += '\\a'; continue;
      case 0x08: out += '\\b'; continue;
      case 0x0c: out += '\\f'; continue;
      case 0x0a: out += '\\n'; continue;
      case 0x0d: out += '\\r'; continue;
      case 0x09: out += '\\t'; continue;
      case 0x0b: out += '\\v'; continue;
    }
    // A lone surrogate cannot occur in a Go string; Go's decoders turn it into U+FFFD.
    if (cp >= 0xd800 && cp <= 0xdfff) { out += '\ufffd'; continue; }
    if (isPrintable(cp)) { out += ch; continue; }
    if (cp < 0x80) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x10000) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return out + '"';
}

/** Go's `%q` on a `[]string`: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map(goQuote).join(' ')}]`;
}

/** Replaces lone UTF-16 surrogates (which a Go string cannot hold) with U+FFFD. */
export function toWellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}
