/**
 * A cgroup per container, on cgroup v1 (one directory per controller, as this kind of host
 * mounts them under /sys/fs/cgroup/{memory,cpu,pids}) or v2 (one unified directory). The
 * container is placed in it before its code runs, limits are written before that, and it is
 * emptied and removed after the container exits.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { privilege } from './privilege.js';
import { KilnError } from '../errors.js';

export interface ResourceLimits {
  memoryBytes?: number;
  cpus?: number;
  pids?: number;
}

export type CgroupLayout =
  | { version: 'v1'; controllers: Map<string, string> }
  | { version: 'v2'; mountPoint: string };

/** The controllers kiln manages on v1. */
export const V1_CONTROLLERS = ['memory', 'cpu', 'pids'] as const;

/** Reads which cgroup hierarchies are mounted from /proc/self/mountinfo text. */
export function detectCgroupLayout(mountinfo: string): CgroupLayout | undefined {
  const controllers = new Map<string, string>();
  let unified: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const before = line.slice(0, sep).split(' ');
    const after = line.slice(sep + 3).split(' ');
    const mountPoint = (before[4] ?? '').replace(/\\040/g, ' ');
    const fstype = after[0];
    const superOptions = (after[2] ?? '').split(',');
    if (fstype === 'cgroup2') {
      if (unified === undefined || mountPoint === '/sys/fs/cgroup') unified = mountPoint;
    } else if (fstype === 'cgroup') {
      for (const opt of superOptions) {
        if ((V1_CONTROLLERS as readonly string[]).includes(opt) && !controllers.has(opt)) controllers.set(opt, mountPoint);
      }
    }
  }
  // A hybrid host (v1 controllers plus an empty unified hierarchy) is driven through v1.
  if (controllers.size > 0) return { version: 'v1', controllers };
  if (unified !== undefined) return { version: 'v2', mountPoint: unified };
  return undefined;
}

