/**
 * `kiln run`'s resource flags in docker's spelling (--memory, --memory-swap,
 * --memory-reservation, --cpus, --cpu-quota, --cpu-period, --cpu-shares, --cpuset-cpus,
 * --cpuset-mems, --blkio-weight, --device-read-bps and its kin, --pids-limit) and kiln's own
 * (--hugetlb SIZE:LIMIT, --net-cls-classid), checked as docker's daemon checks them and against
 * what this host has, before anything is created. --kernel-memory is refused, as current docker
 * refuses it.
 */
import { flagValueError, integerFlag, type FlagSpec, type ParsedArgs } from './args.js';
import { parseBytes, parseCpus, parseMemory, parsePidsLimit } from './runOptions.js';
import type { ResourceLimits, ThrottleDevice } from '../runtime/cgroupLimits.js';
import { blockDeviceNumbers, checkCpuset, hostCpuCount, hugePageSizes, pageSizeName } from '../runtime/hostResources.js';

export const RESOURCE_FLAGS: FlagSpec[] = [
  { name: 'memory', short: 'm', kind: 'string', description: 'Memory limit (e.g. 64m, 1g); swap is off unless --memory-swap says', valueName: 'bytes' },
  { name: 'memory-swap', kind: 'string', description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap", valueName: 'bytes' },
  { name: 'memory-reservation', kind: 'string', description: 'Memory soft limit', valueName: 'bytes' },
  { name: 'kernel-memory', kind: 'string', description: 'Kernel memory limit (refused: no longer supported by the kernel)', valueName: 'bytes' },
  { name: 'cpus', kind: 'string', description: 'Number of CPUs (CFS quota)', valueName: 'decimal' },
  { name: 'cpu-quota', kind: 'string', description: 'Limit CPU CFS (Completely Fair Scheduler) quota', valueName: 'int' },
  { name: 'cpu-period', kind: 'string', description: 'Limit CPU CFS (Completely Fair Scheduler) period', valueName: 'int' },
  { name: 'cpu-shares', short: 'c', kind: 'string', description: 'CPU shares (relative weight)', valueName: 'int' },
  { name: 'cpuset-cpus', kind: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)', valueName: 'string' },
  { name: 'cpuset-mems', kind: 'string', description: 'MEMs in which to allow execution (0-3, 0,1)', valueName: 'string' },
  { name: 'blkio-weight', kind: 'string', description: 'Block IO (relative weight), between 10 and 1000, or 0 to disable', valueName: 'uint16' },
  { name: 'device-read-bps', kind: 'list', description: 'Limit read rate (bytes per second) from a device (DEVICE:RATE, e.g. /dev/sda:1mb)', valueName: 'list' },
  { name: 'device-write-bps', kind: 'list', description: 'Limit write rate (bytes per second) to a device', valueName: 'list' },
  { name: 'device-read-iops', kind: 'list', description: 'Limit read rate (IO per second) from a device', valueName: 'list' },
  { name: 'device-write-iops', kind: 'list', description: 'Limit write rate (IO per second) to a device', valueName: 'list' },
  { name: 'pids-limit', kind: 'string', description: 'Tune container pids limit (-1 for unlimited)', valueName: 'int' },
  { name: 'hugetlb', kind: 'list', description: 'Huge page limit (kiln\'s own): PAGESIZE:LIMIT, e.g. 2MB:64m', valueName: 'list' },
  { name: 'net-cls-classid', kind: 'string', description: 'net_cls class id of the container\'s packets (cgroup v1 net_cls only): 0x10001 or 1:1', valueName: 'classid' },
];

const MIN_MEMORY = 6 * 1024 * 1024;

/** `/dev/sda:1mb` (bytes, docker's units) or `/dev/sda:100` (IO per second). */
async function throttles(args: ParsedArgs, flag: string, bytes: boolean): Promise<ThrottleDevice[] | undefined> {
  const values = args.lists.get(flag);
  if (!values || values.length === 0) return undefined;
  return values.map((v) => {
    const colon = v.lastIndexOf(':');
    const path = v.slice(0, colon);
    const rateText = v.slice(colon + 1);
    if (colon <= 0 || !path.startsWith('/dev/')) throw flagValueError(`invalid argument "${v}" for "--${flag}" flag: bad format: ${v} (expected <device-path>:<number>${bytes ? '[<unit>]' : ''}; the device must be under /dev/)`);
    const rate = bytes ? parseBytes(rateText, `--${flag}`) : integerFlag(rateText, `--${flag}`);
    if (rate <= 0) throw flagValueError(`invalid argument "${v}" for "--${flag}" flag: the rate must be a positive number`);
    return { ...blockDeviceNumbers(path, `--${flag}`), rate };
  });
}

/** `0x10001`, `65537` or the tc form `1:1` (major:minor in hex, as tc writes class ids). */
export function parseClassid(text: string): number {
  const tc = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(text);
  const n = tc ? parseInt(tc[1] as string, 16) * 0x10000 + parseInt(tc[2] as string, 16) : /^0x[0-9a-f]+$/i.test(text) ? parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff) throw flagValueError(`invalid argument "${text}" for "--net-cls-classid" flag: expected a class id such as 0x10001 or 1:1`);
  return n;
}

