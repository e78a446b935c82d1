/**
 * Where the checkout and its CLI are, for the tests and the benchmarks that drive kiln from
 * outside as a user does (`bin/kiln`, which starts the bundled build).
 *
 * harness/ holds what both test/ and bench/ use: this, a busybox base image (in kiln's store
 * and in docker's), throwaway registries, a headless browser, an "outside host" network
 * namespace, a free port. Neither of them imports the other.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above the harness files');
    dir = up;
  }
  return dir;
}

export const repoRoot = findRepoRoot();
/** The CLI as a user runs it. */
export const kilnBin = join(repoRoot, 'bin', 'kiln');
