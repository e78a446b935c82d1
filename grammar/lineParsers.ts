/**
 * Turns one logical instruction line (continuations joined, comments dropped) into the
 * keyword, its leading `--flags` and its arguments, shaped per instruction the way
 * BuildKit's line parsers shape them (this is what `Node.Dump` prints):
 *   RUN CMD ENTRYPOINT SHELL   JSON array, else the whole rest as one argument
 *   ADD COPY VOLUME            JSON array, else split on white space
 *   FROM EXPOSE                split on white space
 *   USER WORKDIR MAINTAINER STOPSIGNAL   the whole rest
 *   ENV LABEL                  key/value/separator triples (`k=v` or legacy `k v`)
 *   ARG                        quote-aware words, quotes kept
 *   HEALTHCHECK                type word, then like CMD
 *   ONBUILD                    a nested instruction
 *   anything else              accepted with one empty argument; rejected later
 */
import { goQuote, goTrimLeftSpace, goTrimSpace, isGoSpace, isGoSpaceByte, splitWhitespace, toWellFormed } from './goText.js';

/** An argument and, when it maps to a span of the logical line, where (end exclusive). */
export interface ArgSpan { value: string; start?: number; end?: number }

export interface LineNode {
  keyword: string;
  flags: string[];
  args: ArgSpan[];
  json: boolean;
  /** ONBUILD's nested instruction. */
  sub?: LineNode;
  /** The logical line this node came from (BuildKit's Node.Original). */
  original: string;
}

/** A line the parser rejects outright (BuildKit fails `Parse` on these). */
export class LineParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LineParseError';
  }
}

export const NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';

type LineParser = (rest: string, restOffset: number, escape: number) => { args: ArgSpan[]; json: boolean; sub?: LineNode };

const IS_ASCII = /^[\x00-\x7f]*$/;

/**
 * Leading `--flag` words. BuildKit walks the bytes of the line here (not the characters),
 * so a non-ASCII flag value comes out byte-by-byte as Latin-1 characters; we do the same.
 */
export function extractBuilderFlags(line: string, escape: number): { rest: string; flags: string[] } {
  const ascii = IS_ASCII.test(line);
  const bytes: ArrayLike<number> = ascii ? { length: line.length } as ArrayLike<number> : Buffer.from(line, 'utf8');
  const at = ascii ? (i: number): number => line.charCodeAt(i) : (i: number): number => (bytes as Buffer)[i] as number;
  const restFrom = (pos: number): string => (ascii ? line.slice(pos) : (bytes as Buffer).subarray(pos).toString('utf8'));
  const n = bytes.length;
  const words: string[] = [];
  const IN_SPACES = 0, IN_WORD = 1, IN_QUOTE = 2;
  let phase = IN_SPACES;
  let word = '';
  let quote = 0;
  let blankOK = false;
  let ch = 0;
  for (let pos = 0; pos <= n; pos++) {
    if (pos !== n) ch = at(pos);
    if (phase === IN_SPACES) {
      if (pos === n) break;
      if (isGoSpaceByte(ch)) continue;
      if (ch !== 0x2d || pos + 1 === n || at(pos + 1) !== 0x2d) return { rest: restFrom(pos), flags: words };
      phase = IN_WORD;
    }
    if ((phase === IN_WORD || phase === IN_QUOTE) && pos === n) {
      if (word !== '--' && (blankOK || word.length > 0)) words.push(word);
      break;
    }
    if (phase === IN_WORD) {
      if (isGoSpaceByte(ch)) {
        phase = IN_SPACES;
        if (word === '--') return { rest: restFrom(pos), flags: words };
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === 0x27 || ch === 0x22) {
        quote = ch;
        blankOK = true;
        phase = IN_QUOTE;
        continue;
      }
      if (ch === escape) {
        if (pos + 1 === n) continue;
        pos++;
        ch = at(pos);
      }
      word += String.fromCharCode(ch);
      continue;
    }
    // IN_QUOTE
    if (ch === quote) {
      phase = IN_WORD;
      continue;
    }
    if (ch === escape) {
      if (pos + 1 === n) {
        phase = IN_WORD;
        continue;
      }
      pos++;
      ch = at(pos);
    }
    word += String.fromCharCode(ch);
  }
  return { rest: '', flags: words };
}

