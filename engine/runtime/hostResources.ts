/**
 * What this host has for resource limits to name: its CPUs and memory nodes (for --cpuset-*),
 * its huge page sizes (for --hugetlb), the block devices a throttle names, and the number of
 * CPUs (for --cpus). Read from /sys when a flag needs it, so a limit the host cannot honour is
 * refused before anything is created.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { KilnError } from '../errors/kilnError.js';
import { splitDeviceNumber } from './hostDevices.js';

function usage(message: string): KilnError {
  return new KilnError('USAGE', message, { exitCode: 125 });
}

/** The numbers of a Linux list ("0-3,5"); undefined when the text is not one. */
export function parseIdList(text: string): Set<number> | undefined {
  const out = new Set<number>();
  if (text.trim() === '') return out;
  for (const part of text.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return undefined;
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return out;
}

function readList(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The host's CPUs a container may be given: the root cpuset's (else every online CPU). */
export function hostCpus(): string {
  return readList('/sys/fs/cgroup/cpuset/cpuset.cpus') || readList('/sys/fs/cgroup/cpuset.cpus.effective') || readList('/sys/devices/system/cpu/online') || `0-${availableParallelism() - 1}`;
}

export function hostMemoryNodes(): string {
  return readList('/sys/fs/cgroup/cpuset/cpuset.mems') || readList('/sys/fs/cgroup/cpuset.mems.effective') || readList('/sys/devices/system/node/online') || '0';
}

/** Checks a --cpuset-cpus / --cpuset-mems value against what the host has (docker's messages). */
export function checkCpuset(kind: 'cpus' | 'mems', text: string): string {
  const wanted = parseIdList(text);
  if (wanted === undefined || wanted.size === 0) throw usage(`Invalid value ${text} for cpuset ${kind}`);
  const available = kind === 'cpus' ? hostCpus() : hostMemoryNodes();
  const have = parseIdList(available) ?? new Set<number>();
  if ([...wanted].some((n) => !have.has(n))) {
    throw usage(kind === 'cpus' ? `Requested CPUs are not available - requested ${text}, available: ${available}` : `Requested memory nodes are not available - requested ${text}, available: ${available}`);
  }
  return text.trim();
}

/** The host's huge page sizes as the kernel names cgroup files (2MB, 1GB). */
export function hugePageSizes(): string[] {
  try {
    return readdirSync('/sys/kernel/mm/hugepages').map((d) => /^hugepages-(\d+)kB$/.exec(d)).filter((m): m is RegExpExecArray => m !== null)
      .map((m) => pageSizeName(Number(m[1]) * 1024)).sort();
  } catch {
    return [];
  }
}

/** 2097152 → "2MB", as the kernel names hugetlb files (binary units, upper case). */
export function pageSizeName(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && n % 1024 === 0 && i < units.length - 1) { n /= 1024; i++; }
  return `${n}${units[i]}`;
}

/** The major:minor of a block device a throttle names. */
export function blockDeviceNumbers(path: string, flag: string): { major: number; minor: number } {
  let st;
  try {
    st = statSync(path, { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw usage(`invalid value for ${flag}: ${path}: ${code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
  }
  if (!st.isBlockDevice()) throw usage(`invalid value for ${flag}: ${path} is not a block device`);
  return splitDeviceNumber(st.rdev);
}

export function hostCpuCount(): number {
  return parseIdList(hostCpus())?.size || availableParallelism();
}
