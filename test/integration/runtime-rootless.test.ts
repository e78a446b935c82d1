/**
 * Rootless: `kiln run` started by an unprivileged user (kilnrootless, made by .ci/setup) runs
 * in a user namespace — the container's root is that user, ids 1… map onto its /etc/subuid
 * range — with the same isolation; limits are refused with a clear message.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { hasCommand, isRoot, prerequisite, repoRoot } from '../support/env.js';
import { haveBusybox } from '../support/busyboxImage.js';

const USER = 'kilnrootless';

function userExists(): boolean {
  try {
    execFileSync('id', [USER], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const ready = isRoot && haveBusybox && hasCommand('setpriv') && userExists();
const why = `needs root (to become ${USER}), setpriv, /bin/busybox and the ${USER} user from .ci/setup`;

describe('runtime: rootless kiln run', () => {
  let root: string;
  let env: NodeJS.ProcessEnv;
  /** The checkout as the unprivileged user can reach it (a copy when the checkout sits under a 0700 home). */
  let kilnHome: string;
  let kilnBin: string;
  before(() => {
    if (!ready) return;
    // /var/tmp: the unprivileged user must own the store; the rootfs is made as that user too.
    root = mkdtempSync('/var/tmp/kiln-rootless-');
    execFileSync('chown', [`${USER}:${USER}`, root]);
    const home = execFileSync('sh', ['-c', `getent passwd ${USER} | cut -d: -f6`], { encoding: 'utf8' }).trim();
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KILN_ROOT: join(root, 'store'), TMPDIR: root };
    kilnHome = repoRoot;
    if (asUser(['test', '-r', join(repoRoot, 'package.json')]).status !== 0) {
      // A real user installs kiln where they can read it; copy what runs (not the sources).
      kilnHome = join(root, 'kiln');
      mkdirSync(join(kilnHome, 'native', 'build'), { recursive: true });
      for (const part of ['package.json', 'bin', 'dist', 'node_modules', 'native/build/Release']) {
        execFileSync('cp', ['-a', join(repoRoot, part), join(kilnHome, part)]);
      }
      execFileSync('chmod', ['-R', 'a+rX', kilnHome]);
    }
    kilnBin = join(kilnHome, 'bin', 'kiln');
    const commit = [
      `import { Store } from ${JSON.stringify(join(kilnHome, 'dist/engine/store/store.js'))};`,
      `import { commitBusyboxImage } from ${JSON.stringify(join(kilnHome, 'dist/test/support/busyboxImage.js'))};`,
      'await commitBusyboxImage(await Store.open(), "kiln-test/busybox:latest");',
    ].join('\n');
    asUser([process.execPath, '--input-type=module', '-e', commit], true);
  });
  after(() => {
    if (ready) rmSync(root, { recursive: true, force: true });
  });

  function asUser(argv: string[], check = false): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('setpriv', [`--reuid=${USER}`, `--regid=${USER}`, '--init-groups', '--', ...argv], { env, encoding: 'utf8', timeout: 60_000, cwd: root });
    if (check && r.status !== 0) throw new Error(`${argv.join(' ')} as ${USER}: ${r.stderr}`);
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

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

  test('limits are refused with a clear message (no delegated cgroup)', (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = asUser([kilnBin, 'run', '--rm', '--memory', '64m', 'kiln-test/busybox', 'true']);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /resource limits .* need kiln to run as root/);
  });
});
