/**
 * Shell-word expansion as BuildKit's Dockerfile frontend does it (its `shell.Lex`):
 * `$v`, `${v}` and the modifiers `:-` `-` `:+` `+` `:?` `?` `#` `##` `%` `%%` `/p/r` `//p/r`,
 * single and double quotes, the escape token, and word splitting after expansion.
 *
 * This is not a POSIX shell: it reproduces BuildKit's observable results, quirks included
 * (for instance a nested `${…}` in ProcessWords resets the word being collected, and only a
 * leading BOM is skipped), because kiln must expand recipes exactly as `docker build` does.
 */
import { goQuote, isGoSpace } from './goText.js';

/** Looks a variable up; `undefined` means unset (different from set-but-empty). */
export type EnvLookup = (name: string) => string | undefined;

export interface ShellLexOptions {
  /** Keep quote characters in the output (the parser's heredoc detection uses this). */
  rawQuotes?: boolean;
  /** Keep escape characters in the output. */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters (COPY heredoc bodies). */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written. */
  skipUnsetEnv?: boolean;
}

/** A word that cannot be expanded (`${}`, a missing `}`, `${v:?msg}` with v empty, …). */
export class ExpansionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExpansionError';
  }
}

export interface ExpansionResult {
  /** The expanded word, quotes removed (ProcessWord). */
  result: string;
  /** The expanded words after splitting (ProcessWords). */
  words: string[];
  /** Variables the word referenced that were set. */
  matched: Set<string>;
  /** Variables the word referenced that were unset. */
  unmatched: Set<string>;
}

const EOF = -1;

class RuneScanner {
  private pos = 0;
  constructor(private readonly src: string) {
    // Go's text/scanner skips a byte order mark at the very start only.
    if (src.charCodeAt(0) === 0xfeff) this.pos = 1;
  }
  peek(): number {
    return this.pos < this.src.length ? (this.src.codePointAt(this.pos) as number) : EOF;
  }
  next(): number {
    const cp = this.peek();
    if (cp !== EOF) this.pos += cp > 0xffff ? 2 : 1;
    return cp;
  }
}

const chr = (cp: number): string => String.fromCodePoint(cp);
const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;
const isLetter = (cp: number): boolean => (cp < 0x80 ? (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a) : LETTER.test(chr(cp)));
const isDigit = (cp: number): boolean => (cp < 0x80 ? cp >= 0x30 && cp <= 0x39 : DIGIT.test(chr(cp)));
const isSpecialParam = (cp: number): boolean => '@*#?-$!0'.includes(chr(cp)) && cp !== EOF;

/** The buffer ProcessWords collects the current word in; shared by nested expansions, as upstream. */
interface SharedBuffer { text: string }

class WordCollector {
  words: string[] = [];
  inWord = false;
  constructor(private readonly buf: SharedBuffer) {}
  addChar(cp: number): void {
    if (isGoSpace(cp)) {
      if (this.inWord && this.buf.text.length !== 0) {
        this.words.push(this.buf.text);
        this.buf.text = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(cp);
    }
  }
  addRawChar(cp: number): void {
    this.buf.text += chr(cp);
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch.codePointAt(0) as number);
  }
  addRawString(s: string): void {
    this.buf.text += s;
    this.inWord = true;
  }
  getWords(): string[] {
    if (this.buf.text.length > 0) {
      this.words.push(this.buf.text);
      this.buf.text = '';
      this.inWord = false;
    }
    return this.words;
  }
}

class WordProcessor {
  private readonly scanner: RuneScanner;
  private readonly wordsBuffer: SharedBuffer = { text: '' };
  private rawEscapes: boolean;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(word: string, private readonly escape: number, private readonly opts: ShellLexOptions, private readonly env: EnvLookup) {
    this.scanner = new RuneScanner(word);
    this.rawEscapes = opts.rawEscapes === true;
  }

  run(): { result: string; words: string[] } {
    return this.processStopOn(EOF, this.rawEscapes);
  }

  private getEnv(name: string): string | undefined {
    const v = this.env(name);
    if (v !== undefined) this.matched.add(name);
    else this.unmatched.add(name);
    return v;
  }

