/**
 * `--chmod` values: octal (`755`, `0644`, at most 07777) or symbolic (`u=rwX,go=rX`, `+x`,
 * `a-w`) as chmod(1) reads them. Symbolic modes apply to each entry's own mode; `X` grants
 * execute only to directories and to files that already have an execute bit.
 */

/**
 * A --chmod: the mode an entry gets from its own. `octal` is set for an octal value: BuildKit
 * (v0.24) also gives it to every directory the copy creates (0755 otherwise).
 */
export type ModeChange = ((mode: number, isDirectory: boolean) => number) & { readonly octal?: number };

function octalError(value: string): string {
  return `invalid chmod parameter: '${value}'. it should be octal string and between 0 and 07777`;
}

const WHO_BITS: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007 };

export function parseChmod(value: string): ModeChange {
  if (/^[0-7]+$/.test(value)) {
    const n = parseInt(value, 8);
    if (n > 0o7777) throw new Error(octalError(value));
    return Object.assign(() => n, { octal: n });
  }
  // A value that starts like a number is judged as one (BuildKit's message for it).
  if (/^[0-9]/.test(value)) throw new Error(octalError(value));
  const clauses = value.split(',');
  const ops: ((mode: number, isDir: boolean) => number)[] = [];
  for (const clause of clauses) {
    const m = /^([ugoa]*)((?:[-+=][rwxXst]*)+)$/.exec(clause);
    if (!m) throw new Error(`invalid chmod parameter: ${value}`);
    const who = m[1] === '' || (m[1] as string).includes('a') ? 'ugo' : (m[1] as string);
    let whoMask = 0;
    for (const w of who) whoMask |= WHO_BITS[w] as number;
    for (const action of (m[2] as string).match(/[-+=][rwxXst]*/g) ?? []) {
      const op = action[0] as string;
      const perms = action.slice(1);
      ops.push((mode, isDir) => {
        let bits = 0;
        for (const p of perms) {
          if (p === 'r') bits |= 0o444;
          else if (p === 'w') bits |= 0o222;
          else if (p === 'x') bits |= 0o111;
          else if (p === 'X') { if (isDir || (mode & 0o111) !== 0) bits |= 0o111; }
          else if (p === 's') bits |= 0o6000;
          else if (p === 't') bits |= 0o1000;
        }
        bits &= whoMask;
        if (op === '+') return mode | bits;
        if (op === '-') return mode & ~bits;
        return (mode & ~whoMask) | bits;
      });
    }
  }
  return (mode, isDir) => ops.reduce((acc, op) => op(acc, isDir), mode & 0o7777);
}
