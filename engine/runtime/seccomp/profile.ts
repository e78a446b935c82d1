/**
 * A seccomp profile in docker's JSON format (moby profiles/seccomp, the file `docker run
 * --security-opt seccomp=FILE` takes): a default action, the architectures, and rules naming
 * system calls with an action, optional argument comparisons and includes/excludes by
 * capability, architecture and kernel version. kiln's own default profile is written in the
 * same shape (defaultProfile.ts), so one resolver and compiler serve both.
 */
import { KilnError } from '../../errors/kilnError.js';

export const ACTIONS = ['SCMP_ACT_KILL', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG'] as const;
export type Action = (typeof ACTIONS)[number];

export const OPERATORS = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'] as const;
export type Operator = (typeof OPERATORS)[number];

export interface ArgCheck {
  index: number;
  value: bigint;
  /** MASKED_EQ: the expected value of (arg & value). */
  valueTwo: bigint;
  op: Operator;
}

export interface Filter {
  caps?: string[];
  arches?: string[];
  /** "MAJOR.MINOR". */
  minKernel?: string;
}

export interface SyscallRule {
  names: string[];
  action: Action;
  errnoRet?: number;
  args: ArgCheck[];
  includes?: Filter;
  excludes?: Filter;
}

export interface SeccompProfile {
  defaultAction: Action;
  defaultErrnoRet?: number;
  /** SCMP_ARCH_ names of the host's ABI and its compatible ones (docker's archMap entries). */
  archMap: { architecture: string; subArchitectures: string[] }[];
  /** OCI-style flat list; used when archMap has no entry for this host. */
  architectures: string[];
  syscalls: SyscallRule[];
}

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: Json, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new Error(`${what} must be a list of strings`);
  return v as string[];
}

function action(v: Json, what: string): Action {
  if (v === 'SCMP_ACT_NOTIFY') throw new Error(`${what}: SCMP_ACT_NOTIFY needs a seccomp agent, which kiln does not run`);
  if (typeof v !== 'string' || !(ACTIONS as readonly string[]).includes(v)) throw new Error(`${what}: unknown action ${JSON.stringify(v)}`);
  return v as Action;
}

function errno(v: Json, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) throw new Error(`${what} must be an integer from 0 to 65535`);
  return v;
}

function uint64(v: Json, what: string): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Error(`${what} must be a non-negative integer`);
  return BigInt(v);
}

function filter(v: Json, what: string): Filter | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new Error(`${what} must be an object`);
  const min = v.minKernel;
  if (min !== undefined && min !== null && (typeof min !== 'string' || !/^\d+\.\d+$/.test(min))) throw new Error(`${what}.minKernel must be "MAJOR.MINOR"`);
  return {
    caps: stringList(v.caps, `${what}.caps`),
    arches: stringList(v.arches, `${what}.arches`),
    ...(typeof min === 'string' ? { minKernel: min } : {}),
  };
}

function rule(v: Json, i: number): SyscallRule {
  const what = `syscalls[${i}]`;
  if (!isObject(v)) throw new Error(`${what} must be an object`);
  const names = [...stringList(v.names, `${what}.names`), ...(typeof v.name === 'string' && v.name !== '' ? [v.name] : [])];
  if (names.length === 0) throw new Error(`${what} names no system call`);
  const args = v.args === undefined || v.args === null ? [] : v.args;
  if (!Array.isArray(args)) throw new Error(`${what}.args must be a list`);
  const checks = args.map((a: Json, j): ArgCheck => {
    const where = `${what}.args[${j}]`;
    if (!isObject(a)) throw new Error(`${where} must be an object`);
    if (typeof a.index !== 'number' || !Number.isInteger(a.index) || a.index < 0 || a.index > 5) throw new Error(`${where}.index must be 0 to 5`);
    if (typeof a.op !== 'string' || !(OPERATORS as readonly string[]).includes(a.op)) throw new Error(`${where}: unknown operator ${JSON.stringify(a.op)}`);
    return { index: a.index, value: uint64(a.value, `${where}.value`), valueTwo: uint64(a.valueTwo, `${where}.valueTwo`), op: a.op as Operator };
  });
  const errnoRet = errno(v.errnoRet, `${what}.errnoRet`);
  const includes = filter(v.includes, `${what}.includes`);
  const excludes = filter(v.excludes, `${what}.excludes`);
  return {
    names, action: action(v.action, `${what}.action`), args: checks,
    ...(errnoRet !== undefined ? { errnoRet } : {}), ...(includes ? { includes } : {}), ...(excludes ? { excludes } : {}),
  };
}

/** Reads a profile's JSON text; errors name the file and what is wrong with it. */
export function parseSeccompProfile(text: string, source: string): SeccompProfile {
  try {
    let json: Json;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new Error(`not JSON: ${(err as Error).message}`);
    }
    if (!isObject(json)) throw new Error('must be a JSON object');
    const archMap = json.archMap === undefined || json.archMap === null ? [] : json.archMap;
    if (!Array.isArray(archMap)) throw new Error('archMap must be a list');
    const defaultErrnoRet = errno(json.defaultErrnoRet, 'defaultErrnoRet');
    const syscalls = json.syscalls === undefined || json.syscalls === null ? [] : json.syscalls;
    if (!Array.isArray(syscalls)) throw new Error('syscalls must be a list');
    return {
      defaultAction: action(json.defaultAction, 'defaultAction'),
      ...(defaultErrnoRet !== undefined ? { defaultErrnoRet } : {}),
      archMap: archMap.map((m: Json, i) => {
        if (!isObject(m) || typeof m.architecture !== 'string') throw new Error(`archMap[${i}] needs an architecture`);
        return { architecture: m.architecture, subArchitectures: stringList(m.subArchitectures, `archMap[${i}].subArchitectures`) };
      }),
      architectures: stringList(json.architectures, 'architectures'),
      syscalls: syscalls.map(rule),
    };
  } catch (err) {
    throw new KilnError('SECCOMP_PROFILE', `seccomp profile ${source}: ${(err as Error).message}`, { exitCode: 125 });
  }
}