/** Quote-aware word splitting that keeps quotes and escapes (BuildKit's parseWords). */
export function parseWords(rest: string, escape: number): { value: string; start: number; end: number }[] {
  const words: { value: string; start: number; end: number }[] = [];
  const IN_SPACES = 0, IN_WORD = 1, IN_QUOTE = 2;
  let phase = IN_SPACES;
  let quote = 0;
  let blankOK = false;
  let word = '';
  let wordStart = 0;
  const n = rest.length;
  let ch = 0;
  let width = 0;
  const decode = (pos: number): void => {
    ch = rest.codePointAt(pos) as number;
    width = ch > 0xffff ? 2 : 1;
  };
  for (let pos = 0; pos <= n; pos += width) {
    if (pos !== n) decode(pos);
    else width = 1;
    if (phase === IN_SPACES) {
      if (pos === n) break;
      if (isGoSpace(ch)) continue;
      phase = IN_WORD;
      wordStart = pos;
    }
    if ((phase === IN_WORD || phase === IN_QUOTE) && pos === n) {
      if (blankOK || word.length > 0) words.push({ value: word, start: wordStart, end: n });
      break;
    }
    if (phase === IN_WORD) {
      if (isGoSpace(ch)) {
        phase = IN_SPACES;
        if (blankOK || word.length > 0) words.push({ value: word, start: wordStart, end: pos });
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === 0x27 || ch === 0x22) {
        quote = ch;
        blankOK = true;
        phase = IN_QUOTE;
      }
      if (ch === escape) {
        if (pos + width === n) continue;
        word += String.fromCodePoint(ch);
        pos += width;
        decode(pos);
      }
      word += String.fromCodePoint(ch);
      continue;
    }
    // IN_QUOTE
    if (ch === quote) phase = IN_WORD;
    if (ch === escape && quote !== 0x27) {
      if (pos + width === n) {
        phase = IN_WORD;
        continue;
      }
      pos += width;
      word += String.fromCodePoint(ch);
      decode(pos);
    }
    word += String.fromCodePoint(ch);
  }
  return words;
}

const whole = (rest: string, off: number): ArgSpan[] => [{ value: rest, start: off, end: off + rest.length }];

/** Splits on `[\t\v\f\r ]+` keeping offsets. */
function whitespaceList(rest: string, off: number): ArgSpan[] {
  const parts = splitWhitespace(rest, -1);
  const out: ArgSpan[] = [];
  let pos = 0;
  for (const p of parts) {
    const i = rest.indexOf(p, pos);
    out.push({ value: p, start: off + i, end: off + i + p.length });
    pos = i + p.length;
  }
  return out;
}


/**
 * Go's json.Unmarshal fails (and BuildKit falls back to shell form) on JSON that JavaScript
 * accepts: numbers beyond float64 range and nesting deeper than 10000.
 */
function decodableByGo(value: unknown, depth: number): boolean {
  if (depth > 10000) return false;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => decodableByGo(v, depth + 1));
  if (value !== null && typeof value === 'object') return Object.values(value).every((v) => decodableByGo(v, depth + 1));
  return true;
}

/** The strings of a JSON array; undefined when `rest` is not JSON (the shell form then applies). */
function parseJsonArray(rest: string): string[] | undefined {
  const t = goTrimLeftSpace(rest);
  if (!t.startsWith('[')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(t);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || !decodableByGo(parsed, 1)) return undefined;
  return parsed.map((e) => {
    if (typeof e !== 'string') throw new LineParseError(NOT_STRING_ARRAY);
    return toWellFormed(e);
  });
}

const parseMaybeJson: LineParser = (rest, off) => {
  if (rest === '') return { args: [], json: false };
  const list = parseJsonArray(rest);
  if (list !== undefined) return { args: list.map((value) => ({ value })), json: true };
  return { args: whole(rest, off), json: false };
};

const parseMaybeJsonToList: LineParser = (rest, off) => {
  const list = parseJsonArray(rest);
  if (list !== undefined) return { args: list.map((value) => ({ value })), json: true };
  return { args: rest === '' ? [] : whitespaceList(rest, off), json: false };
};

const parseStringsWhitespaceDelimited: LineParser = (rest, off) => ({ args: rest === '' ? [] : whitespaceList(rest, off), json: false });

const parseString: LineParser = (rest, off) => ({ args: rest === '' ? [] : whole(rest, off), json: false });

function nameVal(key: string): LineParser {
  return (rest, off, escape) => {
    const words = parseWords(rest, escape);
    if (words.length === 0) return { args: [], json: false };
    if (!(words[0] as { value: string }).value.includes('=')) {
      const parts = splitWhitespace(rest, 2);
      if (parts.length < 2) throw new LineParseError(`${key} must have two arguments`);
      const k = parts[0] as string;
      const v = parts[1] as string;
      const vStart = rest.length - v.length;
      return {
        args: [
          { value: k, start: off, end: off + k.length },
          { value: v, start: off + vStart, end: off + rest.length },
          { value: '' },
        ],
        json: false,
      };
    }
    const args: ArgSpan[] = [];
    for (const w of words) {
      const eq = w.value.indexOf('=');
      if (eq < 0) throw new LineParseError(`Syntax error - can't find = in ${goQuote(w.value)}. Must be of the form: name=value`);
      // Spans are exact only when the word kept its source text (it always does: quotes are kept).
      args.push({ value: w.value.slice(0, eq), start: off + w.start, end: off + w.start + eq });
      args.push({ value: w.value.slice(eq + 1), start: off + w.start + eq + 1, end: off + w.end });
      args.push({ value: '=' });
    }
    return { args, json: false };
  };
}

