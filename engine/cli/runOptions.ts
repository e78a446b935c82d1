/**
 * `kiln run` flags turned into a container's settings, with docker's meanings: memory units,
 * `-v SRC:DST[:ro]`, `--tmpfs DST[:size=…]`, env files, and how Entrypoint/Cmd combine. Pure, so
 * the rules are testable without starting anything.
 */
import { isAbsolute } from 'node:path';
import { flagValueError } from './args.js';
import type { ContainerMount } from '../runtime/mounts.js';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** docker's RAMInBytes: 64m, 1g, 512k, 1.5g, plain bytes. */
export function parseBytes(text: string, flag: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([bkmgt]?)b?$/i.exec(text.trim());
  if (!m) throw flagValueError(`invalid value "${text}" for ${flag}: expected a size like 64m or 1g`);
  const n = Math.floor(Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? 1));
  if (n <= 0) throw flagValueError(`invalid value "${text}" for ${flag}: must be positive`);
  return n;
}

export function parseMemory(text: string): number {
  const n = parseBytes(text, '--memory');
  // docker: "Minimum memory limit allowed is 6MB."
  if (n < 6 * 1024 * 1024) throw flagValueError('Minimum memory limit allowed is 6MB');
  return n;
}

export function parseCpus(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw flagValueError(`invalid argument "${text}" for "--cpus" flag: expected a positive number`);
  return n;
}

export function parsePidsLimit(text: string): number | undefined {
  const n = Number(text);
  if (!Number.isInteger(n)) throw flagValueError(`invalid argument "${text}" for "--pids-limit" flag`);
  return n <= 0 ? undefined : n; // docker: 0 or -1 means unlimited
}

/** `-v SRC:DST[:ro|rw]`. Named volumes are not supported: SRC must be an absolute host path. */
export function parseVolume(text: string): ContainerMount {
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw flagValueError(`invalid volume specification: '${text}' (expected SRC:DST[:ro])`);
  }
  const [source, target, mode] = parts as [string, string, string | undefined];
  if (!isAbsolute(source)) throw flagValueError(`invalid volume specification: '${text}': named volumes are not supported, use an absolute host path`);
  if (!target.startsWith('/')) throw flagValueError(`invalid volume specification: '${text}': mount path must be absolute`);
  let readonly = false;
  for (const opt of (mode ?? '').split(',').filter((o) => o !== '')) {
    if (opt === 'ro') readonly = true;
    else if (opt === 'rw') readonly = false;
    else if (!['z', 'Z', 'rprivate', 'private', 'rslave', 'slave', 'delegated', 'cached', 'consistent'].includes(opt)) {
      throw flagValueError(`invalid mode: ${opt}`);
    }
  }
  return { type: 'bind', source, target, readonly };
}

/** `--tmpfs DST[:opts]`; of the options only size= is honoured. */
export function parseTmpfs(text: string): ContainerMount {
  const colon = text.indexOf(':');
  const target = colon < 0 ? text : text.slice(0, colon);
  if (!target.startsWith('/')) throw flagValueError(`invalid mount path for --tmpfs: '${target}' must be absolute`);
  const mount: ContainerMount = { type: 'tmpfs', target };
  for (const opt of (colon < 0 ? '' : text.slice(colon + 1)).split(',')) {
    if (opt.startsWith('size=')) mount.size = parseBytes(opt.slice(5), '--tmpfs size');
  }
  return mount;
}

/** One env file: KEY=VALUE lines, `#` comments, a bare KEY takes the host's value (docker). */
export function parseEnvFile(text: string, hostEnv: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq === 0) throw flagValueError(`invalid environment variable: ${line}`);
    if (eq > 0) out.push(line);
    else if (hostEnv[line.trim()] !== undefined) out.push(`${line.trim()}=${hostEnv[line.trim()]}`);
  }
  return out;
}

/** `-e K=V` or `-e K` (the host's value, dropped when unset). */
export function parseEnvFlag(text: string, hostEnv: NodeJS.ProcessEnv): string | undefined {
  if (text.startsWith('=')) throw flagValueError(`invalid environment variable: ${text}`);
  if (text.includes('=')) return text;
  const v = hostEnv[text];
  return v === undefined ? undefined : `${text}=${v}`;
}

/** Later entries win, keeping the position of the first occurrence (docker's ReplaceOrAppendEnvValues). */
export function mergeEnv(...lists: readonly (readonly string[])[]): string[] {
  const out: string[] = [];
  const index = new Map<string, number>();
  for (const list of lists) {
    for (const e of list) {
      const key = e.includes('=') ? e.slice(0, e.indexOf('=')) : e;
      const at = index.get(key);
      if (at === undefined) { index.set(key, out.length); out.push(e); } else out[at] = e;
    }
  }
  return out;
}

/**
 * docker's rule: `--entrypoint` replaces the image's Entrypoint and drops its Cmd;
 * arguments after IMAGE replace Cmd. An empty --entrypoint clears it.
 */
export function composeArgv(image: { Entrypoint?: string[] | null; Cmd?: string[] | null }, entrypointFlag: string | undefined, args: readonly string[]): string[] {
  const entrypoint = entrypointFlag !== undefined ? (entrypointFlag === '' ? [] : [entrypointFlag]) : image.Entrypoint ?? [];
  const cmd = args.length > 0 ? [...args] : entrypointFlag !== undefined ? [] : image.Cmd ?? [];
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0) throw flagValueError('No command specified');
  return argv;
}

/** Valid container names, as docker checks them. */
export function checkContainerName(name: string): string {
  const n = name.startsWith('/') ? name.slice(1) : name;
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(n)) throw flagValueError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return n;
}

export interface SecurityOptions {
  /** 'unconfined', a profile file's path, or undefined for kiln's default profile. */
  seccomp?: string;
  noNewPrivileges?: boolean;
}

/**
 * `--security-opt` values as docker reads them: `seccomp=unconfined|PROFILE.json` (also with
 * `:`), `no-new-privileges[=true|false]`. AppArmor and SELinux labels are not kiln's.
 */
export function parseSecurityOpts(values: readonly string[]): SecurityOptions {
  const out: SecurityOptions = {};
  for (const value of values) {
    const m = /^([a-z-]+)(?:[=:](.*))?$/s.exec(value);
    const key = m?.[1];
    const arg = m?.[2];
    if (key === 'seccomp' && arg !== undefined && arg !== '') out.seccomp = arg;
    else if (key === 'no-new-privileges' && (arg === undefined || arg === 'true' || arg === 'false')) out.noNewPrivileges = arg !== 'false';
    else if (key === 'apparmor' || key === 'label' || key === 'systempaths') throw flagValueError(`--security-opt ${value}: kiln does not support ${key} options`);
    else throw flagValueError(`invalid --security-opt: ${JSON.stringify(value)}`);
  }
  return out;
}

/** `--oom-score-adj`: docker's range and message. */
export function parseOomScoreAdj(text: string): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || n < -1000 || n > 1000) throw flagValueError(`Invalid value ${text}, range for oom score adj is [-1000, 1000]`);
  return n;
}
