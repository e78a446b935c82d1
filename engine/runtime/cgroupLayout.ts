/**
 * Which cgroup hierarchies this host mounts: v1 (one hierarchy per controller, or a few
 * controllers mounted together), possibly beside an empty unified v2 hierarchy ("hybrid", as
 * this kind of Debian host and systemd's hybrid mode mount it), or v2 alone. Read from
 * /proc/self/mountinfo.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type CgroupLayout =
  /**
   * `unified`: where a hybrid host mounts its cgroup2 hierarchy, and `offered` the controllers
   * that hierarchy has (those no v1 hierarchy took, e.g. hugetlb here).
   */
  | { version: 'v1'; controllers: Map<string, string>; unified?: string; offered?: ReadonlySet<string> }
  /** `offered`: the controllers in the root's cgroup.controllers. */
  | { version: 'v2'; mountPoint: string; offered?: ReadonlySet<string> };

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

/** The controllers a cgroup2 hierarchy offers (its root's cgroup.controllers). */
function offeredControllers(mountPoint: string): ReadonlySet<string> {
  try {
    return new Set(readFileSync(join(mountPoint, 'cgroup.controllers'), 'utf8').split(/\s+/).filter((c) => c !== ''));
  } catch {
    return new Set();
  }
}

export function hostCgroupLayout(): CgroupLayout | undefined {
  if (cached !== undefined) return cached ?? undefined;
  try {
    const layout = detectCgroupLayout(readFileSync('/proc/self/mountinfo', 'utf8'));
    const v2Root = layout?.version === 'v2' ? layout.mountPoint : layout?.unified;
    cached = layout && v2Root !== undefined ? { ...layout, offered: offeredControllers(v2Root) } : layout ?? null;
  } catch {
    cached = null;
  }
  return cached ?? undefined;
}

/** Where a controller's files are: a v1 hierarchy, the cgroup2 one, or nowhere on this host. */
export type ControllerHome = { version: 'v1'; mountPoint: string } | { version: 'v2'; mountPoint: string; name: string } | undefined;

/** A v1 controller's name in cgroup v2 (blkio became io; net_cls and net_prio are gone). */
const V2_NAMES: Record<string, string | undefined> = { memory: 'memory', cpu: 'cpu', cpuacct: 'cpu', cpuset: 'cpuset', blkio: 'io', pids: 'pids', hugetlb: 'hugetlb', freezer: 'freezer', devices: 'devices' };

/**
 * Where `controller` (named as in v1) lives: its v1 hierarchy when one is mounted, else the
 * cgroup2 hierarchy when that offers it (a hybrid host's unified hierarchy holds the
 * controllers no v1 hierarchy took). Without `offered` (a layout read from text alone) the
 * cgroup2 hierarchy is taken to offer everything.
 */
export function controllerHome(layout: CgroupLayout, controller: string): ControllerHome {
  if (layout.version === 'v1') {
    const mp = layout.controllers.get(controller);
    if (mp !== undefined) return { version: 'v1', mountPoint: mp };
  }
  const v2Root = layout.version === 'v2' ? layout.mountPoint : layout.unified;
  const name = V2_NAMES[controller];
  if (v2Root === undefined || name === undefined) return undefined;
  if (layout.offered !== undefined && !layout.offered.has(name) && name !== 'freezer' && name !== 'devices') return undefined;
  return { version: 'v2', mountPoint: v2Root, name };
}
