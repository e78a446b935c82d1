/**
 * Linux capability names and docker's default set for containers
 * (moby daemon/pkg/oci/caps/defaults.go), with `--cap-add` / `--cap-drop` applied.
 */
import { readFileSync } from 'node:fs';
import { KilnError } from '../errors/kilnError.js';

export const CAPABILITY_NUMBERS: Readonly<Record<string, number>> = {
  CHOWN: 0, DAC_OVERRIDE: 1, DAC_READ_SEARCH: 2, FOWNER: 3, FSETID: 4, KILL: 5, SETGID: 6, SETUID: 7,
  SETPCAP: 8, LINUX_IMMUTABLE: 9, NET_BIND_SERVICE: 10, NET_BROADCAST: 11, NET_ADMIN: 12, NET_RAW: 13,
  IPC_LOCK: 14, IPC_OWNER: 15, SYS_MODULE: 16, SYS_RAWIO: 17, SYS_CHROOT: 18, SYS_PTRACE: 19,
  SYS_PACCT: 20, SYS_ADMIN: 21, SYS_BOOT: 22, SYS_NICE: 23, SYS_RESOURCE: 24, SYS_TIME: 25,
  SYS_TTY_CONFIG: 26, MKNOD: 27, LEASE: 28, AUDIT_WRITE: 29, AUDIT_CONTROL: 30, SETFCAP: 31,
  MAC_OVERRIDE: 32, MAC_ADMIN: 33, SYSLOG: 34, WAKE_ALARM: 35, BLOCK_SUSPEND: 36, AUDIT_READ: 37,
  PERFMON: 38, BPF: 39, CHECKPOINT_RESTORE: 40,
};

export const DOCKER_DEFAULT_CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP',
  'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE',
] as const;

function normalise(name: string): string {
  const upper = name.trim().toUpperCase();
  const bare = upper.startsWith('CAP_') ? upper.slice(4) : upper;
  if (bare !== 'ALL' && !(bare in CAPABILITY_NUMBERS)) {
    throw new KilnError('BAD_CAPABILITY', `unknown capability: "${name}"`);
  }
  return bare;
}

/** The kept set after docker's rules: drops apply first unless add has ALL; ALL means every known cap. */
export function effectiveCapabilities(capAdd: readonly string[] = [], capDrop: readonly string[] = []): string[] {
  const add = capAdd.map(normalise);
  const drop = capDrop.map(normalise);
  const all = Object.keys(CAPABILITY_NUMBERS);
  let kept = new Set<string>(add.includes('ALL') ? all : DOCKER_DEFAULT_CAPABILITIES);
  if (drop.includes('ALL')) kept = new Set();
  for (const d of drop) kept.delete(d);
  for (const a of add) if (a !== 'ALL') kept.add(a);
  return [...kept].sort((a, b) => (CAPABILITY_NUMBERS[a] ?? 0) - (CAPABILITY_NUMBERS[b] ?? 0));
}

/** Decimal bit mask of the given capabilities (bit n = capability n), as the addon takes it. */
export function capabilityMask(names: readonly string[]): string {
  let mask = 0n;
  for (const n of names) mask |= 1n << BigInt(CAPABILITY_NUMBERS[n] ?? 0);
  return mask.toString();
}

let lastCap: number | undefined;

/** The kernel's highest capability number (read once: it is the running kernel's). */
export function lastCapability(): number {
  if (lastCap !== undefined) return lastCap;
  try {
    lastCap = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  } catch {
    lastCap = 40;
  }
  return lastCap;
}

let own: Set<string> | undefined;

/**
 * The capabilities this process itself holds (its permitted set): a container can be given no
 * more, so `--cap-add ALL` and privileged steps get these on a host that withholds some.
 */
export function ownCapabilities(status?: string): Set<string> {
  // kiln never changes its own: read once per process (every container start asks).
  if (status === undefined) return (own ??= capabilitiesIn(statusText()));
  return capabilitiesIn(status);
}

function statusText(): string | undefined {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
}

function capabilitiesIn(text: string | undefined): Set<string> {
  if (text === undefined) return new Set(Object.keys(CAPABILITY_NUMBERS));
  const hex = /^CapPrm:\s*([0-9a-f]+)$/m.exec(text)?.[1];
  if (hex === undefined) return new Set(Object.keys(CAPABILITY_NUMBERS));
  const mask = BigInt(`0x${hex}`);
  return new Set(Object.entries(CAPABILITY_NUMBERS).filter(([, n]) => (mask >> BigInt(n)) & 1n).map(([name]) => name));
}
