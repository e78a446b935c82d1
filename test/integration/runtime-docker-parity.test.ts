/**
 * Calibration against `docker run`: the same busybox root filesystem, the same commands and
 * flags, the same output and exit code from kiln and from docker (capabilities, /dev, user and
 * groups, environment, working directory, refusals, exit codes).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dockerAvailable, isRoot, kilnBin, prerequisite } from '../support/env.js';
import { haveBusybox } from '../../harness/busyboxImage.js';
import { busyboxInKilnAndDocker, DOCKER, removeBusyboxFromKilnAndDocker } from '../../harness/dockerImage.js';

// Named per process: other checkouts' test runs share this docker and remove their own copy.
const IMAGE = `kiln-parity-${process.pid}/busybox:latest`;
const ready = isRoot && haveBusybox && dockerAvailable();
const why = 'needs root, /bin/busybox and a running dockerd (.ci/setup starts one)';

const CASES: { name: string; flags: string[]; argv: string[] }[] = [
  { name: 'capabilities', flags: [], argv: ['sh', '-c', 'grep -E "^Cap(Inh|Prm|Eff|Bnd|Amb)" /proc/self/status'] },
  { name: 'capabilities with --cap-drop/--cap-add', flags: ['--cap-drop', 'NET_RAW', '--cap-add', 'SYS_PTRACE'], argv: ['grep', 'CapBnd', '/proc/self/status'] },
  { name: '/dev', flags: [], argv: ['ls', '/dev'] },
  { name: 'root user and groups', flags: [], argv: ['id'] },
  { name: '-u nobody', flags: ['-u', 'nobody'], argv: ['id'] },
  { name: '-u uid:gid', flags: ['-u', '1234:5678'], argv: ['id'] },
  { name: 'environment', flags: ['-e', 'A=1'], argv: ['sh', '-c', 'echo "$HOME|$PATH|$A|${#HOSTNAME}"'] },
  { name: '-w', flags: ['-w', '/srv/x'], argv: ['pwd'] },
  { name: 'PID 1 and processes', flags: [], argv: ['sh', '-c', 'echo $$; set -- /proc/[0-9]*; echo $#'] }, // globbed by PID 1 itself: no child races the count
  { name: 'network none', flags: [], argv: ['ls', '/sys/class/net'] },
  { name: 'read-only /proc/sys', flags: [], argv: ['sh', '-c', 'echo 1 > /proc/sys/kernel/ns_last_pid'] },
  { name: 'mount refused', flags: [], argv: ['sh', '-c', 'mount -t tmpfs none /tmp 2>/dev/null; echo $?'] },
  { name: 'exit code', flags: [], argv: ['sh', '-c', 'exit 7'] },
  { name: 'missing command exit code', flags: [], argv: ['no-such-command'] },
  { name: 'read-only root', flags: ['--read-only'], argv: ['sh', '-c', 'touch /x'] },
  // A terminal (stdin here is not one): made in the container's devpts, also /dev/console.
  { name: '-t terminal', flags: ['-t'], argv: ['sh', '-c', 'tty; [ -t 0 ] && echo stdin-is-tty; readlink /proc/self/fd/0 /proc/self/fd/2; stat -L -c "%a %u %g %t:%T" /dev/console /dev/pts/0; ls /dev/pts; echo $TERM'] },
  { name: '-t terminal of another user', flags: ['-t', '-u', 'nobody'], argv: ['sh', '-c', 'tty; stat -c "%a %u %g" /dev/pts/0'] },
  { name: '-t size without a terminal', flags: ['-t'], argv: ['sh', '-c', 'stty -a 2>/dev/null | head -1'] },
  { name: '-t exit code', flags: ['-t'], argv: ['sh', '-c', 'exit 7'] },
];

describe('runtime: same results as docker run', () => {
  let root: string;
  before(async () => {
    if (ready) root = await busyboxInKilnAndDocker(IMAGE, 'kiln-parity-');
  });
  after(() => {
    if (ready) removeBusyboxFromKilnAndDocker(IMAGE, root);
  });

  for (const c of CASES) {
    test(c.name, (t) => {
      if (!prerequisite(t, ready, why)) return;
      const args = ['run', '--rm', '--network', 'none', ...c.flags, IMAGE, ...c.argv];
      const k = spawnSync(kilnBin, args, { env: { ...process.env, KILN_ROOT: root }, encoding: 'utf8', timeout: 60_000 });
      const d = spawnSync(DOCKER, args, { encoding: 'utf8', timeout: 60_000 });
      assert.equal(k.status, d.status, `exit code (kiln stderr: ${k.stderr}; docker stderr: ${d.stderr})`);
      assert.equal(k.stdout, d.stdout);
      if (c.name === 'missing command exit code') {
        assert.match(k.stderr, /exec: "no-such-command": executable file not found in \$PATH/);
        assert.match(d.stderr, /exec: "no-such-command": executable file not found in \$PATH/);
      } else {
        assert.equal(k.stderr, d.stderr);
      }
    });
  }
});
