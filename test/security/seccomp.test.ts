/**
 * System calls, tried as root inside `kiln run` and inside a RUN step by the probe (each call
 * with arguments whose ordinary error is not EPERM), against the same probe under docker: kiln's
 * allow-list refuses what docker's refuses, and more where current docker does (io_uring,
 * AF_VSOCK and AF_ALG sockets, which docker 20.10 lets through); the x32 ABI is filtered too.
 * The same probe with `seccomp=unconfined` shows the refusals are the filter's. Profiles in
 * docker's JSON format, their errors, and RUN --security=insecure behind `--allow`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prerequisite } from '../support/env.js';
import { openSandbox, ready, why, withDocker, whyDocker, type Sandbox } from './fixture.js';

/** What kiln answers (EPERM: refused by the filter; ENOSYS: told the call does not exist). */
const KILN_REFUSES: Record<string, string> = {
  unshare: 'EPERM', setns: 'EPERM', mount: 'EPERM', umount2: 'EPERM', open_tree: 'EPERM', keyctl: 'EPERM', add_key: 'EPERM', request_key: 'EPERM',
  bpf: 'EPERM', perf_event_open: 'EPERM', userfaultfd: 'EPERM', quotactl: 'EPERM', move_pages: 'EPERM', migrate_pages: 'EPERM',
  io_uring_setup: 'EPERM', io_uring_enter: 'EPERM', io_uring_register: 'EPERM', set_mempolicy: 'EPERM', get_mempolicy: 'EPERM', mbind: 'EPERM',
  pidfd_getfd: 'EPERM', kcmp: 'EPERM', process_madvise: 'EPERM', clock_settime: 'EPERM', iopl: 'EPERM', ioperm: 'EPERM', finit_module: 'EPERM',
  'personality(ADDR_NO_RANDOMIZE)': 'EPERM', 'socket(AF_VSOCK)': 'EPERM', 'socket(AF_ALG)': 'EPERM', 'clone(CLONE_NEWNS)': 'EPERM',
  clone3: 'ENOSYS', 'syscall(1023)': 'ENOSYS', 'x32 keyctl': 'EPERM',
  // Refused by the kernel without the capability as well (the probe cannot tell who refused).
  pivot_root: 'EPERM', fsopen: 'EPERM', fanotify_init: 'EPERM', acct: 'EPERM', setdomainname: 'EPERM', sethostname: 'EPERM',
};

/** Where kiln is stricter than docker 20.10 (current docker refuses these too). */
const STRICTER_THAN_DOCKER_20 = new Set(['io_uring_setup', 'io_uring_enter', 'io_uring_register', 'socket(AF_VSOCK)', 'socket(AF_ALG)']);

function results(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.trim().split('\n')) {
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), line.slice(at + 1));
  }
  return out;
}

function assertRefusals(kiln: Map<string, string>, unconfined: Map<string, string> | undefined, where: string): void {
  for (const [probe, expected] of Object.entries(KILN_REFUSES)) {
    assert.equal(kiln.get(probe), expected, `${where}: ${probe}`);
  }
  assert.equal(kiln.get('personality(query)'), 'ok', `${where}: personality query allowed`);
  assert.equal(kiln.get('socket(AF_UNIX)'), 'EINVAL', `${where}: AF_UNIX reaches the kernel`);
  if (!unconfined) return;
  for (const [probe, result] of kiln) {
    if (result === 'EPERM' && unconfined.get(probe) !== 'EPERM') continue; // the filter's doing
    if (result === 'ENOSYS' && unconfined.get(probe) !== 'ENOSYS') continue;
    if (probe !== 'syscall(1023)' && !['pivot_root', 'fsopen', 'fanotify_init', 'acct', 'setdomainname', 'sethostname', 'x32 getpid', 'i386'].includes(probe)) {
      assert.equal(result, unconfined.get(probe), `${where}: ${probe} passes the filter`);
    }
  }
}

/** kiln equals docker, or refuses where docker 20.10 lets the call through. */
function assertMatchesDocker(kiln: Map<string, string>, docker: Map<string, string>, where: string): void {
  assert.deepEqual([...kiln.keys()], [...docker.keys()], `${where}: same probes`);
  for (const [probe, result] of kiln) {
    if (STRICTER_THAN_DOCKER_20.has(probe) && result === 'EPERM' && docker.get(probe) !== 'EPERM') continue;
    assert.equal(result, docker.get(probe), `${where}: ${probe} (docker: ${docker.get(probe)})`);
  }
}

