/**
 * `kiln pause` / `unpause`: every process of a container frozen and thawed together through
 * its cgroup — the v1 freezer (freezer.state FROZEN/THAWED) where that hierarchy is mounted,
 * else cgroup v2's cgroup.freeze (done when cgroup.events says frozen 1). `ps` reads the state
 * back from the same files, so a paused container shows as such whoever paused it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KilnError } from '../../errors/kilnError.js';
import { v1DirOf, v2DirOf } from './containerCgroupDirs.js';

export type Freezer = { kind: 'v1'; dir: string } | { kind: 'v2'; dir: string };

/** The freezer of a container, from its cgroup directories; undefined when it has none. */
export function freezerOf(cgroupDirs: readonly string[] | undefined): Freezer | undefined {
  const v1 = v1DirOf(cgroupDirs, 'freezer');
  if (v1 !== undefined) return { kind: 'v1', dir: v1 };
  const v2 = v2DirOf(cgroupDirs);
  if (v2 !== undefined && existsSync(join(v2, 'cgroup.freeze'))) return { kind: 'v2', dir: v2 };
  return undefined;
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** True when the container's processes are frozen (or being frozen). */
export function isFrozen(f: Freezer | undefined): boolean {
  if (!f) return false;
  if (f.kind === 'v1') return /^(FROZEN|FREEZING)/.test(read(join(f.dir, 'freezer.state')).trim());
  return read(join(f.dir, 'cgroup.freeze')).trim() === '1';
}

function settled(f: Freezer, frozen: boolean): boolean {
  if (f.kind === 'v1') return read(join(f.dir, 'freezer.state')).trim() === (frozen ? 'FROZEN' : 'THAWED');
  return new RegExp(`^frozen ${frozen ? 1 : 0}$`, 'm').test(read(join(f.dir, 'cgroup.events')));
}

/** Freezes or thaws, and waits until the kernel says it is done (a task in a system call takes a moment). */
export async function setFrozen(f: Freezer, frozen: boolean): Promise<void> {
  const [file, value] = f.kind === 'v1' ? ['freezer.state', frozen ? 'FROZEN' : 'THAWED'] : ['cgroup.freeze', frozen ? '1' : '0'];
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(join(f.dir, file), value);
    } catch (err) {
      throw new KilnError('FREEZER', `cannot ${frozen ? 'freeze' : 'thaw'} the container's cgroup ${f.dir}: ${(err as Error).message}`);
    }
    if (settled(f, frozen)) return;
    // v1: FREEZING means some task has not stopped yet; writing FROZEN again retries it (runc does the same).
    await sleep(attempt < 10 ? 1 : 10);
    if (settled(f, frozen)) return;
    if (attempt > 1000) throw new KilnError('FREEZER', `the container's cgroup ${f.dir} did not ${frozen ? 'freeze' : 'thaw'}`);
  }
}
