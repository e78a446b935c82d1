/**
 * Resource limits (`kiln run --memory`, `--cpus`, `--cpuset-cpus`, `--blkio-weight`,
 * `--device-write-bps`, `--hugetlb`, …) as the cgroup files that carry them: on v1 in the
 * hierarchy of each controller, on v2 in the one directory (runc's mapping, opencontainers/cgroups
 * fs/ and fs2/). A hybrid host's controllers that no v1 hierarchy took (hugetlb here) are written
 * in its cgroup2 hierarchy. A limit whose controller the host lacks is an error naming it.
 *
 * Swap: with --memory alone swap is off (memsw = memory; v2 memory.swap.max 0), so reaching the
 * limit ends in the OOM killer (exit 137); --memory-swap sets memory + swap (-1: unlimited).
 */
import { join } from 'node:path';
import { KilnError } from '../errors/kilnError.js';
import { controllerHome, type CgroupLayout } from './cgroupLayout.js';

/** A per-device throttle: `--device-read-bps /dev/sda:1mb` resolved to the device's numbers. */
export interface ThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

export interface HugetlbLimit {
  /** As the kernel names the files: 2MB, 1GB, 64KB. */
  pageSize: string;
  bytes: number;
}

export interface ResourceLimits {
  memoryBytes?: number;
  /** Memory + swap (`--memory-swap`); -1: unlimited swap. */
  memorySwapBytes?: number;
  /** Soft limit (`--memory-reservation`). */
  memoryReservationBytes?: number;
  cpus?: number;
  /** CFS quota and period in µs (`--cpu-quota`, `--cpu-period`). */
  cpuQuota?: number;
  cpuPeriod?: number;
  /** Relative weight (`--cpu-shares`, 1024 = default). */
  cpuShares?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  /** 10–1000 (`--blkio-weight`). */
  blkioWeight?: number;
  readBps?: ThrottleDevice[];
  writeBps?: ThrottleDevice[];
  readIops?: ThrottleDevice[];
  writeIops?: ThrottleDevice[];
  pids?: number;
  hugetlb?: HugetlbLimit[];
  /** net_cls.classid (`--net-cls-classid`), cgroup v1 only. */
  netClsClassid?: number;
}

export interface CgroupWrite {
  /** Directory of the controller's cgroup. */
  dir: string;
  file: string;
  value: string;
  /** Skipped when the file does not exist (e.g. memsw without swap accounting). */
  optional?: boolean;
  /** Written instead when `file` does not exist (blkio.bfq.weight where CFQ's blkio.weight is gone). */
  fallbackFile?: string;
}

const CPU_PERIOD_US = 100_000;

/** The v1 controller each limit needs, in the order its files are written. */
const NEEDS: [keyof ResourceLimits, string][] = [
  ['memoryBytes', 'memory'], ['memorySwapBytes', 'memory'], ['memoryReservationBytes', 'memory'],
  ['cpus', 'cpu'], ['cpuQuota', 'cpu'], ['cpuPeriod', 'cpu'], ['cpuShares', 'cpu'],
  ['cpusetCpus', 'cpuset'], ['cpusetMems', 'cpuset'],
  ['blkioWeight', 'blkio'], ['readBps', 'blkio'], ['writeBps', 'blkio'], ['readIops', 'blkio'], ['writeIops', 'blkio'],
  ['pids', 'pids'], ['hugetlb', 'hugetlb'], ['netClsClassid', 'net_cls'],
];

export function hasLimits(limits: ResourceLimits | undefined): boolean {
  return limits !== undefined && NEEDS.some(([key]) => limits[key] !== undefined);
}

/** The controllers (v1 names) the limits need. */
export function limitControllers(limits: ResourceLimits = {}): string[] {
  return [...new Set(NEEDS.filter(([key]) => limits[key] !== undefined).map(([, c]) => c))];
}