const parseNameOrNameVal: LineParser = (rest, off, escape) => ({
  args: parseWords(rest, escape).map((w) => ({ value: w.value, start: off + w.start, end: off + w.end })),
  json: false,
});

const parseHealthConfig: LineParser = (rest, off, escape) => {
  // BuildKit looks for the end of the type word byte by byte.
  const bytes = Buffer.from(rest, 'utf8');
  let sep = 0;
  while (sep < bytes.length && !isGoSpaceByte(bytes[sep] as number)) sep++;
  let next = sep;
  while (next < bytes.length && isGoSpaceByte(bytes[next] as number)) next++;
  if (sep === 0) return { args: [], json: false };
  const typ = bytes.subarray(0, sep).toString('utf8');
  const cmdText = bytes.subarray(next).toString('utf8');
  const cmdOff = off + rest.length - cmdText.length;
  const cmd = parseMaybeJson(cmdText, cmdOff, escape);
  return { args: [{ value: typ, start: off, end: off + typ.length }, ...cmd.args], json: cmd.json };
};

const parseSubCommand: LineParser = (rest, off, escape) => {
  if (rest === '') return { args: [], json: false };
  return { args: [], json: false, sub: parseLineAt(rest, escape, off) };
};

const parseIgnore: LineParser = () => ({ args: [{ value: '' }], json: false });

const DISPATCH: Record<string, LineParser> = {
  add: parseMaybeJsonToList,
  arg: parseNameOrNameVal,
  cmd: parseMaybeJson,
  copy: parseMaybeJsonToList,
  entrypoint: parseMaybeJson,
  env: nameVal('ENV'),
  expose: parseStringsWhitespaceDelimited,
  from: parseStringsWhitespaceDelimited,
  healthcheck: parseHealthConfig,
  label: nameVal('LABEL'),
  maintainer: parseString,
  onbuild: parseSubCommand,
  run: parseMaybeJson,
  shell: parseMaybeJson,
  stopsignal: parseString,
  user: parseString,
  volume: parseMaybeJsonToList,
  workdir: parseString,
};

/** The instruction names the parser knows (lower case). */
export const KNOWN_INSTRUCTIONS: readonly string[] = Object.keys(DISPATCH);

/** Go's strings.ToLower, which maps code point by code point (JS may change the length). */
export function goLower(s: string): string {
  const l = s.toLowerCase();
  if (l.length === s.length) return l;
  return Array.from(s, (c) => { const x = c.toLowerCase(); return Array.from(x).length === 1 ? x : c; }).join('');
}

function parseLineAt(line: string, escape: number, lineOffset: number): LineNode {
  const trimmed = goTrimSpace(line);
  const lead = trimmed === '' ? 0 : line.indexOf(trimmed);
  const cmdline = splitWhitespace(trimmed, 2);
  const keyword = cmdline[0] as string;
  let flags: string[] = [];
  let rest = '';
  let restOffset = lineOffset + lead;
  if (cmdline.length === 2) {
    const afterKeyword = cmdline[1] as string;
    const afterStart = lead + trimmed.length - afterKeyword.length;
    const x = extractBuilderFlags(afterKeyword, escape);
    flags = x.flags;
    rest = goTrimSpace(x.rest);
    const restRaw = x.rest;
    const restRawStart = afterStart + afterKeyword.length - restRaw.length;
    restOffset = lineOffset + restRawStart + (rest === '' ? 0 : restRaw.indexOf(rest));
  }
  const lower = goLower(keyword);
  const fn = Object.hasOwn(DISPATCH, lower) ? (DISPATCH[lower] as LineParser) : parseIgnore;
  const { args, json, sub } = fn(rest, restOffset, escape);
  const node: LineNode = { keyword, flags, args, json, original: line };
  if (sub) node.sub = sub;
  return node;
}

/** Parses one logical line; offsets in the result are relative to `line`. Throws LineParseError. */
export function parseLine(line: string, escape: string): LineNode {
  return parseLineAt(line, escape.codePointAt(0) as number, 0);
}
