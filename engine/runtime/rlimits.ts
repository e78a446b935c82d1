/**
 * The resource limits (setrlimit) a container starts with. docker sets none of its own: its
 * containers inherit the daemon's, which on Debian 12 with docker 20.10 as this project sets it up
 * are the table below (measured: `docker run --rm busybox sh -c 'ulimit -a; cat /proc/self/limits'`).
 * kiln has no daemon, and its own process is no model (Node raises its open-files limit; a shell
 * may have set anything), so every container and RUN step starts from this table — the same on
 * every run — with `--ulimit NAME=SOFT[:HARD]` on top. The process and signal counts are the
 * kernel's own default for the first process (threads-max / 2), which daemons inherit.
 * A limit above kiln's own hard limit needs CAP_SYS_RESOURCE: without it defaults are lowered
 * to what kiln has, and an explicit --ulimit that asks for more is an error.
 */
import { readFileSync } from 'node:fs';
import { KilnError } from '../errors/kilnError.js';

/** RLIMIT_* numbers (the same on every architecture kiln runs on). */
export const RLIMIT_NUMBERS = {
  cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8, as: 9, locks: 10, sigpending: 11,
  msgqueue: 12, nice: 13, rtprio: 14, rttime: 15,
} as const;
export type RlimitName = keyof typeof RLIMIT_NUMBERS;

/** A limit; `null` is unlimited (RLIM_INFINITY). */
export interface Rlimit { name: RlimitName; soft: bigint | null; hard: bigint | null }

const MiB8 = 8n * 1024n * 1024n;

let processesDefault: bigint | undefined;

/** Read once per process, as kiln's own hard limits below: every container start asks. */
function threadsMaxHalf(): bigint {
  if (processesDefault !== undefined) return processesDefault;
  try {
    processesDefault = BigInt(readFileSync('/proc/sys/kernel/threads-max', 'utf8').trim()) / 2n;
  } catch {
    processesDefault = 4096n;
  }
  return processesDefault;
}

/** docker's limits as measured here, in /proc/self/limits order. */
export function defaultRlimits(processes: bigint = threadsMaxHalf()): Rlimit[] {
  const same = (name: RlimitName, v: bigint | null): Rlimit => ({ name, soft: v, hard: v });
  return [
    same('cpu', null), same('fsize', null), same('data', null), { name: 'stack', soft: MiB8, hard: null }, { name: 'core', soft: 0n, hard: null },
    same('rss', null), same('nproc', processes), same('nofile', 20000n), same('memlock', MiB8), same('as', null), same('locks', null),
    same('sigpending', processes), same('msgqueue', 819200n), same('nice', 0n), same('rtprio', 0n), same('rttime', null),
  ];
}

function ulimitValue(text: string, whole: string): bigint | null {
  if (!/^-?\d+$/.test(text)) throw new KilnError('USAGE', `invalid ulimit argument: ${whole}`, { exitCode: 125 });
  const v = BigInt(text);
  if (v === -1n) return null;
  if (v < 0n) throw new KilnError('USAGE', `invalid ulimit argument: ${whole}`, { exitCode: 125 });
  return v;
}

/** `--ulimit NAME=SOFT[:HARD]` as docker reads it (-1: unlimited; HARD defaults to SOFT). */
export function parseUlimit(text: string): Rlimit {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new KilnError('USAGE', `invalid ulimit argument: ${text}`, { exitCode: 125 });
  const name = text.slice(0, eq);
  if (!(name in RLIMIT_NUMBERS)) throw new KilnError('USAGE', `invalid ulimit type: ${name}`, { exitCode: 125 });
  const [softText, hardText, ...extra] = text.slice(eq + 1).split(':');
  if (extra.length > 0 || softText === undefined) throw new KilnError('USAGE', `invalid ulimit argument: ${text}`, { exitCode: 125 });
  const soft = ulimitValue(softText, text);
  const hard = hardText === undefined ? soft : ulimitValue(hardText, text);
  if (hard !== null && (soft === null || soft > hard)) {
    throw new KilnError('USAGE', `ulimit soft limit must be less than or equal to hard limit: ${soft ?? -1} > ${hard}`, { exitCode: 125 });
  }
  return { name: name as RlimitName, soft, hard };
}

