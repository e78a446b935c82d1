/**
 * The probes as the unprivileged test user (kilnrootless, from .ci/setup): `kiln run` and a RUN
 * step in kiln's own user namespace keep to themselves as a root kiln's do where the kernel lets
 * an unprivileged kiln decide — PID 1 is the exec'd init or the command (kiln's environment is not
 * there), stdio are pipes, the seccomp filter is on, docker's open-files limit within the user's
 * own, OOM adjustment 0, and a device node cannot be made (the kernel refuses mknod in a user namespace, so no device
 * cgroup is needed) — and kiln does not fail for the cgroup it may not make.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { prerequisite } from '../support/env.js';
import { rootlessReady as ready, rootlessSession, rootlessWhy as why, type RootlessSession } from '../support/rootlessUser.js';

/** What every probe prints, one line each. */
const SCRIPT = [
  'grep -c KILN_TEST_MARKER /proc/1/environ',
  'readlink /proc/1/fd/1',
  'grep "^Seccomp:" /proc/self/status | tr -d "\\t "',
  'ulimit -n',
  'cat /proc/self/oom_score_adj',
  'mknod /tmp/loop b 7 0 2>/dev/null && echo mknod-made || echo mknod-refused',
].join('; ');

/** docker's open-files limit, lowered to the hard limit kiln is given (it may not raise it). */
function expectedOpenFiles(): string {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files')) ?? '';
  const hard = line.slice('Max open files'.length).trim().split(/\s+/)[1];
  return hard === undefined || hard === 'unlimited' || Number(hard) > 20000 ? '20000' : hard;
}

function assertKeptToItself(lines: string[], where: string): void {
  assert.equal(lines[0], '0', `${where}: kiln's environment is not PID 1's`);
  assert.match(lines[1] ?? '', /^pipe:\[\d+\]$/, `${where}: descriptor 1 is a pipe`);
  assert.equal(lines[2], 'Seccomp:2', `${where}: the seccomp filter is on`);
  assert.equal(lines[3], expectedOpenFiles(), `${where}: docker's open-files limit within the user's own`);
  assert.equal(lines[4], '0', `${where}: the OOM adjustment reset`);
  assert.equal(lines[5], 'mknod-refused', `${where}: no device node`);
}

describe('security: rootless kiln run and RUN', () => {
  let session: RootlessSession;
  const env = { KILN_TEST_MARKER: `rootless-${process.pid}` };
  before(() => {
    if (!ready) return;
    session = rootlessSession('kiln-sec-rootless-');
    const commit = [
      `import { Store } from ${JSON.stringify(join(session.kilnHome, 'dist/engine/store/store.js'))};`,
      `import { commitBusyboxImage } from ${JSON.stringify(join(session.kilnHome, 'dist/harness/busyboxImage.js'))};`,
      'await commitBusyboxImage(await Store.open(), "kiln-test/busybox:latest");',
    ].join('\n');
    session.asUser([process.execPath, '--input-type=module', '-e', commit], { check: true });
  });
  after(() => {
    if (ready) rmSync(session.root, { recursive: true, force: true });
  });

  test('kiln run --init: PID 1 is the exec\'d init; stdio, seccomp, limits and devices as a root kiln\'s', (t) => {
    if (!prerequisite(t, ready, why)) return;
    const init = session.asUser([session.kilnBin, 'run', '--rm', '--init', 'kiln-test/busybox', 'sh', '-c', 'tr "\\0" " " < /proc/1/cmdline'], { env });
    assert.equal(init.status, 0, init.stderr);
    assert.match(init.stdout, /^\/dev\/init -- sh -c /);
    for (const flags of [['--init'], []]) {
      const r = session.asUser([session.kilnBin, 'run', '--rm', ...flags, 'kiln-test/busybox', 'sh', '-c', SCRIPT], { env });
      assert.equal(r.status, 0, r.stderr);
      assertKeptToItself(r.stdout.trim().split('\n'), `kiln run ${flags.join(' ')}`);
    }
  });

  test('a RUN step: the same', (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = session.asUser([session.kilnBin, 'build', '--progress', 'plain', '--no-cache', '-'], {
      env, input: `FROM kiln-test/busybox\nRUN ${SCRIPT}\n`,
    });
    assert.equal(r.status, 0, r.stderr);
    // --progress plain: "#N SECONDS TEXT" for each line the step printed.
    const lines = r.stderr.split('\n').filter((l) => /^#\d+ [\d.]+ /.test(l)).map((l) => l.replace(/^#\d+ [\d.]+ /, ''));
    assertKeptToItself(lines, 'RUN');
  });
});