async function hugetlbLimits(args: ParsedArgs): Promise<ResourceLimits['hugetlb']> {
  const values = args.lists.get('hugetlb');
  if (!values || values.length === 0) return undefined;
  const sizes = hugePageSizes();
  return values.map((v) => {
    const [size, limit, ...rest] = v.split(':');
    if (size === undefined || limit === undefined || rest.length > 0) throw flagValueError(`invalid argument "${v}" for "--hugetlb" flag: expected PAGESIZE:LIMIT, e.g. 2MB:64m`);
    const pageSize = pageSizeName(parseBytes(size.replace(/b$/i, ''), '--hugetlb page size'));
    if (!sizes.includes(pageSize)) throw flagValueError(`invalid argument "${v}" for "--hugetlb" flag: this host has no ${pageSize} huge pages (it has: ${sizes.join(', ') || 'none'})`);
    return { pageSize, bytes: parseBytes(limit, '--hugetlb') };
  });
}

function memoryLimits(args: ParsedArgs): Partial<ResourceLimits> {
  const out: Partial<ResourceLimits> = {};
  if (args.strings.has('kernel-memory')) {
    throw flagValueError('--kernel-memory is no longer supported: the kernel deprecated kmem.limit_in_bytes (Linux 5.4) and docker removed the flag (CLI v29); limit the container with --memory');
  }
  const memory = args.strings.get('memory');
  if (memory !== undefined) out.memoryBytes = parseMemory(memory);
  const swap = args.strings.get('memory-swap');
  if (swap !== undefined) {
    const bytes = swap.trim() === '-1' ? -1 : parseBytes(swap, '--memory-swap');
    if (out.memoryBytes === undefined) throw flagValueError('You should always set the Memory limit when using Memoryswap limit, see usage');
    if (bytes > 0 && bytes < out.memoryBytes) throw flagValueError('Minimum memoryswap limit should be larger than memory limit, see usage');
    out.memorySwapBytes = bytes;
  }
  const reservation = args.strings.get('memory-reservation');
  if (reservation !== undefined) {
    const bytes = parseBytes(reservation, '--memory-reservation');
    if (bytes < MIN_MEMORY) throw flagValueError('Minimum memory reservation allowed is 6MB');
    if (out.memoryBytes !== undefined && out.memoryBytes < bytes) throw flagValueError('Minimum memory limit can not be less than memory reservation limit, see usage');
    out.memoryReservationBytes = bytes;
  }
  return out;
}

