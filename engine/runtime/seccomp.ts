/**
 * The system calls a container may not make, after docker's default seccomp profile (moby
 * profiles/seccomp/default.json) written as a deny-list: kernel modules, kexec, reboot, clock
 * setting, keyrings, bpf, perf, userfaultfd, mounting and namespace creation (clone with
 * CLONE_NEW*, unshare, setns) — each allowed again when the capability that docker ties it to is
 * kept (--cap-add). clone3 answers ENOSYS so C libraries fall back to clone, as under docker.
 * x86_64 only: elsewhere no filter is installed (the capability set still applies).
 */
import { arch } from 'node:process';

/** Syscall numbers on x86_64, grouped by the capability that lifts the ban. */
const X86_64: Record<string, Record<string, number>> = {
  always: {
    add_key: 248, keyctl: 250, request_key: 249, lookup_dcookie: 212, nfsservctl: 180, uselib: 134, ustat: 136,
    sysfs: 139, _sysctl: 156, userfaultfd: 323, get_kernel_syms: 177, query_module: 178, create_module: 174,
    afs_syscall: 183, tuxcall: 184, security: 185, vhangup: 153, move_pages: 279,
  },
  SYS_ADMIN: {
    mount: 165, umount2: 166, pivot_root: 155, unshare: 272, setns: 308, quotactl: 179, name_to_handle_at: 303,
    open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, mount_setattr: 442,
    bpf: 321, perf_event_open: 298, swapon: 167, swapoff: 168,
  },
  SYS_MODULE: { init_module: 175, finit_module: 313, delete_module: 176 },
  SYS_BOOT: { reboot: 169, kexec_load: 246, kexec_file_load: 320 },
  SYS_TIME: { settimeofday: 164, clock_settime: 227, clock_adjtime: 305 },
  SYS_PTRACE: { process_vm_readv: 310, process_vm_writev: 311, kcmp: 312 },
  SYS_PACCT: { acct: 163 },
  SYS_RAWIO: { iopl: 172, ioperm: 173 },
  DAC_READ_SEARCH: { open_by_handle_at: 304 },
  SYSLOG: { syslog: 103 },
};

const AUDIT_ARCH_X86_64 = 0xc000003e;
const CLONE_NR = 56;
const CLONE3_NR = 435;
// CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (and NEWTIME, 0x80).
const CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;

export interface SeccompPolicy {
  auditArch: number;
  deny: number[];
  enosys: number[];
  cloneNr: number;
  cloneDenyFlags: number;
}

/** The filter for a container keeping `capabilities`; undefined where no filter is defined. */
export function seccompPolicy(capabilities: readonly string[], machine: string = arch): SeccompPolicy | undefined {
  if (machine !== 'x64') return undefined;
  const kept = new Set(capabilities);
  const deny: number[] = [];
  for (const [cap, calls] of Object.entries(X86_64)) {
    if (cap !== 'always' && kept.has(cap)) continue;
    deny.push(...Object.values(calls));
  }
  return {
    auditArch: AUDIT_ARCH_X86_64,
    deny: deny.sort((a, b) => a - b),
    enosys: kept.has('SYS_ADMIN') ? [] : [CLONE3_NR],
    cloneNr: CLONE_NR,
    cloneDenyFlags: kept.has('SYS_ADMIN') ? 0 : CLONE_NAMESPACE_FLAGS,
  };
}