/** Why a controller cannot be used here, named. */
export function missingController(layout: CgroupLayout, controller: string): KilnError {
  if (controller === 'net_cls') {
    return new KilnError('CGROUP', '--net-cls-classid needs the cgroup v1 net_cls controller, which this host does not mount (cgroup v2 has no net_cls: match packets by cgroup path instead, e.g. nftables "socket cgroupv2")', { exitCode: 125 });
  }
  const where = layout.version === 'v2' ? `its cgroup v2 hierarchy at ${layout.mountPoint} offers only: ${[...(layout.offered ?? [])].join(' ') || 'none'}`
    : `it is not mounted as a cgroup v1 hierarchy${layout.unified !== undefined ? ` and the cgroup v2 hierarchy at ${layout.unified} does not offer it` : ''}`;
  return new KilnError('CGROUP', `the ${controller} cgroup controller is not available on this host: ${where}`, { exitCode: 125 });
}

/** The cgroup directory of `name` for a controller (v1 name): its v1 hierarchy's, or the cgroup2 one's. */
export function controllerDir(layout: CgroupLayout, controller: string, name: string): string {
  if (layout.version === 'v2' && controller === '') return join(layout.mountPoint, 'kiln', name);
  const home = controllerHome(layout, controller);
  if (!home) throw missingController(layout, controller);
  return join(home.mountPoint, 'kiln', name);
}

/** True when the controller's files are cgroup v2 files on this layout. */
function inV2(layout: CgroupLayout, controller: string): boolean {
  return controllerHome(layout, controller)?.version === 'v2';
}

/** runc's cpu.shares → cpu.weight: [2, 262144] onto [1, 10000]. */
export function cpuWeightOfShares(shares: number): number {
  const clamped = Math.min(262144, Math.max(2, shares));
  return 1 + Math.floor(((clamped - 2) * 9999) / 262142);
}

function memoryWrites(v2: boolean, dir: string, l: ResourceLimits): CgroupWrite[] {
  const w: CgroupWrite[] = [];
  if (v2) {
    if (l.memoryReservationBytes !== undefined) w.push({ dir, file: 'memory.low', value: String(l.memoryReservationBytes) });
    if (l.memoryBytes !== undefined) {
      w.push({ dir, file: 'memory.max', value: String(l.memoryBytes) });
      const swap = l.memorySwapBytes === undefined ? '0' : l.memorySwapBytes < 0 ? 'max' : String(l.memorySwapBytes - l.memoryBytes);
      w.push({ dir, file: 'memory.swap.max', value: swap, optional: true });
    }
    return w;
  }
  if (l.memoryReservationBytes !== undefined) w.push({ dir, file: 'memory.soft_limit_in_bytes', value: String(l.memoryReservationBytes) });
  if (l.memoryBytes !== undefined) {
    w.push({ dir, file: 'memory.limit_in_bytes', value: String(l.memoryBytes) });
    w.push({ dir, file: 'memory.memsw.limit_in_bytes', value: String(l.memorySwapBytes ?? l.memoryBytes), optional: true });
    if (l.memorySwapBytes === undefined) w.push({ dir, file: 'memory.swappiness', value: '0', optional: true });
  }
  return w;
}

function cpuWrites(v2: boolean, dir: string, l: ResourceLimits): CgroupWrite[] {
  const w: CgroupWrite[] = [];
  const period = l.cpuPeriod ?? CPU_PERIOD_US;
  const quota = l.cpus !== undefined ? Math.max(1000, Math.round(l.cpus * CPU_PERIOD_US)) : l.cpuQuota;
  if (v2) {
    if (quota !== undefined || l.cpuPeriod !== undefined) w.push({ dir, file: 'cpu.max', value: `${quota ?? 'max'} ${period}` });
    if (l.cpuShares !== undefined) w.push({ dir, file: 'cpu.weight', value: String(cpuWeightOfShares(l.cpuShares)) });
    return w;
  }
  if (quota !== undefined || l.cpuPeriod !== undefined) w.push({ dir, file: 'cpu.cfs_period_us', value: String(period) });
  if (quota !== undefined) w.push({ dir, file: 'cpu.cfs_quota_us', value: String(quota) });
  if (l.cpuShares !== undefined) w.push({ dir, file: 'cpu.shares', value: String(l.cpuShares) });
  return w;
}