const LIMITS_ROWS: Record<string, RlimitName> = {
  'Max cpu time': 'cpu', 'Max file size': 'fsize', 'Max data size': 'data', 'Max stack size': 'stack', 'Max core file size': 'core',
  'Max resident set': 'rss', 'Max processes': 'nproc', 'Max open files': 'nofile', 'Max locked memory': 'memlock',
  'Max address space': 'as', 'Max file locks': 'locks', 'Max pending signals': 'sigpending', 'Max msgqueue size': 'msgqueue',
  'Max nice priority': 'nice', 'Max realtime priority': 'rtprio', 'Max realtime timeout': 'rttime',
};

/** Hard limits from /proc/self/limits text (what this process may give a child without CAP_SYS_RESOURCE). */
export function hardLimits(text: string): Map<RlimitName, bigint | null> {
  const out = new Map<RlimitName, bigint | null>();
  for (const line of text.split('\n')) {
    const row = Object.keys(LIMITS_ROWS).find((r) => line.startsWith(r));
    if (!row) continue;
    const hard = line.slice(row.length).trim().split(/\s+/)[1];
    out.set(LIMITS_ROWS[row] as RlimitName, hard === undefined || hard === 'unlimited' ? null : BigInt(hard));
  }
  return out;
}

const below = (a: bigint | null, b: bigint | null): bigint | null => (a === null ? b : b === null ? a : a < b ? a : b);

/**
 * The limits a container gets: the defaults with `overrides` in their place. Without the right
 * to raise (`canRaise` false), a default above kiln's own hard limit is lowered to it and an
 * override above it is refused.
 */
export function containerRlimits(overrides: readonly Rlimit[], canRaise: boolean, own: Map<RlimitName, bigint | null>, defaults: Rlimit[] = defaultRlimits()): Rlimit[] {
  const byName = new Map(defaults.map((l) => [l.name, l]));
  for (const o of overrides) byName.set(o.name, o);
  return [...byName.values()].map((l) => {
    const ceiling = own.get(l.name);
    if (canRaise || ceiling === undefined || ceiling === null) return l;
    const explicit = overrides.some((o) => o.name === l.name);
    if (explicit && (l.hard === null || l.hard > ceiling)) {
      throw new KilnError('USAGE', `--ulimit ${l.name}: the hard limit ${l.hard ?? 'unlimited'} is above kiln's own (${ceiling}), which only CAP_SYS_RESOURCE may raise`, { exitCode: 125 });
    }
    return { name: l.name, soft: below(l.soft, ceiling), hard: below(l.hard, ceiling) };
  });
}

/** As the addon takes them: resource number and decimal soft/hard ("-1": unlimited). */
export function nativeRlimits(limits: readonly Rlimit[]): { resource: number; soft: string; hard: string; name: string }[] {
  const text = (v: bigint | null): string => (v === null ? '-1' : v.toString());
  return limits.map((l) => ({ resource: RLIMIT_NUMBERS[l.name], soft: text(l.soft), hard: text(l.hard), name: l.name }));
}

/** The native form of a container's limits within kiln's own hard limits (what a process joining it gets too). */
export function containerRlimitsHere(overrides: readonly Rlimit[], canRaise: boolean): ReturnType<typeof nativeRlimits> {
  // kiln never sets its own limits: they are read once.
  ownHardLimits ??= hardLimits(readFileSync('/proc/self/limits', 'utf8'));
  return nativeRlimits(containerRlimits(overrides, canRaise, ownHardLimits));
}

let ownHardLimits: Map<RlimitName, bigint | null> | undefined;
