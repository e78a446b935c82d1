/**
 * Processes a dead kiln left running chrooted in one of its temp dirs. A RUN step in chroot
 * isolation has no PID namespace or cgroup to end it with kiln: the step's own process dies with
 * kiln (parent-death signal), but what it started in the background lives on, rooted in the
 * step's copied root. Before that root is swept, whatever has its root there is killed — a
 * process whose root is a dead kiln's temp dir is that kiln's step, never anyone else's.
 */
import { readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Pids of the processes whose root directory is `dir` or below it (those this user may see). */
export function processesRootedUnder(dir: string): number[] {
  const found: number[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    let root: string;
    try {
      root = readlinkSync(`/proc/${name}/root`);
    } catch {
      continue; // gone, a zombie, or another user's
    }
    if (root === dir || root.startsWith(`${dir}/`)) found.push(Number(name));
  }
  return found;
}

/** Kills them and waits (briefly, a few rounds) until none is left holding the dir. */
export async function killProcessesRootedUnder(path: string): Promise<void> {
  let dir: string;
  try {
    dir = realpathSync(path); // as the kernel names a root: no symlink in it
  } catch {
    return;
  }
  for (let round = 0; round < 50; round++) {
    const pids = processesRootedUnder(dir);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
    }
    await sleep(20);
  }
}
