/**
 * One sample of a running container's resource use for `kiln stats`, read as docker's daemon
 * reads it: CPU time from cpuacct.usage (v1) or cpu.stat usage_usec (v2) beside the host's
 * from /proc/stat; memory use without the inactive page cache (usage_in_bytes or
 * memory.current less inactive_file), its limit (the host's memory when unlimited); pids;
 * block IO bytes read and written (blkio's service bytes, or io.stat); network bytes in and
 * out of the container's own network namespace, none when it shares the host's.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { v1DirOf, v2DirOf } from './containerCgroupDirs.js';

export interface StatsSample {
  /** Container CPU time and the host's (all CPUs), in ns. */
  cpuNs: number;
  systemNs: number;
  onlineCpus: number;
  memoryBytes: number;
  memoryLimitBytes: number;
  pids: number;
  blockReadBytes: number;
  blockWriteBytes: number;
  netRxBytes: number;
  netTxBytes: number;
}

const USER_HZ = 100;

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function num(text: string): number {
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : 0;
}

/** `key value` lines (memory.stat, cpu.stat) as a map. */
export function keyedValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v !== undefined) out.set(k, num(v));
  }
  return out;
}

/** The host's CPU time over all CPUs from /proc/stat's first line, in ns (docker's SystemUsage). */
export function hostCpuNs(procStat: string): number {
  const fields = (procStat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 8).map(num);
  return (fields.reduce((a, b) => a + b, 0) * 1e9) / USER_HZ;
}

/** Bytes read and written from blkio's `MAJ:MIN Read N` lines, or io.stat's `MAJ:MIN rbytes=N wbytes=N`. */
export function blockBytes(text: string): { read: number; write: number } {
  let readBytes = 0;
  let writeBytes = 0;
  for (const line of text.split('\n')) {
    const v1 = /^\d+:\d+ (Read|Write) (\d+)$/.exec(line.trim());
    if (v1) {
      if (v1[1] === 'Read') readBytes += Number(v1[2]);
      else writeBytes += Number(v1[2]);
      continue;
    }
    readBytes += Number(/\brbytes=(\d+)/.exec(line)?.[1] ?? 0);
    writeBytes += Number(/\bwbytes=(\d+)/.exec(line)?.[1] ?? 0);
  }
  return { read: readBytes, write: writeBytes };
}

/** Received and sent bytes of /proc/PID/net/dev, loopback left out (docker counts the container's interfaces). */
export function networkBytes(netDev: string): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of netDev.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() === 'lo') continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(num);
    rx += f[0] ?? 0;
    tx += f[8] ?? 0;
  }
  return { rx, tx };
}

function hostMemoryBytes(): number {
  return num(/^MemTotal:\s+(\d+) kB/m.exec(read('/proc/meminfo'))?.[1] ?? '0') * 1024;
}

function sameNetwork(pid: number): boolean {
  try {
    return statSync(`/proc/${pid}/ns/net`).ino === statSync('/proc/self/ns/net').ino;
  } catch {
    return true;
  }
}

function memoryOf(dirs: readonly string[]): { used: number; limit: number } {
  const host = hostMemoryBytes();
  const v1 = v1DirOf(dirs, 'memory');
  if (v1 !== undefined) {
    const inactive = keyedValues(read(join(v1, 'memory.stat'))).get('total_inactive_file') ?? 0;
    const limit = num(read(join(v1, 'memory.limit_in_bytes')));
    return { used: Math.max(0, num(read(join(v1, 'memory.usage_in_bytes'))) - inactive), limit: limit > 0 && limit < host ? limit : host };
  }
  const v2 = v2DirOf(dirs);
  if (v2 === undefined) return { used: 0, limit: host };
  const inactive = keyedValues(read(join(v2, 'memory.stat'))).get('inactive_file') ?? 0;
  const max = read(join(v2, 'memory.max')).trim();
  const limit = max === '' || max === 'max' ? host : Math.min(num(max), host);
  return { used: Math.max(0, num(read(join(v2, 'memory.current'))) - inactive), limit };
}

function cpuNsOf(dirs: readonly string[]): number {
  const v1 = v1DirOf(dirs, 'cpuacct');
  if (v1 !== undefined) return num(read(join(v1, 'cpuacct.usage')));
  const v2 = v2DirOf(dirs);
  return v2 === undefined ? 0 : (keyedValues(read(join(v2, 'cpu.stat'))).get('usage_usec') ?? 0) * 1000;
}

function blockOf(dirs: readonly string[]): { read: number; write: number } {
  const v1 = v1DirOf(dirs, 'blkio');
  if (v1 !== undefined) {
    // As moby: the scheduler's counters where a proportional scheduler keeps them, else the throttle layer's.
    const sched = blockBytes(read(join(v1, 'blkio.io_service_bytes_recursive')));
    return sched.read + sched.write > 0 ? sched : blockBytes(read(join(v1, 'blkio.throttle.io_service_bytes_recursive')));
  }
  const v2 = v2DirOf(dirs);
  return v2 === undefined ? { read: 0, write: 0 } : blockBytes(read(join(v2, 'io.stat')));
}

function pidsOf(dirs: readonly string[]): number {
  const dir = v1DirOf(dirs, 'pids') ?? v2DirOf(dirs);
  return dir === undefined ? 0 : num(read(join(dir, 'pids.current')));
}

/** One sample of the container whose PID 1 is `pid` and whose cgroups are `dirs`. */
export function sampleStats(pid: number, dirs: readonly string[]): StatsSample {
  const memory = memoryOf(dirs);
  const block = blockOf(dirs);
  const net = sameNetwork(pid) ? { rx: 0, tx: 0 } : networkBytes(read(`/proc/${pid}/net/dev`));
  return {
    cpuNs: cpuNsOf(dirs),
    systemNs: hostCpuNs(read('/proc/stat')),
    onlineCpus: (read('/proc/stat').match(/^cpu\d+ /gm) ?? []).length || 1,
    memoryBytes: memory.used,
    memoryLimitBytes: memory.limit,
    pids: pidsOf(dirs),
    blockReadBytes: block.read,
    blockWriteBytes: block.write,
    netRxBytes: net.rx,
    netTxBytes: net.tx,
  };
}

/** docker's CPU %: the container's share of the host's CPU time between two samples, times the CPUs. */
export function cpuPercent(before: StatsSample, after: StatsSample): number {
  const cpu = after.cpuNs - before.cpuNs;
  const system = after.systemNs - before.systemNs;
  return cpu > 0 && system > 0 ? (cpu / system) * after.onlineCpus * 100 : 0;
}
