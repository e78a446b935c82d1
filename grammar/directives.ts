/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`): only in the comment lines at the
 * very top of the file. Scanning stops at the first line that is not a valid directive
 * (a blank line, an ordinary comment, an unknown key, an instruction); a repeated key is an
 * error, and `escape` accepts only `\` or a backtick. The escape character decides how the
 * rest of the file is lexed, so this scan runs before the lexer.
 */
import type { Directive } from './ast.js';
import { goTrimLeftSpace } from './goText.js';

const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$/;
const KNOWN = new Set(['syntax', 'escape', 'check']);

export interface DirectiveScan {
  directives: Directive[];
  escape: string;
  /** Set when a directive line is invalid: the parse fails there. */
  error?: { message: string; line: number; column: number };
}

/** Scans the top of `text` (BOM already removed) for directives. */
export function scanDirectives(text: string): DirectiveScan {
  const directives: Directive[] = [];
  const seen = new Set<string>();
  let escape = '\\';
  let start = 0;
  for (let lineNo = 1; start <= text.length; lineNo++) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl;
    if (start === end && nl < 0) break;
    const raw = text.slice(start, end).replace(/[\r\n]+$/, '');
    const line = goTrimLeftSpace(raw);
    if (!line.startsWith('#')) break;
    const m = DIRECTIVE.exec(goTrimLeftSpace(line.slice(1)));
    if (!m) break;
    const name = (m[1] as string).toLowerCase();
    if (!KNOWN.has(name)) break;
    const column = raw.length - line.length + 1;
    if (seen.has(name)) {
      return { directives, escape, error: { message: `only one ${name} parser directive can be used`, line: lineNo, column } };
    }
    seen.add(name);
    const value = m[2] as string;
    if (name === 'escape') {
      if (value !== '`' && value !== '\\') {
        return { directives, escape, error: { message: `invalid escape token '${value}' does not match \` or \\`, line: lineNo, column } };
      }
      escape = value;
    }
    directives.push({
      name: name as Directive['name'],
      value,
      range: { start: { line: lineNo, column }, end: { line: lineNo, column: Math.max(column, raw.length) } },
    });
    if (nl < 0) break;
    start = nl + 1;
  }
  return { directives, escape };
}
