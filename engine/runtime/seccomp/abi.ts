/**
 * The system call ABIs a seccomp filter tells apart (by `seccomp_data.arch`, and on x86_64 by
 * the x32 bit of the number), under the names docker's profiles use (SCMP_ARCH_*), and which of
 * them a process on this machine can use: its own and the compatible ones (docker's archMap).
 */
import { SYSCALL_RUNS } from './syscallTable.js';

export interface Abi {
  name: 'x86_64' | 'i386' | 'x32' | 'aarch64' | 'arm';
  /** The SCMP_ARCH_ name in profiles. */
  scmp: string;
  /** AUDIT_ARCH_* as seccomp_data.arch carries it. */
  auditArch: number;
  /** Arguments are 32 bits wide (only their low words are compared). */
  narrowArgs: boolean;
  /** name -> number (read from the generated table on first use). */
  readonly table: ReadonlyMap<string, number>;
}

const X32_BIT = 0x40000000;

/** An ABI's names and numbers from the generated runs. */
export function syscallTable(name: string): Map<string, number> {
  const runs = SYSCALL_RUNS[name];
  if (!runs) throw new Error(`no system call table for ${name}`);
  const table = new Map<string, number>();
  for (const [first, text] of runs) {
    text.split(' ').forEach((word, i) => {
      if (word !== '-') for (const n of word.split(',')) table.set(n, first + i);
    });
  }
  return table;
}

function abi(name: Abi['name'], scmp: string, auditArch: number, narrowArgs: boolean): Abi {
  let table: Map<string, number> | undefined;
  return { name, scmp, auditArch, narrowArgs, get table() { return (table ??= syscallTable(name)); } };
}

export const ABIS: Readonly<Record<Abi['name'], Abi>> = {
  x86_64: abi('x86_64', 'SCMP_ARCH_X86_64', 0xc000003e, false),
  i386: abi('i386', 'SCMP_ARCH_X86', 0x40000003, true),
  // Same audit arch as x86_64; its numbers carry X32_BIT.
  x32: abi('x32', 'SCMP_ARCH_X32', 0xc000003e, false),
  aarch64: abi('aarch64', 'SCMP_ARCH_AARCH64', 0xc00000b7, false),
  arm: abi('arm', 'SCMP_ARCH_ARM', 0x40000028, true),
};

export { X32_BIT };

export interface HostAbis {
  native: Abi;
  /** Compatible ABIs a process here can also call (docker's subArchitectures). */
  compat: Abi[];
  /** The architecture as Go (and so docker's profiles, in includes.arches) names it. */
  goArch: string;
}

/** This machine's ABIs (process.arch naming); undefined where kiln has no table. */
export function hostAbis(arch: string = process.arch): HostAbis | undefined {
  switch (arch) {
    case 'x64': return { native: ABIS.x86_64, compat: [ABIS.i386, ABIS.x32], goArch: 'amd64' };
    case 'arm64': return { native: ABIS.aarch64, compat: [ABIS.arm], goArch: 'arm64' };
    case 'ia32': return { native: ABIS.i386, compat: [], goArch: '386' };
    case 'arm': return { native: ABIS.arm, compat: [], goArch: 'arm' };
    default: return undefined;
  }
}

export function abiByScmpName(name: string): Abi | undefined {
  return Object.values(ABIS).find((a) => a.scmp === name);
}
