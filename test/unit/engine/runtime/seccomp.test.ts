/**
 * The seccomp allow-list, compiled and run through a classic-BPF interpreter for every ABI of an
 * x86_64 host (x86_64, i386, x32) and of an aarch64 host (aarch64, arm): docker's semantics for
 * the default profile and its capability groups, the argument filters, ENOSYS past the table,
 * docker-format profiles with every comparison operator, and long programs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ABIS, hostAbis, syscallTable, X32_BIT } from '../../../../engine/runtime/seccomp/abi.js';

const SYSCALL_TABLES = Object.fromEntries(Object.keys(ABIS).map((n) => [n, Object.fromEntries(syscallTable(n))])) as Record<string, Record<string, number>>;
import { compileFilter } from '../../../../engine/runtime/seccomp/compile.js';
import { DEFAULT_PROFILE } from '../../../../engine/runtime/seccomp/defaultProfile.js';
import { parseSeccompProfile, type Operator, type SeccompProfile } from '../../../../engine/runtime/seccomp/profile.js';
import { resolveProfile, RET_ALLOW, RET_ERRNO } from '../../../../engine/runtime/seccomp/resolve.js';

import { seccompProgram } from '../../../../engine/runtime/seccomp.js';
import { compileDefault, PRECOMPILED_DEFAULT } from '../../../../engine/runtime/seccomp/precompiled.js';
import { effectiveCapabilities } from '../../../../engine/runtime/capabilities.js';
import { KilnError } from '../../../../engine/errors/kilnError.js';
import { runSeccomp } from '../../../support/seccompRunner.js';

const EPERM = (RET_ERRNO | 1) >>> 0;
const ENOSYS = (RET_ERRNO | 38) >>> 0;

function program(arch: 'x64' | 'arm64', capAdd: string[] = [], profile: SeccompProfile = DEFAULT_PROFILE): Buffer {
  const host = hostAbis(arch);
  assert.ok(host);
  return compileFilter(resolveProfile(profile, { capabilities: effectiveCapabilities(capAdd), host, kernel: [6, 1] }));
}

/** The verdict for `name` of `abi` with `args`. */
function verdictOf(prog: Buffer, abi: keyof typeof ABIS, name: string, args: bigint[] = []): number {
  const nr = ABIS[abi].table.get(name);
  assert.ok(nr !== undefined, `${name} on ${abi}`);
  return runSeccomp(prog, { arch: ABIS[abi].auditArch, nr, args });
}

const HOSTS = [{ arch: 'x64' as const, abis: ['x86_64', 'i386', 'x32'] as const }, { arch: 'arm64' as const, abis: ['aarch64', 'arm'] as const }];

test('syscall tables from the kernel headers: known numbers of each ABI', () => {
  assert.equal(SYSCALL_TABLES.x86_64?.read, 0);
  assert.equal(SYSCALL_TABLES.i386?.read, 3);
  assert.equal(SYSCALL_TABLES.x32?.read, X32_BIT);
  assert.equal(SYSCALL_TABLES.aarch64?.read, 63);
  assert.equal(SYSCALL_TABLES.arm?.read, 3);
  for (const t of Object.values(SYSCALL_TABLES)) assert.equal((t.clone3 ?? 0) & ~X32_BIT, 435);
  assert.equal(SYSCALL_TABLES.aarch64?.open, undefined, 'aarch64 has only openat');
  assert.equal(SYSCALL_TABLES.arm?.set_tls, 0x0f0005, 'ARM private calls');
});

test('every name in the default profile is a system call: in a table, or newer than the headers (6.1)', () => {
  const known = new Set(Object.values(SYSCALL_TABLES).flatMap((t) => Object.keys(t)));
  const newer = ['cachestat', 'fchmodat2', 'futex_requeue', 'futex_wait', 'futex_wake', 'getxattrat', 'listmount', 'listxattrat', 'lsm_get_self_attr',
    'lsm_list_modules', 'lsm_set_self_attr', 'map_shadow_stack', 'mseal', 'removexattrat', 'riscv_hwprobe', 'setxattrat', 'statmount', 'uretprobe'];
  const unknown = [...new Set(DEFAULT_PROFILE.syscalls.flatMap((r) => r.names))].filter((n) => !known.has(n)).sort();
  assert.deepEqual(unknown, newer);
});