export function hostCgroupLayout(): CgroupLayout | undefined {
  try {
    return detectCgroupLayout(readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Directories of the container's cgroup: on v2 one; on v1 one in each hierarchy whose controller
 * a limit needs (each move into a v1 hierarchy costs the kernel an RCU grace period, ~10 ms, so
 * hierarchies with nothing to limit are not joined).
 */
export function cgroupDirs(layout: CgroupLayout, name: string, limits: ResourceLimits = {}): string[] {
  if (layout.version === 'v2') return [join(layout.mountPoint, 'kiln', name)];
  const wanted = [
    limits.memoryBytes !== undefined ? 'memory' : undefined,
    limits.cpus !== undefined ? 'cpu' : undefined,
    limits.pids !== undefined ? 'pids' : undefined,
  ].filter((c): c is string => c !== undefined);
  return [...new Set(wanted.map((c) => layout.controllers.get(c)).filter((mp): mp is string => mp !== undefined))].map((mp) => join(mp, 'kiln', name));
}

export interface CgroupWrite {
  /** Directory of the controller's cgroup. */
  dir: string;
  file: string;
  value: string;
  /** Skipped when the file does not exist (e.g. memsw without swap accounting). */
  optional?: boolean;
}

const CPU_PERIOD_US = 100_000;

/** The files to write for the limits, in order (memory before memsw on v1). */
export function limitWrites(layout: CgroupLayout, name: string, limits: ResourceLimits): CgroupWrite[] {
  const writes: CgroupWrite[] = [];
  const quota = limits.cpus === undefined ? undefined : Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US));
  if (layout.version === 'v2') {
    const dir = join(layout.mountPoint, 'kiln', name);
    if (limits.memoryBytes !== undefined) {
      writes.push({ dir, file: 'memory.max', value: String(limits.memoryBytes) });
      // Swap off, so hitting the limit really ends in the OOM killer.
      writes.push({ dir, file: 'memory.swap.max', value: '0', optional: true });
    }
    if (quota !== undefined) writes.push({ dir, file: 'cpu.max', value: `${quota} ${CPU_PERIOD_US}` });
    if (limits.pids !== undefined) writes.push({ dir, file: 'pids.max', value: String(limits.pids) });
    return writes;
  }
  const dirOf = (controller: string): string => {
    const mp = layout.controllers.get(controller);
    if (!mp) throw new KilnError('CGROUP', `the ${controller} cgroup controller is not mounted on this host`);
    return join(mp, 'kiln', name);
  };
  if (limits.memoryBytes !== undefined) {
    const dir = dirOf('memory');
    writes.push({ dir, file: 'memory.limit_in_bytes', value: String(limits.memoryBytes) });
    writes.push({ dir, file: 'memory.memsw.limit_in_bytes', value: String(limits.memoryBytes), optional: true });
    writes.push({ dir, file: 'memory.swappiness', value: '0', optional: true });
  }
  if (quota !== undefined) {
    const dir = dirOf('cpu');
    writes.push({ dir, file: 'cpu.cfs_period_us', value: String(CPU_PERIOD_US) });
    writes.push({ dir, file: 'cpu.cfs_quota_us', value: String(quota) });
  }
  if (limits.pids !== undefined) writes.push({ dir: dirOf('pids'), file: 'pids.max', value: String(limits.pids) });
  return writes;
}

function hasLimits(limits: ResourceLimits | undefined): boolean {
  return limits !== undefined && (limits.memoryBytes !== undefined || limits.cpus !== undefined || limits.pids !== undefined);
}

async function writeIfPresent(w: CgroupWrite): Promise<void> {
  const path = join(w.dir, w.file);
  if (w.optional && !existsSync(path)) return;
  try {
    await writeFile(path, w.value);
  } catch (err) {
    throw new KilnError('CGROUP', `cannot set ${w.file} to ${w.value}: ${(err as Error).message}`, { cause: err });
  }
}

export class ContainerCgroup {
  private constructor(readonly layout: CgroupLayout, readonly dirs: string[]) {}

  /**
   * Creates the cgroup and writes the limits. Without limits there is no cgroup: the PID
   * namespace already ends every process of the container with its PID 1. Throws when limits
   * were asked for but cannot be applied.
   */
  static async create(name: string, limits: ResourceLimits | undefined): Promise<ContainerCgroup | undefined> {
    if (!hasLimits(limits)) return undefined;
    const layout = hostCgroupLayout();
    // Without delegation only root of the initial user namespace may write the host's cgroups.
    const root = privilege() === 'host-root';
    if (!layout || !root) {
      throw new KilnError('CGROUP', layout
        ? 'resource limits (--memory, --cpus, --pids-limit) need kiln to run as root on this host'
        : 'resource limits need cgroups, and none are mounted on this host', { exitCode: 125 });
    }
    const dirs = cgroupDirs(layout, name, limits);
    for (const dir of dirs) await sweepAbandoned(dirname(dir));
    const cg = new ContainerCgroup(layout, dirs);
    try {
      if (layout.version === 'v2') await enableV2Controllers(layout.mountPoint);
      for (const dir of dirs) await mkdir(dir, { recursive: true });
      for (const w of limitWrites(layout, name, limits ?? {})) await writeIfPresent(w);
    } catch (err) {
      await cg.destroy();
      throw err;
    }
    return cg;
  }

  /** Moves the (still gated) container process in, before any of its own code runs. */
  async place(pid: number): Promise<void> {
    for (const dir of this.dirs) await writeFile(join(dir, 'cgroup.procs'), String(pid));
  }

  /** True when the memory controller recorded an OOM kill in this cgroup. */
  async oomKilled(): Promise<boolean> {
    for (const dir of this.dirs) {
      try {
        const text = await readFile(join(dir, this.layout.version === 'v2' ? 'memory.events' : 'memory.oom_control'), 'utf8');
        const m = /oom_kill (\d+)/.exec(text);
        if (m && Number(m[1]) > 0) return true;
      } catch {
        // not the memory controller's directory
      }
    }
    return false;
  }

  /** Kills whatever is left in the cgroup and removes its directories. */
  async destroy(): Promise<void> {
    for (const dir of this.dirs) {
      if (!existsSync(dir)) continue;
      if (this.layout.version === 'v2' && existsSync(join(dir, 'cgroup.kill'))) {
        await writeFile(join(dir, 'cgroup.kill'), '1').catch(() => undefined);
      }
      for (let attempt = 0; ; attempt++) {
        await killAll(dir);
        try {
          await rmdir(dir);
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          if (code !== 'EBUSY' || attempt >= 200) throw new KilnError('CGROUP', `cannot remove cgroup ${dir}: ${(err as Error).message}`);
          await sleep(attempt < 20 ? 2 : 20);
        }
      }
    }
  }
}

/** Older than any start in progress: a cgroup this old with no process was abandoned. */
const ABANDONED_AFTER_MS = 60_000;

/**
 * Removes empty container cgroups left by a kiln that was killed outright (SIGKILL skips its
 * clean-up; the container itself died with it through the parent-death signal).
 */
async function sweepAbandoned(parent: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    const dir = join(parent, name);
    try {
      if (!(await stat(dir)).isDirectory() || now - (await stat(dir)).ctimeMs < ABANDONED_AFTER_MS) continue;
      if ((await readFile(join(dir, 'cgroup.procs'), 'utf8')).trim() !== '') continue;
      await rmdir(dir);
    } catch {
      // in use, or removed by someone else meanwhile
    }
  }
}

async function killAll(dir: string): Promise<void> {
  let text = '';
  try {
    text = await readFile(join(dir, 'cgroup.procs'), 'utf8');
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

async function enableV2Controllers(mountPoint: string): Promise<void> {
  const parent = join(mountPoint, 'kiln');
  await mkdir(parent, { recursive: true });
  for (const dir of [mountPoint, parent]) {
    const available = (await readFile(join(dir, 'cgroup.controllers'), 'utf8')).split(/\s+/);
    const wanted = ['cpu', 'memory', 'pids'].filter((c) => available.includes(c)).map((c) => `+${c}`);
    if (wanted.length > 0) await writeFile(join(dir, 'cgroup.subtree_control'), wanted.join(' ')).catch(() => undefined);
  }
}
