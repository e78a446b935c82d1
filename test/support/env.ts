/**
 * Where tests find things, and how a test that cannot run says so. In CI (CI=true) a
 * missing prerequisite fails the test loudly; locally the test skips and says why.
 */
import { resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { TestContext } from 'node:test';
import { repoRoot } from '../../harness/kilnBinary.js';

// Tests reach these through this file, as they always have; they live in harness/ because bench/ uses them too.
export { kilnBin, repoRoot } from '../../harness/kilnBinary.js';
export { hasCommand } from '../../harness/hostCommands.js';

/** The shared folder beside the checkout (conformance corpora, references). */
export const sharedDir = resolve(repoRoot, '..', 'shared');
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

/** True when a docker daemon answers (Debian's docker CLI, which has the build plugin). */
export function dockerAvailable(): boolean {
  try {
    execFileSync('/usr/bin/docker', ['info'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}
