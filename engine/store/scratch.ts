/**
 * Temporary directories inside the store (same filesystem, so results can be renamed into
 * place). Each name carries the creating pid: dirs of this process are removed when it exits,
 * and dirs of processes that died are removed the next time a store is opened, unless something
 * is still mounted beneath them.
 */
import { rm } from 'node:fs/promises';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../processAlive.js';

const ours = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const dir of ours) {
      if (!hasMountsUnder(dir)) rmSync(dir, { recursive: true, force: true });
    }
  });
}

export function hasMountsUnder(dir: string): boolean {
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return false;
  }
  const prefix = `${dir}/`;
  for (const line of info.split('\n')) {
    const mountPoint = line.split(' ')[4]?.replace(/\\040/g, ' ');
    if (mountPoint !== undefined && (mountPoint === dir || mountPoint.startsWith(prefix))) return true;
  }
  return false;
}

/** One sync mkdir: a build makes a few per step, and a thread-pool round trip cost more than the call. */
export async function makeScratchDir(tmpDir: string, label = 'scratch'): Promise<string> {
  installExitHook();
  const dir = mkdtempSync(join(tmpDir, `${label}-${process.pid}-`));
  ours.add(dir);
  return dir;
}

/** Forget a scratch dir (its content was moved elsewhere, or the caller removed it). */
export function releaseScratchDir(dir: string): void {
  ours.delete(dir);
}

export async function removeScratchDir(dir: string): Promise<void> {
  ours.delete(dir);
  await rm(dir, { recursive: true, force: true });
}

/** Removes temp files and dirs left by kiln processes that no longer run. */
export async function sweepStaleTemps(tmpDir: string): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(tmpDir); // on every store open: one sync call, usually nothing to remove
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^[a-z]+-(\d+)-/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    const path = join(tmpDir, name);
    if (hasMountsUnder(path)) continue;
    await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }
}
