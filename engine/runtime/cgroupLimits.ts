/**
 * Resource limits (`--memory`, `--cpus`, `--pids-limit`) as the cgroup files that carry them:
 * on v1 in the hierarchy of each controller, on v2 in the one directory (runc's mapping,
 * opencontainers/cgroups fs/ and fs2/). Swap is turned off with a memory limit, so reaching it
 * ends in the OOM killer (exit 137) as docker's `--memory` without `--memory-swap` does.
 */
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import type { CgroupLayout } from './cgroupLayout.js';

export interface ResourceLimits {
  memoryBytes?: number;
  cpus?: number;
  pids?: number;
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

export function hasLimits(limits: ResourceLimits | undefined): boolean {
  return limits !== undefined && (limits.memoryBytes !== undefined || limits.cpus !== undefined || limits.pids !== undefined);
}

/** The v1 controllers the limits need. */
export function limitControllers(limits: ResourceLimits = {}): string[] {
  return [
    limits.memoryBytes !== undefined ? 'memory' : undefined,
    limits.cpus !== undefined ? 'cpu' : undefined,
    limits.pids !== undefined ? 'pids' : undefined,
  ].filter((c): c is string => c !== undefined);
}

/** The cgroup directory of `name` in a v1 controller's hierarchy (or the v2 one). */
export function controllerDir(layout: CgroupLayout, controller: string, name: string): string {
  if (layout.version === 'v2') return join(layout.mountPoint, 'kiln', name);
  const mp = layout.controllers.get(controller);
  if (!mp) throw new KilnError('CGROUP', `the ${controller} cgroup controller is not mounted on this host`);
  return join(mp, 'kiln', name);
}

/** The files to write for the limits, in order (memory before memsw on v1). */
export function limitWrites(layout: CgroupLayout, name: string, limits: ResourceLimits): CgroupWrite[] {
  const writes: CgroupWrite[] = [];
  const quota = limits.cpus === undefined ? undefined : Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US));
  if (layout.version === 'v2') {
    const dir = controllerDir(layout, '', name);
    if (limits.memoryBytes !== undefined) {
      writes.push({ dir, file: 'memory.max', value: String(limits.memoryBytes) });
      writes.push({ dir, file: 'memory.swap.max', value: '0', optional: true });
    }
    if (quota !== undefined) writes.push({ dir, file: 'cpu.max', value: `${quota} ${CPU_PERIOD_US}` });
    if (limits.pids !== undefined) writes.push({ dir, file: 'pids.max', value: String(limits.pids) });
    return writes;
  }
  if (limits.memoryBytes !== undefined) {
    const dir = controllerDir(layout, 'memory', name);
    writes.push({ dir, file: 'memory.limit_in_bytes', value: String(limits.memoryBytes) });
    writes.push({ dir, file: 'memory.memsw.limit_in_bytes', value: String(limits.memoryBytes), optional: true });
    writes.push({ dir, file: 'memory.swappiness', value: '0', optional: true });
  }
  if (quota !== undefined) {
    const dir = controllerDir(layout, 'cpu', name);
    writes.push({ dir, file: 'cpu.cfs_period_us', value: String(CPU_PERIOD_US) });
    writes.push({ dir, file: 'cpu.cfs_quota_us', value: String(quota) });
  }
  if (limits.pids !== undefined) writes.push({ dir: controllerDir(layout, 'pids', name), file: 'pids.max', value: String(limits.pids) });
  return writes;
}
