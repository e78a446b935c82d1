/**
 * The Dockerfile lexer: a Chevrotain multi-mode lexer over physical lines.
 *
 *   top      between instructions: blank lines, comment lines, indentation, the first text
 *            of an instruction, or a line that is only a continuation
 *   line     after an instruction's text on a physical line: a continuation marker or the
 *            end of the line (which may open heredoc bodies)
 *   cont     at the start of a continuation line: comment lines and empty lines (dropped
 *            inside a continuation), a bare continuation, or more text
 *   heredoc  the bodies of the heredocs the finished line announced, read verbatim
 *
 * The escape character (`\` or a backtick, from the `# escape=` directive) is lexer state,
 * as is the logical line being assembled: whether a line opens heredocs depends on its
 * instruction (RUN/COPY/ADD, not JSON form), which is only known once the whole logical
 * line has been seen. Text never includes a trailing continuation marker or `\r`s before the
 * newline, matching how BuildKit trims each line.
 */
import { createToken, Lexer, type CustomPatternMatcherReturn, type IToken, type TokenType } from 'chevrotain';
import { GO_SPACE_NO_NL } from './goText.js';
import { canContainHeredoc, heredocsFromLine, type HeredocMarker } from './heredoc.js';
import { parseLine } from './lineParsers.js';

export interface HeredocBodyPayload {
  bodies: { marker: HeredocMarker; content: string; terminated: boolean; endOffset: number }[];
}

interface LexState {
  escape: number;
  escapeChar: string;
  logical: string;
  pending: HeredocMarker[];
}

const state: LexState = { escape: 0x5c, escapeChar: '\\', logical: '', pending: [] };

function sticky(source: string): RegExp {
  return new RegExp(source, 'y');
}

function matchSticky(re: RegExp, text: string, offset: number): CustomPatternMatcherReturn | null {
  re.lastIndex = offset;
  const m = re.exec(text);
  return m !== null && m[0].length > 0 ? (m as CustomPatternMatcherReturn) : null;
}

function single(image: string, payload?: unknown): CustomPatternMatcherReturn {
  const r = [image] as unknown as CustomPatternMatcherReturn;
  if (payload !== undefined) r.payload = payload;
  return r;
}

const BLANK = sticky(`[${GO_SPACE_NO_NL}]*\\n|[${GO_SPACE_NO_NL}]+$`);
const COMMENT = sticky(`[${GO_SPACE_NO_NL}]*#[^\\n]*\\n?`);
const INDENT = sticky(`[${GO_SPACE_NO_NL}]+`);
const LINE_END = sticky('\\r*\\n|\\r+$');
const WHOLE_LINE_CONTINUATION = {
  '\\': sticky('\\\\[ \\t]*\\r*(?:\\n|$)'),
  '`': sticky('`[ \\t]*\\r*(?:\\n|$)'),
};
const CONTINUATION = {
  '\\': sticky('\\\\[ \\t]*\\r*\\n?'),
  '`': sticky('`[ \\t]*\\r*\\n?'),
};

/**
 * The end of the text on the physical line starting at `offset`: before a continuation
 * marker (escape, then spaces/tabs, at the end of the line, and not itself escaped) or
 * before the `\r`s and newline.
 */
function textEnd(text: string, offset: number): number {
  const nl = text.indexOf('\n', offset);
  let end = nl < 0 ? text.length : nl;
  while (end > offset && text.charCodeAt(end - 1) === 0x0d) end--;
  let k = end;
  while (k > offset && (text.charCodeAt(k - 1) === 0x20 || text.charCodeAt(k - 1) === 0x09)) k--;
  if (k > offset && text.charCodeAt(k - 1) === state.escape && (k - 1 === offset || text.charCodeAt(k - 2) !== state.escape)) {
    return k - 1;
  }
  return end;
}

function matchText(append: boolean) {
  return (text: string, offset: number): CustomPatternMatcherReturn | null => {
    const end = textEnd(text, offset);
    if (end === offset) return null;
    const image = text.slice(offset, end);
    state.logical = append ? state.logical + image : image;
    return single(image);
  };
}

function matchLineEndHeredoc(text: string, offset: number): CustomPatternMatcherReturn | null {
  const m = matchSticky(LINE_END, text, offset);
  if (m === null || !state.logical.includes('<<')) return null;
  try {
    const node = parseLine(state.logical, state.escapeChar);
    if (!canContainHeredoc(node)) return null;
    const markers = heredocsFromLine(state.logical);
    if (markers.length === 0) return null;
    state.pending = markers;
    return m;
  } catch {
    // The parser re-reads the line and reports the error with its position.
    return null;
  }
}

function trimTrailingNewline(line: string): string {
  let end = line.length;
  while (end > 0 && (line.charCodeAt(end - 1) === 0x0a || line.charCodeAt(end - 1) === 0x0d)) end--;
  return line.slice(0, end);
}