for (const host of HOSTS) {
  test(`default profile on ${host.arch}: ordinary calls allowed, docker's refusals EPERM, every ABI`, () => {
    const prog = program(host.arch);
    for (const abi of host.abis) {
      for (const name of ['read', 'write', 'openat', 'pipe2', 'execve', 'exit_group', 'futex', 'ptrace', 'getpid', 'rt_sigaction', 'chroot', 'wait4', 'munmap']) {
        assert.equal(verdictOf(prog, abi, name), RET_ALLOW, `${abi} ${name}`);
      }
      for (const name of ['keyctl', 'add_key', 'unshare', 'setns', 'mount', 'umount2', 'pivot_root', 'bpf', 'perf_event_open', 'userfaultfd',
        'kexec_load', 'init_module', 'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'set_mempolicy', 'fanotify_init',
        'pidfd_getfd', 'move_pages', 'sethostname', 'open_by_handle_at', 'reboot', 'swapon', 'syslog']) {
        assert.equal(verdictOf(prog, abi, name), EPERM, `${abi} ${name}`);
      }
      assert.equal(verdictOf(prog, abi, 'clone3'), ENOSYS, `${abi} clone3: ENOSYS, so the C library falls back to clone`);
      const last = Math.max(...ABIS[abi].table.values());
      assert.equal(runSeccomp(prog, { arch: ABIS[abi].auditArch, nr: last + 1 }), ENOSYS, `${abi}: past the table`);
    }
    assert.equal(runSeccomp(prog, { arch: 0x40000008 /* MIPS */, nr: 0 }), ENOSYS, 'an ABI the filter does not list');
  });

  test(`default profile on ${host.arch}: clone, personality and socket by their arguments`, () => {
    const prog = program(host.arch);
    for (const abi of host.abis) {
      const narrow = ABIS[abi].narrowArgs;
      assert.equal(verdictOf(prog, abi, 'clone', [0x11n]), RET_ALLOW, `${abi} fork-like clone`);
      assert.equal(verdictOf(prog, abi, 'clone', [0x003d0f00n]), RET_ALLOW, `${abi} thread-like clone`);
      for (const ns of [0x20000n, 0x10000000n, 0x40000000n, 0x2000000n]) assert.equal(verdictOf(prog, abi, 'clone', [ns | 0x11n]), EPERM, `${abi} clone ${ns.toString(16)}`);
      if (!narrow) assert.equal(verdictOf(prog, abi, 'clone', [0x1_0000_0011n]), RET_ALLOW, `${abi}: bits above the mask do not matter`);
      for (const p of [0n, 8n, 0x20000n, 0x20008n, 0xffffffffn]) assert.equal(verdictOf(prog, abi, 'personality', [p]), RET_ALLOW, `${abi} personality ${p}`);
      assert.equal(verdictOf(prog, abi, 'personality', [0x0040000n]), EPERM, `${abi} ADDR_NO_RANDOMIZE`);
      if (!narrow) assert.equal(verdictOf(prog, abi, 'personality', [0x1_0000_0000n]), EPERM, `${abi}: the high word counts`);
      if (ABIS[abi].table.has('socket')) {
        for (const family of [1n, 2n, 10n, 16n, 17n]) assert.equal(verdictOf(prog, abi, 'socket', [family]), RET_ALLOW, `${abi} socket ${family}`);
        for (const family of [38n, 40n, 0n, 46n]) assert.equal(verdictOf(prog, abi, 'socket', [family]), EPERM, `${abi} socket ${family}`);
      }
    }
  });

  test(`default profile on ${host.arch}: each capability unlocks its group, as docker's`, () => {
    const admin = program(host.arch, ['SYS_ADMIN']);
    const ptrace = program(host.arch, ['SYS_PTRACE']);
    const nice = program(host.arch, ['SYS_NICE']);
    for (const abi of host.abis) {
      for (const name of ['mount', 'unshare', 'setns', 'bpf', 'sethostname', 'fanotify_init', 'clone3']) assert.equal(verdictOf(admin, abi, name), RET_ALLOW, `${abi} ${name} with SYS_ADMIN`);
      assert.equal(verdictOf(admin, abi, 'clone', [0x10000011n]), RET_ALLOW, `${abi} clone(CLONE_NEWUSER) with SYS_ADMIN`);
      assert.equal(verdictOf(admin, abi, 'keyctl'), EPERM, 'keyrings stay shut');
      assert.equal(verdictOf(ptrace, abi, 'pidfd_getfd'), RET_ALLOW);
      assert.equal(verdictOf(ptrace, abi, 'mount'), EPERM);
      assert.equal(verdictOf(nice, abi, 'set_mempolicy'), RET_ALLOW);
    }
  });
}

