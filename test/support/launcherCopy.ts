/**
 * A copy of the launcher (bin/kiln) and of some of the CLI's bundles in a temp dir, for the
 * tests of how bin/kiln picks a bundle and keeps its code cache: they change and remove bundles
 * and caches, which the checkout's own must never see.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './env.js';

export interface LauncherCopy {
  root: string;
  /** The copy's dist/bundle. */
  bundles: string;
  kiln: (...args: string[]) => SpawnSyncReturns<string>;
}

/** bin/kiln with the whole bundle only (`'whole'`), or with every bundle the build made (`'all'`). */
export function launcherCopy(which: 'whole' | 'all'): LauncherCopy {
  const root = mkdtempSync(join(tmpdir(), 'kiln-launcher-'));
  mkdirSync(join(root, 'bin'));
  const bundles = join(root, 'dist', 'bundle');
  mkdirSync(bundles, { recursive: true });
  for (const f of ['kiln', 'package.json']) copyFileSync(join(repoRoot, 'bin', f), join(root, 'bin', f));
  const built = join(repoRoot, 'dist', 'bundle');
  const names = which === 'whole' ? ['kiln.cjs'] : readdirSync(built).filter((n) => n.endsWith('.cjs'));
  for (const n of names) copyFileSync(join(built, n), join(bundles, n));
  const kiln = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'kiln'), ...args], { encoding: 'utf8' });
  return { root, bundles, kiln };
}
