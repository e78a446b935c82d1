/**
 * Where tests find things, and how a test that cannot run says so. In CI (CI=true) a
 * missing prerequisite fails the test loudly; locally the test skips and says why.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import type { TestContext } from 'node:test';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above the test files');
    dir = up;
  }
  return dir;
}

export const repoRoot = findRepoRoot();
/** The shared folder beside the checkout (conformance corpora, references). */
export const sharedDir = resolve(repoRoot, '..', 'shared');
/** The CLI as a user runs it. */
export const kilnBin = join(repoRoot, 'bin', 'kiln');
export const inCI = process.env.CI === 'true';

/**
 * Returns true when the test may go on. When `ok` is false: in CI, fails the test with
 * `reason`; elsewhere, skips it with `reason`.
 */
export function prerequisite(t: TestContext, ok: boolean, reason: string): boolean {
  if (ok) return true;
  if (inCI) throw new Error(`prerequisite missing in CI: ${reason}`);
  t.skip(reason);
  return false;
}

export const isRoot = process.getuid?.() === 0;

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** True when a docker daemon answers (Debian's docker CLI, which has the build plugin). */
export function dockerAvailable(): boolean {
  try {
    execFileSync('/usr/bin/docker', ['info'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}
