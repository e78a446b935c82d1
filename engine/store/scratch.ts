/**
 * Temporary directories inside the store (same filesystem, so results can be renamed into
 * place). Each name carries the creating process's tag (pid and start time, see
 * processIdentity.ts): dirs of this process are removed when it exits, and dirs of processes
 * that died — with whatever was still mounted beneath them, and whatever still runs chrooted in
 * them (chrootedLeftovers.ts) — are removed the next time a store
 * is opened, however young they are. A live process's dirs are never touched.
 */
import { rm } from 'node:fs/promises';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseTag, selfTag, tagAlive } from '../host/processIdentity.js';
import { nativeBinding } from '../../native/index.js';
import { killProcessesRootedUnder } from './chrootedLeftovers.js';

const ours = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    if (ours.size === 0) return;
    // One read of the mount table for all of them: a long build leaves a scratch dir per step.
    const mounted = mountPoints();
    for (const dir of ours) {
      if (under(mounted, dir).length === 0) rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** Every mount point of this process's mount namespace. */
function mountPoints(): string[] {
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const line of info.split('\n')) {
    const mountPoint = line.split(' ')[4]?.replace(/\\(\d{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
    if (mountPoint !== undefined) found.push(mountPoint);
  }
  return found;
}

/** The mount points at or below `dir`, deepest first. */
function under(mounted: readonly string[], dir: string): string[] {
  const prefix = `${dir}/`;
  return mounted.filter((m) => m === dir || m.startsWith(prefix)).sort((a, b) => b.length - a.length);
}

/** Mount points at or below `dir` in this process's mount namespace, deepest first. */
export function mountsUnder(dir: string): string[] {
  return under(mountPoints(), dir);
}

/** A scratch name: `LABEL-PID-START-` then mkdtemp's six random characters. */
export function tempPrefix(label: string): string {
  return `${label}-${selfTag()}-`;
}

/** The owner a temp name in the store's tmp dir carries (`LABEL-PID[-START]-…`), if any. */
export function tempOwner(name: string): { pid: number; start: string | undefined } | undefined {
  const m = /^[a-z]+-(\d+(?:-\d+)?-)/.exec(name);
  return m ? parseTag(m[1] as string) : undefined;
}

/** One sync mkdir: a build makes a few per step, and a thread-pool round trip cost more than the call. */
export async function makeScratchDir(tmpDir: string, label = 'scratch'): Promise<string> {
  installExitHook();
  const dir = mkdtempSync(join(tmpDir, tempPrefix(label)));
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

/** Removes a scratch dir behind the caller; it stays ours (removed at exit) until it is gone. */
export function removeScratchDirBehind(dir: string): void {
  void rm(dir, { recursive: true, force: true }).then(() => { ours.delete(dir); }, () => undefined);
}

/**
 * Detaches whatever a dead process left mounted under `dir` (an older kiln, or one that could
 * not have a mount namespace of its own, killed with a stage view mounted).
 */
async function unmountLeftovers(dir: string): Promise<void> {
  const mounts = mountsUnder(dir);
  if (mounts.length === 0) return;
  for (const m of mounts) {
    try { nativeBinding().unmount(m, true); } catch { /* gone meanwhile, or not ours to undo: rm says */ }
  }
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
    const owner = tempOwner(name);
    if (!owner || tagAlive(owner)) continue;
    const path = join(tmpDir, name);
    await killProcessesRootedUnder(path);
    await unmountLeftovers(path);
    await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }
}
