/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] as number;
      prev[j] = Math.min(up + 1, (prev[j - 1] as number) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] as number;
}

/** The candidate nearest to `word`, if it is near enough to be a plausible typo. */
export function closestMatch(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) { best = c; bestDistance = d; }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/**
 * BuildKit's suggestion rule (util/suggest): the option at Levenshtein distance < 3 from
 * `word` (the first of equals wins), none when `word` is itself an option. Case-insensitive
 * matching gives the suggestion the case style of `word` (all lower or all upper).
 */
export function suggestLike(word: string, options: readonly string[], caseSensitive: boolean): string | undefined {
  const val = caseSensitive ? word : word.toLowerCase();
  let match: string | undefined;
  let min = 3;
  for (const option of options) {
    const opt = caseSensitive ? option : option.toLowerCase();
    if (opt === val) return undefined;
    const d = editDistance(val, opt);
    if (d < min) {
      min = d;
      if (caseSensitive) match = opt;
      else match = word !== word.toLowerCase() && word === word.toUpperCase() ? opt.toUpperCase() : opt;
    }
  }
  return match;
}
