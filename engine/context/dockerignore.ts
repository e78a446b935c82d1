/**
 * `.dockerignore` as BuildKit reads and applies it (moby/patternmatcher + ignorefile):
 * patterns anchored at the context root, `*`/`?` within one segment, `**` across segments,
 * `!` exceptions, the last matching pattern wins, and a path is excluded when it or any of
 * its parent directories is.
 */

interface Pattern {
  /** The cleaned pattern text, without `!`. */
  text: string;
  exclusion: boolean;
  regex: RegExp;
}

/** Go's path.Clean for slash-separated paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(seg);
  }
  const body = out.join('/');
  if (rooted) return '/' + body;
  return body === '' ? '.' : body;
}

/** Reads an ignore file's text into patterns (`!` kept as a prefix), as ignorefile.ReadAll does. */
export function parseIgnoreFile(text: string): string[] {
  return ignoreFileLines(text).map((l) => l.pattern);
}

/** The patterns of an ignore file with the 1-based line each comes from. */
function ignoreFileLines(text: string): { line: number; pattern: string }[] {
  const patterns: { line: number; pattern: string }[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    let line = i === 0 ? raw.replace(/^\uFEFF/, '') : raw;
    if (line.startsWith('#')) return;
    line = line.trim();
    if (line === '') return;
    const invert = line.startsWith('!');
    if (invert) line = line.slice(1).trim();
    if (line.length > 0) {
      line = cleanPath(line);
      if (line.length > 1 && line.startsWith('/')) line = line.slice(1);
    }
    patterns.push({ line: i + 1, pattern: invert ? '!' + line : line });
  });
  return patterns;
}

/** The first pattern of an ignore file BuildKit refuses (a lone `!`, a bad class or escape), with its line. */
export function ignoreFileProblem(text: string): { line: number; message: string } | undefined {
  for (const { line, pattern } of ignoreFileLines(text)) {
    try { new IgnoreMatcher([pattern]); } catch (e) { return { line, message: (e as Error).message }; }
  }
  return undefined;
}

const REGEX_SPECIAL = new Set(['.', '+', '(', ')', '|', '{', '}', '$', '^']);

function compile(pattern: string): RegExp {
  let re = '^';
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++;
        // `**` at the end matches everything below; elsewhere any number of whole segments.
        re += i + 1 >= chars.length ? '.*' : '(.*/)?';
      } else {
        re += '[^/]*';
      }
    } else if (ch === '?') {
      re += '[^/]';
    } else if (ch === '\\') {
      const next = chars[++i];
      if (next === undefined) throw new Error(`bad pattern ${pattern}: trailing escape`);
      re += /[A-Za-z0-9_]/.test(next) ? next : '\\' + next;
    } else if (ch === '[') {
      // A class: passed through, with `!` negation as Go's filepath.Match spells it.
      let j = i + 1;
      let cls = '[';
      if (chars[j] === '^' || chars[j] === '!') { cls += '^'; j++; }
      for (; j < chars.length && chars[j] !== ']'; j++) {
        const c = chars[j] as string;
        if (c === '\\' && j + 1 < chars.length) { const e = chars[++j] as string; cls += /[A-Za-z0-9_]/.test(e) ? e : '\\' + e; continue; }
        cls += c === '/' ? '' : c;
      }
      if (j >= chars.length) throw new Error(`bad pattern ${pattern}: unterminated character class`);
      re += cls + ']';
      i = j;
    } else if (REGEX_SPECIAL.has(ch)) {
      re += '\\' + ch;
    } else {
      re += ch;
    }
  }
  return new RegExp(re + '$', 's');
}

/** The regular expression a single (cleaned) pattern compiles to: `**` spans directories. */
export function patternRegex(pattern: string): RegExp {
  return compile(cleanPath(pattern));
}

export class IgnoreMatcher {
  private readonly patterns: Pattern[];

  constructor(patterns: readonly string[]) {
    this.patterns = [];
    for (let p of patterns) {
      p = p.trim();
      if (p === '') continue;
      const exclusion = p.startsWith('!');
      if (exclusion) {
        p = p.slice(1);
        if (p === '') throw new Error('illegal exclusion pattern: "!"');
      }
      p = cleanPath(p);
      this.patterns.push({ text: p, exclusion, regex: compile(p) });
    }
  }

  get empty(): boolean { return this.patterns.length === 0; }

  /** True when some `!` pattern exists: an excluded directory may still hold included paths. */
  get hasExceptions(): boolean { return this.patterns.some((p) => p.exclusion); }

  /** The patterns as one string: two matchers with the same rules exclude the same paths. */
  get rules(): string { return JSON.stringify(this.patterns.map((p) => `${p.exclusion ? '!' : ''}${p.text}`)); }

  /**
   * Whether `path` (relative to the context root, `/`-separated) is excluded: patterns in order,
   * last match wins, each pattern also tried against every parent directory.
   */
  excludes(path: string): boolean {
    const file = cleanPath(path);
    const slash = file.lastIndexOf('/');
    const parentDirs = slash < 0 ? [] : file.slice(0, slash).split('/');
    let matched = false;
    for (const pattern of this.patterns) {
      // An include cannot change an already-excluded path, nor an exception an included one.
      if (pattern.exclusion !== matched) continue;
      let match = pattern.regex.test(file);
      for (let i = 0; !match && i < parentDirs.length; i++) {
        match = pattern.regex.test(parentDirs.slice(0, i + 1).join('/'));
      }
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }

}