function matchHeredocBodies(text: string, offset: number): CustomPatternMatcherReturn | null {
  const bodies: HeredocBodyPayload['bodies'] = [];
  let pos = offset;
  for (const marker of state.pending) {
    let content = '';
    let terminated = false;
    while (pos < text.length) {
      const nl = text.indexOf('\n', pos);
      const next = nl < 0 ? text.length : nl + 1;
      const line = text.slice(pos, next);
      pos = next;
      let candidate = trimTrailingNewline(line);
      if (marker.chomp) candidate = candidate.replace(/^\t+/, '');
      if (candidate === marker.name) { terminated = true; break; }
      content += line;
    }
    bodies.push({ marker, content, terminated, endOffset: pos });
    if (!terminated) break;
  }
  state.pending = [];
  if (pos === offset) return null;
  return single(text.slice(offset, pos), { bodies } satisfies HeredocBodyPayload);
}

const custom = (fn: (text: string, offset: number) => CustomPatternMatcherReturn | null) => ({ exec: fn });

export const BlankLine = createToken({ name: 'BlankLine', pattern: custom((t, o) => matchSticky(BLANK, t, o)), line_breaks: true });
export const CommentLine = createToken({ name: 'CommentLine', pattern: custom((t, o) => matchSticky(COMMENT, t, o)), line_breaks: true });
export const Indent = createToken({ name: 'Indent', pattern: custom((t, o) => matchSticky(INDENT, t, o)), line_breaks: false });
export const LeadContinuation = createToken({
  name: 'LeadContinuation',
  pattern: custom((t, o) => {
    const m = matchSticky(WHOLE_LINE_CONTINUATION[state.escapeChar as '\\' | '`'], t, o);
    if (m !== null) state.logical = '';
    return m;
  }),
  line_breaks: true,
  push_mode: 'cont',
});
export const Text = createToken({ name: 'Text', pattern: custom(matchText(false)), line_breaks: false, push_mode: 'line' });
export const Continuation = createToken({
  name: 'Continuation',
  pattern: custom((t, o) => matchSticky(CONTINUATION[state.escapeChar as '\\' | '`'], t, o)),
  line_breaks: true,
  pop_mode: true,
  push_mode: 'cont',
});
export const LineEndHeredoc = createToken({ name: 'LineEndHeredoc', pattern: custom(matchLineEndHeredoc), line_breaks: true, pop_mode: true, push_mode: 'heredoc' });
export const LineEnd = createToken({ name: 'LineEnd', pattern: custom((t, o) => matchSticky(LINE_END, t, o)), line_breaks: true, pop_mode: true });
export const ContComment = createToken({ name: 'ContComment', pattern: custom((t, o) => matchSticky(COMMENT, t, o)), line_breaks: true });
export const ContEmpty = createToken({ name: 'ContEmpty', pattern: custom((t, o) => matchSticky(BLANK, t, o)), line_breaks: true });
export const ContContinuation = createToken({
  name: 'ContContinuation',
  pattern: custom((t, o) => matchSticky(WHOLE_LINE_CONTINUATION[state.escapeChar as '\\' | '`'], t, o)),
  line_breaks: true,
});
export const ContText = createToken({ name: 'ContText', pattern: custom(matchText(true)), line_breaks: false, pop_mode: true, push_mode: 'line' });
export const HeredocBodies = createToken({ name: 'HeredocBodies', pattern: custom(matchHeredocBodies), line_breaks: true, pop_mode: true });

export const allTokens: TokenType[] = [
  BlankLine, CommentLine, Indent, LeadContinuation, Text, Continuation, LineEndHeredoc, LineEnd,
  ContComment, ContEmpty, ContContinuation, ContText, HeredocBodies,
];

let lexer: Lexer | undefined;

function getLexer(): Lexer {
  if (lexer === undefined) {
    lexer = new Lexer(
      {
        modes: {
          top: [BlankLine, CommentLine, Indent, LeadContinuation, Text],
          line: [Continuation, LineEndHeredoc, LineEnd],
          cont: [ContComment, ContEmpty, ContContinuation, ContText],
          heredoc: [HeredocBodies],
        },
        defaultMode: 'top',
      },
      {
        positionTracking: 'onlyOffset',
        skipValidations: process.env.KILN_GRAMMAR_VALIDATE !== '1',
        ensureOptimizations: false,
        lineTerminatorsPattern: /\n/,
        lineTerminatorCharacters: ['\n'],
      },
    );
  }
  return lexer;
}

export interface LexResult {
  tokens: IToken[];
  /** Offset of the first character no token pattern accepted (a lexer bug if ever set). */
  errorOffset?: number;
}

/** Tokenizes a whole Dockerfile (BOM already removed) with the given escape character. */
export function tokenize(text: string, escape: string): LexResult {
  state.escape = escape.charCodeAt(0);
  state.escapeChar = escape;
  state.logical = '';
  state.pending = [];
  const r = getLexer().tokenize(text);
  const first = r.errors[0];
  return first === undefined ? { tokens: r.tokens } : { tokens: r.tokens, errorOffset: first.offset };
}
