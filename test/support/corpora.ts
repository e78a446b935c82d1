/**
 * Where the tests find BuildKit's conformance corpora (its parser test files and its
 * variable-expansion tables). They are read where they lie, never copied into the repository:
 * `$KILN_CONFORMANCE_DIR` when set, else `../shared/conformance` beside the checkout. A checkout
 * without them gets a test that says where they are expected (skipped locally, failed under CI),
 * never a raw ENOENT while the file loads.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDir } from './env.js';

export const CONFORMANCE_DIR_VARIABLE = 'KILN_CONFORMANCE_DIR';

export type CorpusName = 'buildkit-parser' | 'buildkit-shell';

export interface Corpus {
  /** The corpus's folder (it may be missing). */
  dir: string;
  present: boolean;
  /** Why the tests cannot run when it is missing: where it was looked for and how to point elsewhere. */
  missing: string;
}

const conformanceRoot = process.env[CONFORMANCE_DIR_VARIABLE] ?? join(sharedDir, 'conformance');

export function corpus(name: CorpusName): Corpus {
  const dir = join(conformanceRoot, name);
  return {
    dir,
    present: existsSync(dir),
    missing: `BuildKit's ${name} corpus is expected in ${dir}; set ${CONFORMANCE_DIR_VARIABLE} to the folder holding buildkit-parser/ and buildkit-shell/`,
  };
}