function cpusetWrites(dir: string, l: ResourceLimits): CgroupWrite[] {
  const w: CgroupWrite[] = [];
  // The same files on v1 and v2; memory nodes first, as a v1 cpuset needs both before tasks.
  if (l.cpusetMems !== undefined) w.push({ dir, file: 'cpuset.mems', value: l.cpusetMems });
  if (l.cpusetCpus !== undefined) w.push({ dir, file: 'cpuset.cpus', value: l.cpusetCpus });
  return w;
}

function ioWrites(v2: boolean, dir: string, l: ResourceLimits): CgroupWrite[] {
  const w: CgroupWrite[] = [];
  if (l.blkioWeight !== undefined) {
    w.push(v2 ? { dir, file: 'io.weight', value: `default ${l.blkioWeight}`, fallbackFile: 'io.bfq.weight' }
      : { dir, file: 'blkio.weight', value: String(l.blkioWeight), fallbackFile: 'blkio.bfq.weight' });
  }
  const kinds = [['readBps', 'read_bps_device', 'rbps'], ['writeBps', 'write_bps_device', 'wbps'], ['readIops', 'read_iops_device', 'riops'], ['writeIops', 'write_iops_device', 'wiops']] as const;
  if (!v2) {
    for (const [key, file] of kinds) for (const d of l[key] ?? []) w.push({ dir, file: `blkio.throttle.${file}`, value: `${d.major}:${d.minor} ${d.rate}` });
    return w;
  }
  // v2: one io.max line per device with every limit it has.
  const lines = new Map<string, string[]>();
  for (const [key, , word] of kinds) {
    for (const d of l[key] ?? []) {
      const dev = `${d.major}:${d.minor}`;
      lines.set(dev, [...(lines.get(dev) ?? []), `${word}=${d.rate}`]);
    }
  }
  for (const [dev, parts] of lines) w.push({ dir, file: 'io.max', value: `${dev} ${parts.join(' ')}` });
  return w;
}

function hugetlbWrites(v2: boolean, dir: string, l: ResourceLimits): CgroupWrite[] {
  // The reservation limit too (where the kernel has it), so an mmap past the limit fails
  // rather than a later page fault killing the process with SIGBUS (runc writes both).
  return (l.hugetlb ?? []).flatMap((h) => v2
    ? [{ dir, file: `hugetlb.${h.pageSize}.max`, value: String(h.bytes) }, { dir, file: `hugetlb.${h.pageSize}.rsvd.max`, value: String(h.bytes), optional: true }]
    : [{ dir, file: `hugetlb.${h.pageSize}.limit_in_bytes`, value: String(h.bytes) }, { dir, file: `hugetlb.${h.pageSize}.rsvd.limit_in_bytes`, value: String(h.bytes), optional: true }]);
}

/** The files to write for the limits, controller by controller (memory before memsw on v1). */
export function limitWrites(layout: CgroupLayout, name: string, limits: ResourceLimits): CgroupWrite[] {
  const writes: CgroupWrite[] = [];
  for (const controller of limitControllers(limits)) {
    const dir = controllerDir(layout, controller, name);
    const v2 = inV2(layout, controller);
    switch (controller) {
      case 'memory': writes.push(...memoryWrites(v2, dir, limits)); break;
      case 'cpu': writes.push(...cpuWrites(v2, dir, limits)); break;
      case 'cpuset': writes.push(...cpusetWrites(dir, limits)); break;
      case 'blkio': writes.push(...ioWrites(v2, dir, limits)); break;
      case 'pids': if (limits.pids !== undefined) writes.push({ dir, file: 'pids.max', value: String(limits.pids) }); break;
      case 'hugetlb': writes.push(...hugetlbWrites(v2, dir, limits)); break;
      case 'net_cls': writes.push({ dir, file: 'net_cls.classid', value: String(limits.netClsClassid) }); break;
    }
  }
  return writes;
}

/** The cgroup v2 controllers (v2 names) the limits need enabled in their parents' subtree_control. */
export function v2ControllersNeeded(layout: CgroupLayout, limits: ResourceLimits = {}): string[] {
  const out: string[] = [];
  for (const c of limitControllers(limits)) {
    const home = controllerHome(layout, c);
    if (home?.version === 'v2') out.push(home.name);
  }
  return [...new Set(out)];
}