async function cpuLimits(args: ParsedArgs): Promise<Partial<ResourceLimits>> {
  const out: Partial<ResourceLimits> = {};
  const cpus = args.strings.get('cpus');
  const quota = args.strings.get('cpu-quota');
  const period = args.strings.get('cpu-period');
  if (cpus !== undefined) {
    if (period !== undefined) throw flagValueError('Conflicting options: Nano CPUs and CPU Period cannot both be set');
    if (quota !== undefined) throw flagValueError('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
    out.cpus = parseCpus(cpus);
    const n = hostCpuCount();
    if (out.cpus < 0.01 || out.cpus > n) throw flagValueError(`range of CPUs is from 0.01 to ${n}.00, as there are only ${n} CPUs available`);
  }
  if (period !== undefined) {
    out.cpuPeriod = integerFlag(period, '--cpu-period');
    if (out.cpuPeriod !== 0 && (out.cpuPeriod < 1000 || out.cpuPeriod > 1_000_000)) throw flagValueError('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
    if (out.cpuPeriod === 0) delete out.cpuPeriod;
  }
  if (quota !== undefined) {
    out.cpuQuota = integerFlag(quota, '--cpu-quota');
    if (out.cpuQuota > 0 && out.cpuQuota < 1000) throw flagValueError('CPU cfs quota can not be less than 1ms (i.e. 1000)');
    if (out.cpuQuota <= 0) delete out.cpuQuota;
  }
  const shares = args.strings.get('cpu-shares');
  if (shares !== undefined) {
    const n = integerFlag(shares, '--cpu-shares');
    if (n < 0) throw flagValueError(`invalid argument "${shares}" for "--cpu-shares" flag: must not be negative`);
    if (n > 0) out.cpuShares = Math.min(262144, Math.max(2, n));
  }
  const cpusetCpus = args.strings.get('cpuset-cpus');
  const cpusetMems = args.strings.get('cpuset-mems');
  if (cpusetCpus !== undefined || cpusetMems !== undefined) {
    if (cpusetCpus !== undefined) out.cpusetCpus = checkCpuset('cpus', cpusetCpus);
    if (cpusetMems !== undefined) out.cpusetMems = checkCpuset('mems', cpusetMems);
  }
  return out;
}

async function ioLimits(args: ParsedArgs): Promise<Partial<ResourceLimits>> {
  const out: Partial<ResourceLimits> = {};
  const weight = args.strings.get('blkio-weight');
  if (weight !== undefined) {
    const n = integerFlag(weight, '--blkio-weight');
    if (n !== 0 && (n < 10 || n > 1000)) throw flagValueError('Range of blkio weight is from 10 to 1000');
    if (n !== 0) out.blkioWeight = n;
  }
  const [readBps, writeBps, readIops, writeIops] = await Promise.all([
    throttles(args, 'device-read-bps', true), throttles(args, 'device-write-bps', true),
    throttles(args, 'device-read-iops', false), throttles(args, 'device-write-iops', false),
  ]);
  return { ...out, ...(readBps ? { readBps } : {}), ...(writeBps ? { writeBps } : {}), ...(readIops ? { readIops } : {}), ...(writeIops ? { writeIops } : {}) };
}

/** The limits the flags ask for, each checked; {} when none. */
export async function resourceLimits(args: ParsedArgs): Promise<ResourceLimits> {
  const limits: ResourceLimits = { ...memoryLimits(args), ...(await cpuLimits(args)), ...(await ioLimits(args)) };
  const pids = args.strings.get('pids-limit');
  if (pids !== undefined) {
    const n = parsePidsLimit(pids);
    if (n !== undefined) limits.pids = n;
  }
  const hugetlb = await hugetlbLimits(args);
  if (hugetlb) limits.hugetlb = hugetlb;
  const classid = args.strings.get('net-cls-classid');
  if (classid !== undefined) limits.netClsClassid = parseClassid(classid);
  return limits;
}
