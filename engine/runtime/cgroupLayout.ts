/**
 * Which cgroup hierarchies this host mounts: v1 (one hierarchy per controller, or a few
 * controllers mounted together), possibly beside an empty unified v2 hierarchy ("hybrid", as
 * this kind of Debian host and systemd's hybrid mode mount it), or v2 alone. Read from
 * /proc/self/mountinfo.
 */
import { readFileSync } from 'node:fs';

export type CgroupLayout =
  /** `unified`: where a hybrid host mounts its (controller-less) cgroup2 hierarchy. */
  | { version: 'v1'; controllers: Map<string, string>; unified?: string }
  | { version: 'v2'; mountPoint: string };

/** The v1 controllers kiln recognises; which of them a container joins is cgroups.ts's choice. */
export const V1_CONTROLLERS = [
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'hugetlb', 'net_cls', 'net_prio', 'perf_event', 'rdma', 'misc',
] as const;

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
  if (controllers.size > 0) return unified === undefined ? { version: 'v1', controllers } : { version: 'v1', controllers, unified };
  if (unified !== undefined) return { version: 'v2', mountPoint: unified };
  return undefined;
}

let cached: CgroupLayout | null | undefined;

export function hostCgroupLayout(): CgroupLayout | undefined {
  if (cached !== undefined) return cached ?? undefined;
  try {
    cached = detectCgroupLayout(readFileSync('/proc/self/mountinfo', 'utf8')) ?? null;
  } catch {
    cached = null;
  }
  return cached ?? undefined;
}
