/**
 * A profile applied to one container on this machine, as docker applies it (moby
 * profiles/seccomp/seccomp_linux.go): rules whose includes/excludes do not fit the container's
 * capabilities, the host's architecture or kernel are dropped; names are looked up per ABI (a
 * name an ABI lacks is skipped there); what is left becomes, per ABI and system call number,
 * the ordered rules to try and the verdict when none matches. Numbers past the last one kiln's
 * table knows answer ENOSYS (unless the profile allows by default), so a C library newer than
 * the table falls back as it does on an older kernel, not on EPERM (runc does the same).
 */
import { release } from 'node:os';
import type { Abi, HostAbis } from './abi.js';
import { abiByScmpName } from './abi.js';
import type { Action, ArgCheck, Filter, SeccompProfile } from './profile.js';

export const RET_KILL_THREAD = 0x00000000;
export const RET_KILL_PROCESS = 0x80000000;
export const RET_TRAP = 0x00030000;
export const RET_ERRNO = 0x00050000;
export const RET_TRACE = 0x7ff00000;
export const RET_LOG = 0x7ffc0000;
export const RET_ALLOW = 0x7fff0000;

const EPERM = 1;
const ENOSYS = 38;

export function verdict(action: Action, errno: number | undefined): number {
  switch (action) {
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD': return RET_KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS': return RET_KILL_PROCESS;
    case 'SCMP_ACT_TRAP': return RET_TRAP;
    case 'SCMP_ACT_ERRNO': return (RET_ERRNO | ((errno ?? EPERM) & 0xffff)) >>> 0;
    case 'SCMP_ACT_TRACE': return (RET_TRACE | ((errno ?? EPERM) & 0xffff)) >>> 0;
    case 'SCMP_ACT_LOG': return RET_LOG;
    case 'SCMP_ACT_ALLOW': return RET_ALLOW;
  }
}

export interface ConditionalRule {
  /** All must hold. */
  checks: ArgCheck[];
  verdict: number;
}

/** What one system call gets: the first rule that matches, else `fallback`. */
export interface SyscallDecision {
  rules: ConditionalRule[];
  fallback: number;
}

export interface AbiFilter {
  abi: Abi;
  /** Numbers with a verdict other than the default; the rest get `defaultVerdict`. */
  decisions: Map<number, SyscallDecision>;
  defaultVerdict: number;
  /** Numbers above `lastNumber` (the table's last one) get `beyond`. */
  lastNumber: number;
  beyond: number;
}

export interface ResolvedFilter {
  abis: AbiFilter[];
  /** For a call from an ABI the filter does not list. */
  badArch: number;
}

export interface ResolveContext {
  /** Capability names kept (with or without CAP_). */
  capabilities: readonly string[];
  host: HostAbis;
  /** [major, minor] of the running kernel. */
  kernel?: [number, number];
}

export function kernelVersion(text: string = release()): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

function atLeast(kernel: [number, number], min: string): boolean {
  const [maj, mnr] = min.split('.').map(Number) as [number, number];
  return kernel[0] > maj || (kernel[0] === maj && kernel[1] >= mnr);
}

const capName = (c: string): string => (c.toUpperCase().startsWith('CAP_') ? c.toUpperCase() : `CAP_${c.toUpperCase()}`);

/** docker's rule: includes must all hold, any exclude that holds drops the rule. */
function applies(includes: Filter | undefined, excludes: Filter | undefined, caps: Set<string>, goArch: string, kernel: [number, number]): boolean {
  if (includes) {
    if (includes.caps?.some((c) => !caps.has(capName(c)))) return false;
    if (includes.arches && includes.arches.length > 0 && !includes.arches.includes(goArch)) return false;
    if (includes.minKernel !== undefined && !atLeast(kernel, includes.minKernel)) return false;
  }
  if (excludes) {
    if (excludes.caps?.some((c) => caps.has(capName(c)))) return false;
    if (excludes.arches?.includes(goArch)) return false;
    if (excludes.minKernel !== undefined && atLeast(kernel, excludes.minKernel)) return false;
  }
  return true;
}

/** The profile's ABIs for this host: its own always, the compatible ones the profile names. */
function profileAbis(profile: SeccompProfile, host: HostAbis): Abi[] {
  const named = profile.archMap.find((m) => m.architecture === host.native.scmp)?.subArchitectures ?? profile.architectures;
  const compat = host.compat.filter((a) => named.includes(a.scmp) || named.some((n) => abiByScmpName(n) === a));
  return [host.native, ...compat];
}

/**
 * runc's reading of a rule comparing one argument more than once (opencontainers/runc#2735):
 * each comparison becomes a rule of its own, so they are alternatives.
 */
function splitRepeatedArgs(checks: ArgCheck[]): ArgCheck[][] {
  const indices = checks.map((c) => c.index);
  if (new Set(indices).size === indices.length) return [checks];
  return checks.map((c) => [c]);
}

export function resolveProfile(profile: SeccompProfile, ctx: ResolveContext): ResolvedFilter {
  const caps = new Set(ctx.capabilities.map(capName));
  const kernel = ctx.kernel ?? kernelVersion();
  const defaultVerdict = verdict(profile.defaultAction, profile.defaultErrnoRet);
  const permissive = profile.defaultAction === 'SCMP_ACT_ALLOW' || profile.defaultAction === 'SCMP_ACT_LOG';
  const rules = profile.syscalls.filter((r) => applies(r.includes, r.excludes, caps, ctx.host.goArch, kernel));
  const abis = profileAbis(profile, ctx.host).map((abi): AbiFilter => {
    const decisions = new Map<number, SyscallDecision>();
    for (const rule of rules) {
      const v = verdict(rule.action, rule.errnoRet);
      for (const name of rule.names) {
        const nr = abi.table.get(name);
        if (nr === undefined) continue;
        const d = decisions.get(nr) ?? { rules: [], fallback: defaultVerdict };
        if (rule.args.length === 0) {
          // An unconditional rule decides; the first one wins over later and conditional ones.
          if (d.rules.length > 0 || d.fallback === defaultVerdict) decisions.set(nr, { rules: [], fallback: v });
          continue;
        }
        if (d.rules.length === 0 && d.fallback !== defaultVerdict) continue;
        for (const checks of splitRepeatedArgs(rule.args)) d.rules.push({ checks, verdict: v });
        decisions.set(nr, d);
      }
    }
    for (const [nr, d] of decisions) if (d.rules.length === 0 && d.fallback === defaultVerdict) decisions.delete(nr);
    const lastNumber = Math.max(...abi.table.values());
    return { abi, decisions, defaultVerdict, lastNumber, beyond: permissive ? defaultVerdict : (RET_ERRNO | ENOSYS) >>> 0 };
  });
  return { abis, badArch: (RET_ERRNO | ENOSYS) >>> 0 };
}