test('x32 calls go through the x32 table; arm private calls on aarch64 hosts', () => {
  const x64 = program('x64');
  assert.equal(runSeccomp(x64, { arch: ABIS.x86_64.auditArch, nr: X32_BIT | 39 }), RET_ALLOW, 'x32 getpid');
  assert.equal(runSeccomp(x64, { arch: ABIS.x86_64.auditArch, nr: X32_BIT | 250 }), EPERM, 'x32 keyctl');
  assert.equal(verdictOf(x64, 'x86_64', 'arch_prctl'), RET_ALLOW);
  const arm64 = program('arm64');
  assert.equal(verdictOf(arm64, 'arm', 'set_tls'), RET_ALLOW);
  assert.equal(verdictOf(arm64, 'arm', 'cacheflush'), RET_ALLOW);
});

test('docker-format profiles: parsed, with clear errors for what is not one', () => {
  const p = parseSeccompProfile(JSON.stringify({
    defaultAction: 'SCMP_ACT_ALLOW',
    archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
    syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }, { name: 'chmod', action: 'SCMP_ACT_KILL_PROCESS' }],
  }), 'custom.json');
  const prog = program('x64', [], p);
  assert.equal(verdictOf(prog, 'x86_64', 'mkdir'), (RET_ERRNO | 13) >>> 0);
  assert.equal(verdictOf(prog, 'i386', 'mkdir'), (RET_ERRNO | 13) >>> 0);
  assert.equal(verdictOf(prog, 'x86_64', 'chmod'), 0x80000000);
  assert.equal(verdictOf(prog, 'x86_64', 'read'), RET_ALLOW);
  assert.equal(runSeccomp(prog, { arch: ABIS.x86_64.auditArch, nr: 1000 }), RET_ALLOW, 'an allowing profile allows past the table');
  assert.equal(runSeccomp(prog, { arch: ABIS.x86_64.auditArch, nr: X32_BIT | 83 }), ENOSYS, 'x32 is not in this profile');
  const bad = (text: string, message: RegExp): void => {
    assert.throws(() => parseSeccompProfile(text, 'p.json'), (e: unknown) => e instanceof KilnError && e.exitCode === 125 && message.test(e.message));
  };
  bad('{', /^seccomp profile p\.json: not JSON/);
  bad('[]', /must be a JSON object/);
  bad('{"defaultAction":"SCMP_ACT_NOPE"}', /defaultAction: unknown action "SCMP_ACT_NOPE"/);
  bad('{"defaultAction":"SCMP_ACT_NOTIFY"}', /needs a seccomp agent/);
  bad('{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}', /args\[0\]\.index must be 0 to 5/);
  bad('{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}', /syscalls\[0\] names no system call/);
});

/** The comparison as the kernel-side meaning says, for checking the compiled code. */
function reference(op: Operator, arg: bigint, value: bigint, valueTwo: bigint): boolean {
  switch (op) {
    case 'SCMP_CMP_EQ': return arg === value;
    case 'SCMP_CMP_NE': return arg !== value;
    case 'SCMP_CMP_LT': return arg < value;
    case 'SCMP_CMP_LE': return arg <= value;
    case 'SCMP_CMP_GT': return arg > value;
    case 'SCMP_CMP_GE': return arg >= value;
    case 'SCMP_CMP_MASKED_EQ': return (arg & value) === valueTwo;
  }
}

