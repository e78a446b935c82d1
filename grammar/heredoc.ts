/**
 * Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) on RUN, COPY and ADD lines (also
 * inside ONBUILD), found the way BuildKit finds them: the line is split into shell words with
 * quotes and escapes kept, each word is matched against `[n]<<[-]WORD`, and WORD is lexed
 * twice (quotes kept / removed) to learn whether any part of it was quoted, which turns
 * expansion of the body off.
 */
import type { Heredoc } from './ast.js';
import { ExpansionError, ShellWordExpander } from './expand.js';
import { goLower, type LineNode } from './lineParsers.js';

/** A heredoc marker without its body yet. */
export type HeredocMarker = Omit<Heredoc, 'content' | 'range'>;

const HEREDOC_WORD = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;
const HEREDOC_INSTRUCTIONS = new Set(['add', 'copy', 'run']);

const noEnv = (): undefined => undefined;
const lineLexer = new ShellWordExpander('\\', { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
const wordLexer = new ShellWordExpander('\\', { skipUnsetEnv: true });
const wordLexerRaw = new ShellWordExpander('\\', { rawQuotes: true, skipUnsetEnv: true });

const countQuotes = (s: string): number => {
  let n = 0;
  for (let i = 0; i < s.length; i++) { const c = s.charCodeAt(i); if (c === 0x22 || c === 0x27) n++; }
  return n;
};

/**
 * Parses one word as a heredoc marker: undefined when it is not one; throws ExpansionError
 * when the delimiter cannot be lexed (an unterminated quote).
 */
export function parseHeredocMarker(src: string): HeredocMarker | undefined {
  const m = HEREDOC_WORD.exec(src);
  if (!m) return undefined;
  const rest = m[3] as string;
  if (rest.length === 0) return undefined;
  const words = wordLexer.processWords(rest, noEnv);
  if (words.length !== 1) return undefined;
  const wordsRaw = wordLexerRaw.processWords(rest, noEnv);
  if (wordsRaw.length !== words.length) {
    throw new ExpansionError(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  }
  const word = words[0] as string;
  const digits = m[1] as string;
  return {
    name: word,
    fileDescriptor: digits === '' ? 0 : Number(digits),
    expand: countQuotes(word) === countQuotes(wordsRaw[0] as string),
    chomp: m[2] === '-',
  };
}

/** Every heredoc marker on a logical line, in order. Throws ExpansionError for a bad delimiter. */
export function heredocsFromLine(line: string): HeredocMarker[] {
  let words: string[];
  try {
    words = lineLexer.processWords(line, noEnv);
  } catch (e) {
    if (e instanceof ExpansionError) return [];
    throw e;
  }
  const out: HeredocMarker[] = [];
  for (const w of words) {
    const h = parseHeredocMarker(w);
    if (h) out.push(h);
  }
  return out;
}

/** Whether BuildKit reads heredoc bodies for this instruction (non-JSON RUN/COPY/ADD, also under ONBUILD). */
export function canContainHeredoc(node: LineNode): boolean {
  let n = node;
  if (goLower(n.keyword) === 'onbuild' && n.sub) n = n.sub;
  return HEREDOC_INSTRUCTIONS.has(goLower(n.keyword)) && !n.json;
}

/** `<<-`: strips leading tabs from every line of a body. */
export function chompHeredocContent(content: string): string {
  // Go's (?m)^ starts a line only after \n (JS's m flag would also split at \r, U+2028, …).
  return content.replace(/(^|\n)\t+/g, '$1');
}
