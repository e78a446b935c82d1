/**
 * The container starter (native/src/starter.cc): spawn with `starter` clones a child that shares
 * kiln's memory and execs the starter, which reads the spec back and sets the process up. The
 * same spec started both ways must give the same process — its arguments, environment, working
 * directory, limits, OOM score, capabilities, no_new_privs and seccomp filter — and a starter
 * that cannot be executed is a setup failure on the error pipe, not a hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeBinding, starterExecutable, type NativeSpawnSpec } from '../../../native/index.js';
import { drainNonBlocking, openGate, releaseGate, setupFailure } from '../../../engine/runtime/childHandshake.js';
import { capabilityMask, lastCapability } from '../../../engine/runtime/capabilities.js';
import { seccompProgram } from '../../../engine/runtime/seccomp.js';
import { haveBusybox } from '../../../harness/busyboxImage.js';
import { isRoot, prerequisite } from '../../support/env.js';

const ready = isRoot && haveBusybox;
const why = 'needs root (the child sets limits and drops capabilities) and /bin/busybox';

/** A process with no new namespace and no new root: what the spec says about the process itself. */
function processSpec(cwd: string): NativeSpawnSpec {
  const caps = ['CHOWN', 'KILL', 'SETUID'];
  return {
    namespaces: { user: false, mount: false, pid: false, uts: false, ipc: false, net: false, cgroup: false },
    rootfs: '',
    uid: 0, gid: 0, groups: [], setgroups: true,
    capabilities: capabilityMask(caps), lastCap: lastCapability(),
    noNewPrivileges: true,
    rlimits: [{ resource: 7, soft: '321', hard: '654', name: 'nofile' }],
    oomScoreAdj: 123,
    seccomp: seccompProgram('default', caps) as Buffer,
    cwd,
    argv: ['busybox', 'sh', '-c', 'printf "%s|%s|%s|%s|%s|%s|" "$A" "$B" "$1" "$(pwd)" "$(ulimit -n)" "$(cat /proc/self/oom_score_adj)"; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status', 'sh', 'an\targument with a tab'],
    env: ['A=a value with spaces', 'B=ünïcödé', 'PATH=/nowhere:/bin'],
    path: '/nowhere:/bin',
    stdio: 'pipe', stdin: 'null',
  };
}

/** Starts the spec, notes what the gated child is running ('' when it is gone), lets it run to its exit. */
async function run(spec: NativeSpawnSpec): Promise<{ exe: string; exit: number; stdout: string; report: string }> {
  const native = nativeBinding();
  const child = native.spawn(spec);
  let exe = '';
  try {
    exe = readlinkSync(`/proc/${child.pid}/exe`);
  } catch {
    // already gone (a starter that could not be executed)
  }
  const exited = new Promise<number>((resolve) => native.watch(child.pidfd, (code, sig) => resolve(sig > 0 ? 128 + sig : code)));
  try {
    openGate(child.gateFd, true);
    releaseGate(child.gateFd);
  } catch {
    // the child already gave up: its report says why
  }
  const exit = await exited;
  const stdout = readFileSync(child.stdoutFd as number, 'utf8');
  const report = drainNonBlocking(child.errorFd);
  return { exe, exit, stdout, report };
}

test('a process started through the starter is the one the spec describes, as when started from a copy of kiln', async (t) => {
  if (!prerequisite(t, ready, why)) return;
  const cwd = mkdtempSync(join(tmpdir(), 'kiln-starter-'));
  try {
    const viaStarter = await run({ ...processSpec(cwd), starter: starterExecutable() });
    const viaCopy = await run(processSpec(cwd));
    assert.equal(viaStarter.exe, starterExecutable(), 'the gated child is the starter');
    assert.equal(viaCopy.exe, process.execPath, 'without a starter the gated child is a copy of kiln');
    assert.equal(viaStarter.report, '');
    assert.equal(viaStarter.exit, 0);
    assert.match(viaStarter.stdout, new RegExp(`^a value with spaces\\|ünïcödé\\|an\targument with a tab\\|${cwd}\\|321\\|123\\|`));
    assert.match(viaStarter.stdout, /\|CapEff:\t00000000000000a1\nCapBnd:\t00000000000000a1\n/);
    assert.match(viaStarter.stdout, /NoNewPrivs:\t1\nSeccomp:\t2\n/);
    assert.equal(viaStarter.stdout, viaCopy.stdout);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('a command that cannot be started is reported the same through the starter as from a copy of kiln', async (t) => {
  if (!prerequisite(t, ready, why)) return;
  const cwd = mkdtempSync(join(tmpdir(), 'kiln-starter-'));
  try {
    for (const argv of [['no-such-command'], ['/no/such/command'], [cwd]]) {
      const spec = { ...processSpec(cwd), argv };
      const viaStarter = await run({ ...spec, starter: starterExecutable() });
      const viaCopy = await run(spec);
      assert.notEqual(viaStarter.report, '', `${argv[0]}: a report`);
      assert.equal(setupFailure(viaStarter.report).message, setupFailure(viaCopy.report).message, argv[0]);
      assert.equal(viaStarter.exit, viaCopy.exit, argv[0]);
      assert.ok(viaStarter.exit === 126 || viaStarter.exit === 127, `${argv[0]}: exit ${viaStarter.exit}`);
    }
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('a starter that cannot be executed is a failed start, reported on the error pipe', async (t) => {
  if (!prerequisite(t, ready, why)) return;
  const cwd = mkdtempSync(join(tmpdir(), 'kiln-starter-'));
  try {
    const missing = join(cwd, 'no-such-starter');
    const r = await run({ ...processSpec(cwd), starter: missing });
    assert.equal(r.exit, 125);
    assert.equal(r.stdout, '');
    assert.equal(setupFailure(r.report).message, `exec the container starter ${missing}: no such file or directory (ENOENT)`);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('the starter is refused for a new user namespace (its id maps come after the clone)', (t) => {
  if (!prerequisite(t, ready, why)) return;
  const spec: NativeSpawnSpec = { ...processSpec('/'), namespaces: { user: true, mount: false, pid: false, uts: false, ipc: false, net: false, cgroup: false }, starter: starterExecutable() };
  assert.throws(() => nativeBinding().spawn(spec), /a starter cannot start a new user namespace/);
});