  private processStopOn(stop: number, rawEscapes: boolean): { result: string; words: string[] } {
    let result = '';
    this.wordsBuffer.text = '';
    const words = new WordCollector(this.wordsBuffer);
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      const sc = this.scanner;
      while (sc.peek() !== EOF) {
        let ch = sc.peek();
        if (stop !== EOF && ch === stop) {
          sc.next();
          return { result, words: words.getWords() };
        }
        const special = ch === 0x24 /* $ */ || ch === 0x3c /* < */
          || (!this.opts.skipProcessQuotes && (ch === 0x27 || ch === 0x22));
        if (special) {
          let tmp: string;
          if (ch === 0x24) tmp = this.processDollar();
          else if (ch === 0x3c) tmp = this.processPossibleHeredoc();
          else if (ch === 0x27) tmp = this.processSingleQuote();
          else tmp = this.processDoubleQuote();
          result += tmp;
          if (ch === 0x24) words.addString(tmp);
          else words.addRawString(tmp);
          continue;
        }
        ch = sc.next();
        if (ch === this.escape) {
          if (this.rawEscapes) {
            words.addRawChar(ch);
            result += chr(ch);
          }
          ch = sc.next();
          if (ch === EOF) break;
          words.addRawChar(ch);
        } else {
          words.addChar(ch);
        }
        result += chr(ch);
      }
      if (stop !== EOF) {
        throw new ExpansionError(`unexpected end of statement while looking for matching ${chr(stop)}`);
      }
      return { result, words: words.getWords() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processSingleQuote(): string {
    const sc = this.scanner;
    let result = '';
    let ch = sc.next();
    if (this.opts.rawQuotes) result += chr(ch);
    for (;;) {
      ch = sc.next();
      if (ch === EOF) throw new ExpansionError('unexpected end of statement while looking for matching single-quote');
      if (ch === 0x27) {
        if (this.opts.rawQuotes) result += chr(ch);
        return result;
      }
      result += chr(ch);
    }
  }

  private processDoubleQuote(): string {
    const sc = this.scanner;
    let result = '';
    const open = sc.next();
    if (this.opts.rawQuotes) result += chr(open);
    for (;;) {
      const p = sc.peek();
      if (p === EOF) throw new ExpansionError('unexpected end of statement while looking for matching double-quote');
      if (p === 0x22) {
        sc.next();
        if (this.opts.rawQuotes) result += '"';
        return result;
      }
      if (p === 0x24) {
        result += this.processDollar();
        continue;
      }
      let ch = sc.next();
      if (ch === this.escape) {
        if (this.rawEscapes) result += chr(ch);
        const n = sc.peek();
        if (n === EOF) continue; // a trailing escape is dropped; the loop then reports the missing quote
        if (n === 0x22 || n === 0x24 || n === this.escape) ch = sc.next();
      }
      result += chr(ch);
    }
  }

  private processName(): string {
    const sc = this.scanner;
    let name = '';
    while (sc.peek() !== EOF) {
      const ch = sc.peek();
      if (name.length === 0 && isDigit(ch)) {
        while (sc.peek() !== EOF && isDigit(sc.peek())) name += chr(sc.next());
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) return chr(sc.next());
      if (!isLetter(ch) && !isDigit(ch) && ch !== 0x5f) break;
      name += chr(sc.next());
    }
    return name;
  }

  private processPossibleHeredoc(): string {
    const sc = this.scanner;
    sc.next();
    if (sc.peek() !== 0x3c) return '<';
    sc.next();
    let space = '';
    for (let c = sc.peek(); c === 0x09 || c === 0x0d || c === 0x20; c = sc.peek()) space += chr(sc.next());
    return '<<' + space;
  }

  private processDollar(): string {
    const sc = this.scanner;
    const skipUnset = this.opts.skipUnsetEnv === true;
    sc.next();
    if (sc.peek() !== 0x7b /* { */) {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getEnv(name);
      if (value === undefined && skipUnset) return '$' + name;
      return value ?? '';
    }
    sc.next();
    const first = sc.peek();
    if (first === EOF) throw new ExpansionError("syntax error: missing '}'");
    if (first === 0x7b || first === 0x7d || first === 0x3a) throw new ExpansionError('syntax error: bad substitution');
    const name = this.processName();
    let ch = sc.next();
    // Go's string(rune(-1)) at the end of input is U+FFFD, which shows in the message.
    let chs = ch === EOF ? '\ufffd' : chr(ch);
    let nullIsUnset = false;

    if (ch === 0x7d /* } */) {
      const value = this.getEnv(name);
      if (value === undefined && skipUnset) return `\${${name}}`;
      return value ?? '';
    }
    if (ch === 0x3a /* : */) {
      nullIsUnset = true;
      ch = sc.next();
      chs += ch === EOF ? '\ufffd' : chr(ch);
      return this.modifier(name, ch, chs, nullIsUnset);
    }
    if (ch === 0x2b || ch === 0x2d || ch === 0x3f || ch === 0x23 || ch === 0x25) {
      return this.modifier(name, ch, chs, nullIsUnset);
    }
    if (ch === 0x2f /* / */) {
      const replaceAll = sc.peek() === 0x2f;
      if (replaceAll) sc.next();
      let pattern: string;
      try {
        pattern = this.processStopOn(0x2f, true).result;
      } catch (e) {
        if (sc.peek() === EOF) throw new ExpansionError("syntax error: missing '/' in ${}");
        throw e;
      }
      let replacement: string;
      try {
        replacement = this.processStopOn(0x7d, true).result;
      } catch (e) {
        if (sc.peek() === EOF) throw new ExpansionError("syntax error: missing '}'");
        throw e;
      }
      const value = this.getEnv(name);
      if (value === undefined && skipUnset) return `\${${name}/${pattern}/${replacement}}`;
      const re = shellPatternToRegExp(pattern, true, false, replaceAll);
      const v = value ?? '';
      if (replaceAll) return v.replace(re, (m) => goExpandTemplate(replacement, m));
      const m = re.exec(v);
      if (m === null) return v;
      return v.slice(0, m.index) + replacement + v.slice(m.index + m[0].length);
    }
    throw new ExpansionError(`unsupported modifier (${chs}) in substitution`);
  }

  private modifier(name: string, ch: number, chs: string, nullIsUnset: boolean): string {
    const sc = this.scanner;
    const rawEscapes = ch === 0x23 || ch === 0x25;
    if (nullIsUnset && rawEscapes) throw new ExpansionError(`unsupported modifier (${chs}) in substitution`);
    let word: string;
    try {
      word = this.processStopOn(0x7d, rawEscapes).result;
    } catch (e) {
      if (sc.peek() === EOF) throw new ExpansionError("syntax error: missing '}'");
      throw e;
    }
    const value = this.getEnv(name);
    const set = value !== undefined;
    if (this.opts.skipUnsetEnv && !set) return `\${${name}${chs}${word}}`;
    const v = value ?? '';
    switch (ch) {
      case 0x2d: /* - */
        return !set || (nullIsUnset && v === '') ? word : v;
      case 0x2b: /* + */
        return !set || (nullIsUnset && v === '') ? '' : word;
      case 0x3f: /* ? */
        if (!set) throw new ExpansionError(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
        if (nullIsUnset && v === '') throw new ExpansionError(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
        return v;
      case 0x25: /* % */
      case 0x23: /* # */ {
        let greedy = false;
        if (word.length > 0 && word.codePointAt(0) === ch) {
          greedy = true;
          word = word.slice(1);
        }
        return ch === 0x25 ? trimSuffix(word, v, greedy) : trimPrefix(word, v, greedy);
      }
      default:
        throw new ExpansionError(`unsupported modifier (${chs}) in substitution`);
    }
  }
}

/**
 * A shell pattern (`*`, `?`, `\*`, `\?`, `\\`; `\}` and `\/` escape the delimiters) as a
 * RegExp. `.` is written `[^\n]` because Go's `.` matches everything but a newline.
 */
function shellPatternToRegExp(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  let out = anchored ? '^' : '';
  const star = greedy ? '[^\\n]*' : '[^\\n]*?';
  const cps = Array.from(pattern);
  for (let i = 0; i < cps.length; i++) {
    let tok = cps[i] as string;
    switch (tok) {
      case '*': out += star; continue;
      case '?': out += '[^\\n]'; continue;
      case '\\': {
        const next = cps[i + 1];
        if (next === '}' || next === '/') continue;
        out += '\\';
        i++;
        tok = next ?? '';
        if (tok !== '*' && tok !== '?' && tok !== '\\') {
          throw new ExpansionError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${tok === '' ? '\ufffd' : tok}'`);
        }
        out += tok;
        continue;
      }
      case '[': case ']': case '{': case '}': case '.': case '+': case '(': case ')': case '|': case '^': case '$':
        out += '\\' + tok;
        continue;
      default:
        out += tok;
    }
  }
  return new RegExp(out, global ? 'gu' : 'u');
}

/** Go's regexp template expansion for ReplaceAllString (`$0`, `${0}`, `$$`); no groups exist but 0. */
function goExpandTemplate(template: string, match: string): string {
  let out = '';
  let rest = template;
  for (;;) {
    const i = rest.indexOf('$');
    if (i < 0) break;
    out += rest.slice(0, i);
    rest = rest.slice(i + 1);
    if (rest.startsWith('$')) { out += '$'; rest = rest.slice(1); continue; }
    let name: string | undefined;
    if (rest.startsWith('{')) {
      const close = rest.indexOf('}');
      const inner = close > 1 ? rest.slice(1, close) : '';
      if (inner !== '' && /^[\p{L}\p{Nd}_]+$/u.test(inner)) { name = inner; rest = rest.slice(close + 1); }
    } else {
      const m = /^[\p{L}\p{Nd}_]+/u.exec(rest);
      if (m) { name = m[0]; rest = rest.slice(m[0].length); }
    }
    if (name === undefined) { out += '$'; continue; }
    if (/^[0-9]+$/.test(name) && Number(name) === 0) out += match;
  }
  return out + rest;
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const re = shellPatternToRegExp(pattern, greedy, true);
  const m = re.exec(value);
  return m === null ? value : value.slice(m[0].length);
}

/** Reverses a pattern by code point, keeping `\x` escape pairs in order. */
function reversePattern(pattern: string): string {
  const cps = Array.from(pattern);
  const out: string[] = new Array<string>(cps.length);
  const last = cps.length - 1;
  for (let i = 0; i <= last;) {
    const tok = cps[i] as string;
    const o = last - i;
    if (tok === '\\' && i !== last) {
      out[o - 1] = tok;
      out[o] = cps[i + 1] as string;
      i += 2;
    } else {
      out[o] = tok;
      i++;
    }
  }
  return out.join('');
}

const reverseString = (s: string): string => Array.from(s).reverse().join('');

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

/** BuildKit's shell.Lex: expands words with a fixed escape token and options. */
export class ShellWordExpander {
  private readonly escapeCp: number;
  constructor(escape: string = '\\', private readonly options: ShellLexOptions = {}) {
    this.escapeCp = escape.codePointAt(0) as number;
  }

  /** Expansion plus which variables were referenced; throws ExpansionError. */
  process(word: string, env: EnvLookup): ExpansionResult {
    const p = new WordProcessor(word, this.escapeCp, this.options, env);
    try {
      const { result, words } = p.run();
      return { result, words, matched: p.matched, unmatched: p.unmatched };
    } catch (e) {
      if (e instanceof ExpansionError) throw new ExpansionError(`failed to process ${goQuote(word)}: ${e.message}`);
      throw e;
    }
  }

  /** BuildKit's ProcessWord: one string, quotes removed. */
  processWord(word: string, env: EnvLookup): string {
    return this.process(word, env).result;
  }

  /** BuildKit's ProcessWords: expansion, then splitting on unquoted white space. */
  processWords(word: string, env: EnvLookup): string[] {
    return this.process(word, env).words;
  }
}

const defaultExpanders = new Map<string, ShellWordExpander>();
function expanderFor(escape: string): ShellWordExpander {
  let e = defaultExpanders.get(escape);
  if (!e) { e = new ShellWordExpander(escape); defaultExpanders.set(escape, e); }
  return e;
}

/** ProcessWord: expands one word (quotes removed). Throws ExpansionError. */
export function expandWord(word: string, env: EnvLookup, escape = '\\'): string {
  return expanderFor(escape).processWord(word, env);
}

/** ProcessWords: expands and splits into words. Throws ExpansionError. */
export function expandWords(word: string, env: EnvLookup, escape = '\\'): string[] {
  return expanderFor(escape).processWords(word, env);
}

/** ProcessWordWithMatches: the expanded word and the variable names it used (set and unset). */
export function expandWordWithMatches(word: string, env: EnvLookup, escape = '\\'): ExpansionResult {
  return expanderFor(escape).process(word, env);
}

/** An EnvLookup over a plain record or Map. */
export function envFrom(vars: Record<string, string> | ReadonlyMap<string, string>): EnvLookup {
  if (vars instanceof Map) return (name) => vars.get(name);
  const rec = vars as Record<string, string>;
  return (name) => (Object.prototype.hasOwnProperty.call(rec, name) ? rec[name] : undefined);
}
