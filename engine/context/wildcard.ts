/**
 * Go's filepath.Match syntax, which COPY/ADD sources use: `*` and `?` within one path
 * segment, `[...]` classes (`^` negates), `\` escapes the next character.
 */

export function hasWildcard(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c === '\\') { i++; continue; }
    if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

/** Removes the escapes from a path without wildcards (`a\*b` names the file `a*b`). */
export function unescapeLiteral(path: string): string {
  return path.replace(/\\(.)/g, '$1');
}

/** A matcher for one path segment (no `/`). */
export function segmentMatcher(segment: string): RegExp {
  let re = '^';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      const n = segment[++i];
      if (n === undefined) throw new Error(`syntax error in pattern: ${segment}`);
      re += escapeChar(n);
    } else if (c === '[') {
      let j = i + 1;
      let cls = '[';
      if (segment[j] === '^') { cls += '^'; j++; }
      for (; j < segment.length && segment[j] !== ']'; j++) {
        let ch = segment[j] as string;
        if (ch === '\\') ch = segment[++j] ?? '';
        cls += ch === '-' ? '-' : escapeChar(ch);
      }
      if (j >= segment.length) throw new Error(`syntax error in pattern: ${segment}`);
      re += cls + ']';
      i = j;
    } else re += escapeChar(c);
  }
  return new RegExp(re + '$', 's');
}

function escapeChar(c: string): string {
  return /[A-Za-z0-9_ ]/.test(c) ? c : '\\' + c;
}
