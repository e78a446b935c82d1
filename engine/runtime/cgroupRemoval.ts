/**
 * Taking a container cgroup down: whatever is still in it is killed, then the directory (and
 * any cgroup made below it) is removed, retrying while the kernel still counts exiting
 * processes. The same for the cgroups a dead kiln left (cgroupOwner.ts decides which).
 */
import { readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors/kilnError.js';
import { ownerGone, ownerOf } from './cgroupOwner.js';

function killAll(dir: string): void {
  let text = '';
  try {
    text = readFileSync(join(dir, 'cgroup.procs'), 'utf8');
  } catch {
    return;
  }
  for (const line of text.split('\n')) {
    const pid = Number(line);
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

function subdirectories(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  } catch {
    return [];
  }
}

/**
 * Kills what is left and removes `dir` with the cgroups under it. False when it is still busy
 * after `attempts` tries (the caller decides whether that is an error).
 */
export async function removeCgroupTree(dir: string, attempts = 200): Promise<boolean> {
  for (const sub of subdirectories(dir)) await removeCgroupTree(sub, attempts);
  for (let attempt = 0; ; attempt++) {
    killAll(dir);
    try {
      rmdirSync(dir);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY' || attempt >= attempts) {
        if (code === 'EBUSY') return false;
        throw new KilnError('CGROUP', `cannot remove cgroup ${dir}: ${(err as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, attempt < 20 ? 2 : 20));
    }
  }
}

/**
 * Removes, under each kiln parent, the container cgroups whose owning kiln is verifiably dead.
 * The parents (one per v1 hierarchy, a dozen small cgroupfs directories) are listed at once,
 * in tens of microseconds: listed on the thread pool they queued behind the fsyncs a build
 * writes behind its steps, and the first container's end, which waits for the sweep its start
 * began, waited 2-4 ms for them. Only removing what a dead kiln left goes on behind.
 */
export function sweepDeadOwners(parents: readonly string[]): Promise<void> {
  const dead: string[] = [];
  for (const parent of parents) {
    let names: string[];
    try {
      names = readdirSync(parent);
    } catch {
      continue;
    }
    for (const name of names) {
      const owned = ownerOf(name);
      if (owned && ownerGone(owned.owner)) dead.push(join(parent, name));
    }
  }
  return dead.length === 0 ? Promise.resolve() : removeAbandoned(dead);
}

async function removeAbandoned(dirs: readonly string[]): Promise<void> {
  for (const dir of dirs) {
    try {
      await removeCgroupTree(dir, 50);
    } catch {
      // removed by another kiln meanwhile, or not ours to remove after all: leave it
    }
  }
}