test('every comparison operator on 64-bit (x86_64) and 32-bit (i386) arguments', () => {
  const ops: Operator[] = ['SCMP_CMP_EQ', 'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_GT', 'SCMP_CMP_GE', 'SCMP_CMP_MASKED_EQ'];
  const values = [0n, 1n, 7n, 0xffffffffn, 0x1_0000_0000n, 0x1_0000_0007n, 0xffff_ffff_ffff_fffen];
  for (const op of ops) {
    for (const value of values) {
      const valueTwo = op === 'SCMP_CMP_MASKED_EQ' ? value & 0x1_0000_0005n : 0n;
      const profile: SeccompProfile = {
        defaultAction: 'SCMP_ACT_ERRNO', archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }], architectures: [],
        syscalls: [{ names: ['write'], action: 'SCMP_ACT_ALLOW', args: [{ index: 2, value, valueTwo, op }] }],
      };
      const prog = program('x64', [], profile);
      for (const arg of [...values, 6n, 8n, 0x1_0000_0006n]) {
        const wide = verdictOf(prog, 'x86_64', 'write', [0n, 0n, arg]) === RET_ALLOW;
        assert.equal(wide, reference(op, arg, value, valueTwo), `x86_64 ${op} ${arg} vs ${value}`);
        const low = arg & 0xffffffffn;
        const narrow = verdictOf(prog, 'i386', 'write', [0n, 0n, low]) === RET_ALLOW;
        assert.equal(narrow, reference(op, low, value, valueTwo), `i386 ${op} ${low} vs ${value}`);
      }
    }
  }
});

test('one argument compared twice in a rule: alternatives, as runc reads it', () => {
  const profile: SeccompProfile = {
    defaultAction: 'SCMP_ACT_ERRNO', archMap: [], architectures: [],
    syscalls: [{ names: ['write'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1n, valueTwo: 0n, op: 'SCMP_CMP_EQ' }, { index: 0, value: 2n, valueTwo: 0n, op: 'SCMP_CMP_EQ' }] }],
  };
  const prog = program('x64', [], profile);
  assert.equal(verdictOf(prog, 'x86_64', 'write', [1n]), RET_ALLOW);
  assert.equal(verdictOf(prog, 'x86_64', 'write', [2n]), RET_ALLOW);
  assert.equal(verdictOf(prog, 'x86_64', 'write', [3n]), EPERM);
});

test('long programs: jumps beyond 255 instructions still land; over 4096 instructions is refused', () => {
  const many = (n: number): SeccompProfile => ({
    defaultAction: 'SCMP_ACT_ERRNO', archMap: [], architectures: [],
    syscalls: Array.from({ length: n }, (_, i) => ({ names: ['ioctl'], action: 'SCMP_ACT_ALLOW' as const, args: [{ index: 1, value: BigInt(0x5400 + i), valueTwo: 0n, op: 'SCMP_CMP_EQ' as const }] }))
      .concat([{ names: ['read', 'write', 'close'], action: 'SCMP_ACT_ALLOW', args: [] }]),
  });
  const prog = program('x64', [], many(200));
  assert.ok(prog.length / 8 > 600);
  for (const i of [0, 99, 199]) assert.equal(verdictOf(prog, 'x86_64', 'ioctl', [0n, BigInt(0x5400 + i)]), RET_ALLOW);
  assert.equal(verdictOf(prog, 'x86_64', 'ioctl', [0n, 0x5300n]), EPERM);
  for (const name of ['read', 'write', 'close']) assert.equal(verdictOf(prog, 'x86_64', name), RET_ALLOW);
  assert.throws(() => program('x64', [], many(1500)), /at most 4096/);
});

test('the default program: small, and compiled once per capability set', () => {
  const first = seccompProgram('default', effectiveCapabilities(), 'x64');
  assert.ok(first);
  assert.ok(first.length / 8 < 1200, `${first.length / 8} instructions`);
  assert.equal(seccompProgram('default', effectiveCapabilities(), 'x64'), first);
  assert.equal(seccompProgram('unconfined', effectiveCapabilities(), 'x64'), undefined);
  assert.throws(() => seccompProgram('default', [], 'riscv64'), /no system call table for this machine's architecture \(riscv64\)/);
});

test('the programs compiled ahead are what the compiler makes now (else: npm run build, then node native/syscalls/precompile.mjs)', () => {
  for (const arch of ['x64', 'arm64']) {
    assert.equal(PRECOMPILED_DEFAULT[arch], compileDefault(arch).toString('base64'), `${arch}: regenerate with node native/syscalls/precompile.mjs`);
  }
  assert.equal(seccompProgram('default', effectiveCapabilities(), 'arm64')?.toString('base64'), PRECOMPILED_DEFAULT.arm64);
});
