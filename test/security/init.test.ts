/**
 * PID 1 holds nothing of kiln's. With `--init` it is kiln-init, exec'd from a read-only bind
 * (docker's is docker-init): its command line, environment, memory and descriptors are its own —
 * kiln's environment (with a marker in it) is in none of them, pidfd_getfd is refused and, with
 * CAP_SYS_PTRACE, finds only the container's stdio. It reaps, forwards signals and exits with
 * its command's status. Without `--init`, and in a RUN step, PID 1 is the command itself.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { kilnBin, prerequisite } from '../support/env.js';
import { runCommand, runKiln } from '../support/kilnProcess.js';
import { openSandbox, ready, why, withDocker, whyDocker, type Sandbox } from './fixture.js';

const MARKER = `kiln-secret-${process.pid}-${Math.random().toString(36).slice(2)}`;
// In the environment of every kiln these tests start (runKiln passes it on): it must not reach a container.
process.env.KILN_TEST_MARKER = MARKER;
/** The probe takes it reversed: the scripts the containers run must not hold it themselves. */
const REKRAM = [...MARKER].reverse().join('');

describe('security: PID 1 and --init', () => {
  let box: Sandbox;
  const withMarker = (args: string[]): ReturnType<typeof runKiln> => runKiln(join(box.root, 'store'), args);
  before(async () => {
    if (ready) box = await openSandbox('init');
  });
  after(async () => {
    if (ready) await box.dispose();
  });

  test('--init: PID 1 is the exec\'d init, bound read-only; the command is its child (as docker run --init)', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const script = 'tr "\\0" " " < /proc/1/cmdline; echo; echo $PPID; grep -c . /proc/1/maps > /dev/null && echo maps; ' +
      'grep " /dev/init " /proc/mounts | cut -d" " -f4 | cut -d, -f1; echo x > /dev/init 2>&1 || echo not-writable';
    const r = await withMarker(['run', '--rm', '--init', box.image, 'sh', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], `/dev/init -- sh -c ${script} `);
    assert.equal(lines[1], '1', 'the command\'s parent is PID 1');
    assert.equal(lines[3], 'ro');
    assert.equal(lines[4], 'not-writable');
    if (!prerequisite(t, withDocker, whyDocker)) return;
    const d = await box.dockerRun(['--init'], ['sh', '-c', 'echo $PPID; grep -c " /sbin/docker-init " /proc/mounts']);
    assert.equal(d.stdout, '1\n1\n', 'docker: the same shape');
  });

  test('--init: kiln\'s environment, memory and descriptors are not reachable from the container', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const probe = `tr "\\0" "\\n" < /proc/1/environ; echo ---; /probe memscan 1 ${REKRAM}; /probe getfd 1 64; for f in /proc/1/fd/*; do readlink $f; done`;
    const plain = await withMarker(['run', '--rm', '--init', '-e', 'VISIBLE=1', box.image, 'sh', '-c', probe]);
    assert.equal(plain.code, 0, plain.stderr);
    const [environ, rest] = plain.stdout.split('---\n') as [string, string];
    assert.doesNotMatch(environ, /KILN_TEST_MARKER/, 'kiln\'s environment is not PID 1\'s');
    assert.match(environ, /^VISIBLE=1$/m, 'the container\'s is');
    assert.match(rest, /^(absent|mem E[A-Z]+)/m, 'kiln\'s memory is not PID 1\'s');
    assert.match(rest, /^pidfd_getfd EPERM$/m, 'pidfd_getfd is refused');
    assert.match(rest, /\n\/dev\/null\npipe:\[\d+\]\npipe:\[\d+\]\n$/, 'PID 1 holds only its stdio');
    // The scan finds the marker where it is: in the memory of this process, whose environment holds it.
    const self = await runCommand(box.probe, ['memscan', String(process.pid), REKRAM]);
    assert.equal(self.stdout, 'found\n', 'the scan works');
    // With the capability that lets the container look inside PID 1, there is still nothing of kiln's.
    const traced = await withMarker(['run', '--rm', '--init', '--cap-add', 'SYS_PTRACE', box.image, 'sh', '-c', `/probe memscan 1 ${REKRAM}; /probe getfd 1 64`]);
    assert.match(traced.stdout, /^absent \(\d+ bytes read\)$/m, 'PID 1\'s memory is readable, and holds no marker');
    const fds = traced.stdout.split('\n').filter((l) => /^\d+ /.test(l));
    assert.equal(fds.length, 3, traced.stdout);
    assert.match(fds[0] as string, /^0 \/dev\/null$/);
    assert.match(fds[1] as string, /^1 pipe:\[\d+\]$/);
    assert.match(fds[2] as string, /^2 pipe:\[\d+\]$/);
  });

  test('--init reaps orphans, forwards signals and exits with the command\'s status; a missing command is reported as without it', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const zombies = await box.kilnRun(['--init'], ['sh', '-c', '(sleep 0.1 &) ; sleep 0.5; ps -o stat | grep -c Z']);
    assert.equal(zombies.stdout.trim(), '0');
    assert.equal((await box.kilnRun(['--init'], ['sh', '-c', 'exit 7'])).code, 7);
    assert.equal((await box.kilnRun(['--init'], ['sh', '-c', 'kill -9 $$'])).code, 137);
    const missing = await box.kilnRun(['--init'], ['no-such-command']);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /exec: "no-such-command": executable file not found in \$PATH/);
    const child = spawn(process.execPath, [kilnBin, 'run', '--rm', '--init', box.image, 'sh', '-c', 'trap "echo got-term; exit 5" TERM; echo ready; while :; do sleep 0.1; done'], {
      env: { ...process.env, KILN_ROOT: join(box.root, 'store') },
    });
    let out = '';
    await new Promise<void>((resolve) => child.stdout.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('ready')) resolve(); }));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 5);
    assert.match(out, /got-term/);
  });

  test('without --init, and in a RUN step, PID 1 is the command: kiln\'s environment and memory are not there either', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const probe = `tr "\\0" "\\n" < /proc/1/environ | grep -c KILN_TEST_MARKER; /probe memscan 1 ${REKRAM}; for f in /proc/1/fd/*; do readlink $f; done`;
    for (const out of [(await withMarker(['run', '--rm', box.image, 'sh', '-c', probe])).stdout, await box.kilnStep(probe)]) {
      const [count, memory, ...fds] = out.trim().split('\n');
      assert.equal(count, '0', 'kiln\'s environment is not PID 1\'s');
      assert.match(memory as string, /^(absent|mem E[A-Z]+)/);
      assert.ok(fds.length >= 3 && fds.every((f) => f === '/dev/null' || /^pipe:\[\d+\]$/.test(f)), `PID 1's descriptors: ${fds.join(' ')}`);
    }
  });
});
