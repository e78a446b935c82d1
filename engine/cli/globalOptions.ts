/**
 * The options kiln takes before the verb (`--root DIR`, `--root=DIR`: the store), read from a
 * command line without acting on them: the CLI passes the store on as KILN_ROOT, and the replay
 * of an unchanged build (replay/replayBuild.ts) finds the store the same way before the CLI loads.
 */
export interface GlobalOptions {
  /** The store named by `--root`, if any (the last one given). */
  root: string | undefined;
  /** The command line from the verb on. */
  rest: readonly string[];
}

export function splitGlobalOptions(argv: readonly string[]): GlobalOptions {
  let root: string | undefined;
  let i = 0;
  while (i < argv.length) {
    const w = argv[i] as string;
    if (w === '--root' && i + 1 < argv.length) { root = argv[i + 1]; i += 2; continue; }
    if (w.startsWith('--root=')) { root = w.slice('--root='.length); i++; continue; }
    break;
  }
  return { root, rest: argv.slice(i) };
}
