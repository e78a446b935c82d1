/**
 * Rootless: `kiln run` started by an unprivileged user (kilnrootless, made by .ci/setup) runs
 * in kiln's own user namespace — the container's root is that user, ids 1… map onto its
 * /etc/subuid range — with the same isolation; limits are refused with a clear message.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { hasCommand, prerequisite } from '../support/env.js';
import { NO_SUBIDS_USER, noSubidsUserExists, ROOTLESS_USER as USER, rootlessReady as ready, rootlessSession, rootlessWhy as why, type RootlessSession } from '../support/rootlessUser.js';

describe('runtime: rootless kiln run', () => {
  let session: RootlessSession;
  let kilnBin: string;
  const asUser = (argv: string[], check = false): ReturnType<RootlessSession['asUser']> => session.asUser(argv, { check });
  before(() => {
    if (!ready) return;
    session = rootlessSession('kiln-rootless-');
    kilnBin = session.kilnBin;
    const commit = [
      `import { Store } from ${JSON.stringify(join(session.kilnHome, 'dist/engine/store/store.js'))};`,
      `import { commitBusyboxImage } from ${JSON.stringify(join(session.kilnHome, 'dist/harness/busyboxImage.js'))};`,
      'await commitBusyboxImage(await Store.open(), "kiln-test/busybox:latest");',
    ].join('\n');
    asUser([process.execPath, '--input-type=module', '-e', commit], true);
  });
  after(() => {
    if (ready) rmSync(session.root, { recursive: true, force: true });
  });

  test('the container runs as root of its own user namespace, isolated', (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = asUser([kilnBin, 'run', '--rm', '--network', 'none', '--hostname', 'rl', 'kiln-test/busybox', 'sh', '-c',
      'id -u; echo $$; hostname; ls /sys/class/net; head -1 /proc/self/uid_map; echo data > /file && cat /file']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], '0');
    assert.equal(lines[1], '1');
    assert.equal(lines[2], 'rl');
    assert.equal(lines[3], 'lo');
    const hostUid = execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim();
    assert.match(lines[4] ?? '', new RegExp(`^\\s*0\\s+${hostUid}\\s+1$`));
    assert.equal(lines[5], 'data');
  });

  test('other users of the image map onto the subordinate range; exit codes pass through', (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = asUser([kilnBin, 'run', '--rm', '-u', 'nobody', 'kiln-test/busybox', 'id']);
    assert.equal(r.stdout, 'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n', r.stderr);
    assert.equal(asUser([kilnBin, 'run', '--rm', 'kiln-test/busybox', 'sh', '-c', 'exit 12']).status, 12);
    const mount = asUser([kilnBin, 'run', '--rm', 'kiln-test/busybox', 'mount', '-t', 'tmpfs', 'x', '/tmp']);
    assert.notEqual(mount.status, 0);
  });

  test('-t: the terminal is /dev/pts/0 of the container\'s devpts (group tty, mapped), also /dev/console', (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = asUser([kilnBin, 'run', '--rm', '-t', 'kiln-test/busybox', 'sh', '-c',
      'tty; [ -t 0 ] && echo stdin-is-tty; stat -L -c "%d %i %a %g" /dev/console /dev/pts/0; exit 6']);
    assert.equal(r.status, 6, r.stderr);
    const lines = r.stdout.split('\r\n');
    assert.deepEqual(lines.slice(0, 2), ['/dev/pts/0', 'stdin-is-tty']);
    assert.equal(lines[2], lines[3], '/dev/console is the same file as /dev/pts/0');
    assert.match(lines[2] ?? '', / 620 5$/);
  });

  test('-t: a resize of kiln\'s terminal reaches the container through kiln\'s own user namespace', (t) => {
    if (!prerequisite(t, ready && hasCommand('script'), `${why}, and script(1) (util-linux) for a terminal`)) return;
    // The outer kiln forwards SIGWINCH to the kiln inside its user namespace, which resizes the container's terminal.
    const marks = join(session.root, 'winch');
    asUser(['mkdir', marks], true);
    const inner = `stty rows 33 cols 101; ${kilnBin} run --rm -t -v ${marks}:/marks kiln-test/busybox sh -c ` +
      `'stty size; touch /marks/started; until [ "$(stty size)" = "40 100" ]; do sleep 0.05; done; echo resized' & pid=$!; ` +
      `while [ ! -e ${marks}/started ]; do sleep 0.05; done; stty rows 40 cols 100; while kill -WINCH $pid 2>/dev/null; do sleep 0.3; done; wait $pid`;
    const r = asUser(['script', '-qec', inner, '/dev/null']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /33 101\r+\nresized\r+\n/);
  });

  test('limits are refused with a clear message (no delegated cgroup)', (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = asUser([kilnBin, 'run', '--rm', '--memory', '64m', 'kiln-test/busybox', 'true']);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /resource limits .* need a cgroup, and a rootless kiln has none: this host delegates no cgroup/);
  });

  test('without a subordinate range, kiln run maps only the user: the image\'s root works', (t) => {
    if (!prerequisite(t, ready && noSubidsUserExists, `${why}, and the ${NO_SUBIDS_USER} user (no /etc/subuid range) from .ci/setup`)) return;
    // A store of that user's own, holding a copy of the busybox image.
    const archive = join(session.root, 'busybox.tar');
    asUser([kilnBin, 'save', '-o', archive, 'kiln-test/busybox'], true);
    execFileSync('chmod', ['a+rx', session.root]);
    execFileSync('chmod', ['a+r', archive]);
    const own = { KILN_ROOT: join('/tmp', `kiln-nosubids-${process.pid}`), TMPDIR: '/tmp' };
    try {
      const load = session.asUser([kilnBin, 'load', '-i', archive], { user: NO_SUBIDS_USER, env: own });
      assert.equal(load.status, 0, load.stderr);
      const r = session.asUser([kilnBin, 'run', '--rm', 'kiln-test/busybox', 'sh', '-c', 'id -u; cat /proc/self/uid_map | wc -l'], { user: NO_SUBIDS_USER, env: own });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split(/\s+/), ['0', '1']);
      // A terminal too: devpts without gid= (the tty group is not mapped), the pts the container's root's.
      const tty = session.asUser([kilnBin, 'run', '--rm', '-t', 'kiln-test/busybox', 'sh', '-c', 'tty; stat -L -c "%a %g" /dev/console'], { user: NO_SUBIDS_USER, env: own });
      assert.equal(tty.status, 0, tty.stderr);
      assert.equal(tty.stdout, '/dev/pts/0\r\n620 0\r\n');
    } finally {
      rmSync(own.KILN_ROOT, { recursive: true, force: true });
    }
  });
});