describe('security: seccomp allow-list', () => {
  let box: Sandbox;
  before(async () => {
    if (ready) box = await openSandbox('sc');
  });
  after(async () => {
    if (ready) await box.dispose();
  });

  test('kiln run: the probe\'s calls are refused as docker run refuses them, or more', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const k = await box.kilnRun([], ['/probe', 'syscalls']);
    assert.equal(k.code, 0, k.stderr);
    const u = await box.kilnRun(['--security-opt', 'seccomp=unconfined'], ['/probe', 'syscalls']);
    assert.equal(u.code, 0, u.stderr);
    assertRefusals(results(k.stdout), results(u.stdout), 'kiln run');
    if (!prerequisite(t, withDocker, whyDocker)) return;
    const d = await box.dockerRun([], ['/probe', 'syscalls']);
    assertMatchesDocker(results(k.stdout), results(d.stdout), 'kiln run against docker run');
    const du = await box.dockerRun(['--security-opt', 'seccomp=unconfined'], ['/probe', 'syscalls']);
    assert.equal(u.stdout, du.stdout, 'unconfined: the same answers as docker\'s unconfined');
  });

  test('RUN step: the same refusals as docker build', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const k = results(await box.kilnStep('/probe syscalls'));
    assertRefusals(k, undefined, 'RUN');
    if (!prerequisite(t, withDocker, whyDocker)) return;
    assertMatchesDocker(k, results(await box.dockerStep('/probe syscalls')), 'RUN against docker build');
  });

  test('--cap-add unlocks the calls docker ties to the capability', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const admin = results((await box.kilnRun(['--cap-add', 'SYS_ADMIN'], ['/probe', 'syscalls'])).stdout);
    assert.equal(admin.get('unshare'), 'EINVAL');
    assert.equal(admin.get('mount'), 'ENOENT');
    assert.equal(admin.get('clone3'), 'EINVAL');
    assert.equal(admin.get('keyctl'), 'EPERM', 'keyrings stay shut');
    const nice = results((await box.kilnRun(['--cap-add', 'SYS_NICE'], ['/probe', 'syscalls'])).stdout);
    assert.equal(nice.get('set_mempolicy'), 'EINVAL');
  });

  test('--security-opt seccomp=PROFILE.json (docker\'s format) applies the file, as docker run does', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const profile = join(box.root, 'deny-mkdir.json');
    writeFileSync(profile, JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }, { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] }],
      syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }],
    }));
    const argv = ['sh', '-c', 'mkdir /made; echo "mkdir $?"; /probe syscalls | grep -E "^(io_uring_setup|keyctl) "'];
    const k = await box.kilnRun(['--security-opt', `seccomp=${profile}`], argv);
    assert.match(k.stderr, /Permission denied/);
    assert.match(k.stdout, /^mkdir 1\nkeyctl EOPNOTSUPP\nio_uring_setup EFAULT\n$/, 'the rest allowed, as the file says');
    if (!prerequisite(t, withDocker, whyDocker)) return;
    const d = await box.dockerRun(['--security-opt', `seccomp=${profile}`], argv);
    assert.equal(k.stdout, d.stdout);
  });

  test('a profile that is missing, unreadable or not a profile: a clear error, exit 125, no container left', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const records = (await box.kiln(['ps', '-a', '-q'])).stdout;
    const dir = join(box.root, 'profiles');
    mkdirSync(dir);
    writeFileSync(join(dir, 'bad.json'), '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [');
    writeFileSync(join(dir, 'notify.json'), '{"defaultAction": "SCMP_ACT_NOTIFY"}');
    const cases: [string, RegExp][] = [
      [join(dir, 'missing.json'), /opening seccomp profile \(.*missing\.json\) failed: no such file or directory/],
      [dir, /opening seccomp profile \(.*profiles\) failed: is a directory/],
      [join(dir, 'bad.json'), /seccomp profile .*bad\.json: not JSON/],
      [join(dir, 'notify.json'), /seccomp profile .*notify\.json: defaultAction: SCMP_ACT_NOTIFY needs a seccomp agent/],
    ];
    for (const [file, message] of cases) {
      const r = await box.kilnRun(['--security-opt', `seccomp=${file}`], ['true']);
      assert.equal(r.code, 125, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    const unknown = await box.kilnRun(['--security-opt', 'apparmor=unconfined'], ['true']);
    assert.equal(unknown.code, 125);
    assert.match(unknown.stderr, /kiln does not support apparmor options/);
    assert.equal((await box.kiln(['ps', '-a', '-q'])).stdout, records, 'no container record');
  });

  test('RUN --security=insecure needs --allow security.insecure; granted, the step has every capability and no filter', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const script = 'grep -E "^(CapEff|Seccomp):" /proc/self/status; mount -t tmpfs none /tmp && echo mounted; mknod /kmsg c 1 11; /probe open /kmsg r; rm -f /kmsg';
    await assert.rejects(box.kilnStep(script, [], '--security=insecure'),
      /Dockerfile:3:1: RUN --security=insecure needs the security.insecure entitlement: build with --allow security.insecure/);
    const granted = await box.kilnStep(script, ['--allow', 'security.insecure'], '--security=insecure');
    const own = /^CapPrm:\s*(\w+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    assert.match(granted, new RegExp(`^CapEff:\\s+${own}$`, 'm'), 'every capability kiln has');
    assert.match(granted, /^Seccomp:\s+0$/m);
    assert.match(granted, /^mounted$/m);
    assert.match(granted, /^ok$/m, 'every device');
    const sandboxed = await box.kilnStep(script);
    assert.match(sandboxed, /^Seccomp:\s+2$/m);
    assert.match(sandboxed, /^EPERM$/m);
  });
});
