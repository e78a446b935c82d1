/**
 * runContainer against a busybox root: isolation (PID 1, hostname, processes, network), limits
 * (memory → 137, pids → can't fork), refusals (mount, /proc writes), the spec's env/cwd/user/
 * binds, fresh state per run, exec errors, and that nothing (mount, cgroup) is left afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoot, prerequisite } from '../support/env.js';
import { haveBusybox, makeBusyboxRootfs } from '../../harness/busyboxImage.js';
import { leftoverCgroups, leftoverMounts, sandbox, type Sandbox } from '../support/containers.js';
import { KilnError } from '../../engine/errors/kilnError.js';
import { hostCgroupLayout, type CgroupLayout } from '../../engine/runtime/cgroups.js';
import { controllerDir } from '../../engine/runtime/cgroupLimits.js';
import { ownedCgroupName } from '../../engine/runtime/cgroupOwner.js';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { EventEmitter } from 'node:events';

const ready = isRoot && haveBusybox;
const why = 'needs root (namespaces, overlayfs, cgroups) and /bin/busybox (busybox-static)';

describe('runtime: runContainer', () => {
  let box: Sandbox;
  let lower: string;
  before(async () => {
    if (!ready) return;
    lower = await makeBusyboxRootfs();
    box = await sandbox(lower);
  });
  after(async () => {
    if (!ready) return;
    await box.dispose();
    await rm(lower, { recursive: true, force: true });
  });

  function clean(): void {
    assert.deepEqual(leftoverMounts(), [], 'no mount left on the host');
    assert.deepEqual(leftoverCgroups(), [], 'no cgroup left');
  }

  test('the command is PID 1 and sees only its own processes', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = await box.run(['sh', '-c', 'echo $$; ls -d /proc/[0-9]* | wc -l']);
    assert.equal(r.exitCode, 0, r.stderr);
    const [pid, count] = r.stdout.trim().split('\n');
    assert.equal(pid, '1');
    assert.ok(Number(count) <= 3, `processes visible: ${count}`);
    clean();
  });

  test('has a hostname of its own', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = await box.run(['hostname'], { hostname: 'box-one' });
    assert.equal(r.stdout.trim(), 'box-one');
    assert.equal((await box.run(['cat', '/etc/hostname'], { hostname: 'box-two' })).stdout.trim(), 'box-two');
    clean();
  });

  test('network none has only lo, and it is up', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = await box.run(['ls', '/sys/class/net']);
    assert.deepEqual(r.stdout.trim().split(/\s+/), ['lo']);
    const ping = await box.run(['ping', '-c', '1', '-W', '1', '127.0.0.1']);
    assert.equal(ping.exitCode, 0, ping.stdout + ping.stderr);
    clean();
  });

  test('exit codes pass through', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    assert.equal((await box.run(['sh', '-c', 'exit 42'])).exitCode, 42);
    assert.equal((await box.run(['true'])).exitCode, 0);
    assert.equal((await box.run(['false'])).exitCode, 1);
    clean();
  });

  test('a signal that kills PID 1 gives 128+signal; aborting kills with 137', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const ac = new AbortController();
    const started = box.run(['sleep', '30'], {}, { signal: ac.signal, onStart: () => ac.abort() });
    assert.equal((await started).exitCode, 137);
    const r = await box.run(['sh', '-c', 'trap "exit 0" USR1; sleep 30 & wait'], { init: true }, {
      onStart: (c) => { c.signal('SIGKILL'); },
    });
    assert.equal(r.exitCode, 137);
    clean();
  });

  test('--memory 64m and a process allocating 400 MB ends with 137 (OOM)', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    // tail keeps everything it reads until a newline; /dev/zero has none.
    const r = await box.run(['tail', '-c', '400m', '/dev/zero'], { limits: { memoryBytes: 64 * 1024 * 1024 } });
    assert.equal(r.exitCode, 137);
    assert.equal(r.oomKilled, true);
    clean();
  });

  test('--cpus sets the CFS quota of the container\'s cgroup while it runs', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const layout = hostCgroupLayout();
    if (!prerequisite(t, layout !== undefined, 'needs a cgroup hierarchy')) return;
    // onStart comes once the process is in its cgroup and before it runs the command: read the
    // cgroup there, then end the (otherwise endless) container.
    let seen = '';
    let procs = '';
    let pid = 0;
    const r = await box.run(['sleep', '3600'], { limits: { cpus: 0.5 } }, {
      onStart: (c) => {
        pid = c.pid;
        try {
          const dir = controllerDir(layout as CgroupLayout, 'cpu', ownedCgroupName(c.id));
          seen = layout?.version === 'v2' ? readFileSync(join(dir, 'cpu.max'), 'utf8') : readFileSync(join(dir, 'cpu.cfs_quota_us'), 'utf8');
          procs = readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim();
        } finally {
          c.signal('SIGKILL');
        }
      },
    });
    assert.equal(r.exitCode, 137, 'ended by the test once the cgroup was read');
    assert.match(seen, /^50000\b/);
    assert.equal(procs, String(pid), 'the container is in its cgroup');
    clean();
  });

  test('--pids-limit 30 and a fork loop: can\'t fork', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = await box.run(['sh', '-c', 'for i in $(seq 1 60); do sleep 1 & done; wait'], { limits: { pids: 30 } });
    assert.match(r.stderr, /can't fork/);
    clean();
  });

  test('mount and writes to /proc/sysrq-trigger and /proc/sys are refused', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const m = await box.run(['mount', '-t', 'tmpfs', 'none', '/tmp']);
    assert.notEqual(m.exitCode, 0);
    assert.match(m.stderr, /permission denied|not permitted/i);
    const s = await box.run(['sh', '-c', 'echo h > /proc/sysrq-trigger']);
    assert.notEqual(s.exitCode, 0);
    const p = await box.run(['sh', '-c', 'echo 1 > /proc/sys/kernel/ns_last_pid']);
    assert.notEqual(p.exitCode, 0);
    assert.match(p.stderr, /Read-only/);
    // seccomp: no way around the capability set through a fresh user namespace.
    const userns = await box.run(['unshare', '-r', 'true']);
    assert.notEqual(userns.exitCode, 0);
    assert.match(userns.stderr, /not permitted/);
    const granted = await box.run(['sh', '-c', 'mount -t tmpfs none /tmp && grep -c " /tmp " /proc/mounts'], { capAdd: ['SYS_ADMIN'] });
    assert.equal(granted.stdout.trim(), '1', `--cap-add SYS_ADMIN allows mount: ${granted.stderr}`);
    const caps = await box.run(['grep', 'CapEff', '/proc/self/status']);
    assert.match(caps.stdout, /00000000a80425fb/, "docker's default capability set");
    clean();
  });

  test('env, working directory (created), user and read-only binds are honoured', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const env = await box.run(['sh', '-c', 'echo "$GREETING"'], { env: ['PATH=/bin', 'GREETING=hello there'] });
    assert.equal(env.stdout, 'hello there\n');
    const cwd = await box.run(['pwd'], { cwd: '/srv/app' });
    assert.equal(cwd.stdout.trim(), '/srv/app');
    const user = await box.run(['id'], { user: { uid: 65534, gid: 65534, additionalGids: [10] } });
    assert.match(user.stdout, /uid=65534\(nobody\) gid=65534\(nogroup\) groups=10/);
    const host = await mkdtemp(join(tmpdir(), 'kiln-bind-'));
    try {
      await writeFile(join(host, 'data.txt'), 'from host\n');
      const ro = await box.run(['sh', '-c', 'cat /data/data.txt; echo x > /data/new'], { mounts: [{ type: 'bind', source: host, target: '/data', readonly: true }] });
      assert.equal(ro.stdout, 'from host\n');
      assert.match(ro.stderr, /Read-only file system/);
      const rw = await box.run(['sh', '-c', 'echo written > /data/new'], { mounts: [{ type: 'bind', source: host, target: '/data', readonly: false }] });
      assert.equal(rw.exitCode, 0, rw.stderr);
      assert.deepEqual((await readdir(host)).sort(), ['data.txt', 'new']);
    } finally {
      await rm(host, { recursive: true, force: true });
    }
    const tmpfs = await box.run(['sh', '-c', 'grep " /scratch " /proc/mounts'], { mounts: [{ type: 'tmpfs', target: '/scratch', size: 1 << 20 }] });
    assert.match(tmpfs.stdout, /tmpfs \/scratch tmpfs .*size=1024k/);
    clean();
  });

  test('read-only root, and each run starts from the image', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const ro = await box.run(['touch', '/marker'], { readonlyRootfs: true });
    assert.notEqual(ro.exitCode, 0);
    const first = await box.run(['sh', '-c', 'echo one > /marker; rm /bin/vi']);
    assert.equal(first.exitCode, 0, first.stderr);
    const second = await box.run(['sh', '-c', 'ls /marker; ls /bin/vi']);
    assert.match(second.stderr, /\/marker: No such file/);
    assert.match(second.stdout, /\/bin\/vi/);
    clean();
  });

  test('the upper dir holds only what the command wrote (mount points removed)', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = await box.run(['sh', '-c', 'echo data > /newfile'], { mounts: [{ type: 'tmpfs', target: '/cache/deep' }] });
    assert.equal(r.exitCode, 0);
    assert.deepEqual(await readdir(r.upperDir), ['newfile']);
    clean();
  });

  test('exec errors come back as clear messages with docker\'s exit codes', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    await assert.rejects(box.run(['no-such-command']), (e: unknown) => e instanceof KilnError && e.exitCode === 127 &&
      e.message === 'exec: "no-such-command": executable file not found in $PATH');
    await assert.rejects(box.run(['/etc/passwd']), (e: unknown) => e instanceof KilnError && e.exitCode === 126 && /permission denied/.test(e.message));
    await assert.rejects(box.run(['true'], { cwd: 'relative' }), (e: unknown) => e instanceof KilnError && /absolute path/.test(e.message));
    clean();
  });

  test('deep images: lower dirs beyond one page of mount options (relative paths, then short links)', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const base = await mkdtemp(join(tmpdir(), 'kiln-layers-'));
    try {
      for (const count of [50, 120]) {
        const lowers: string[] = [];
        for (let i = 0; i < count; i++) {
          const dir = join(base, String(count), `layer-${i.toString(16).padStart(64, '0')}`);
          await mkdir(join(dir, 'layers'), { recursive: true });
          await writeFile(join(dir, 'layers', `l${i}`), '');
          lowers.push(dir);
        }
        lowers.reverse();
        await mkdir(join(base, `u${count}`));
        await mkdir(join(base, `w${count}`));
        const r = await box.run(['/bin/sh', '-c', 'ls /layers | wc -l'], { rootfs: { lowerDirs: [...lowers, lower], upperDir: join(base, `u${count}`), workDir: join(base, `w${count}`) } });
        assert.equal(r.stdout.trim(), String(count), r.stderr);
      }
    } finally {
      await rm(base, { recursive: true, force: true });
    }
    clean();
  });

  test('a terminal (stdio pty) is made inside: /dev/pts/0, also /dev/console; its size is set before exec and follows resizes; no fd left', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    // A pidfd or a mount namespace descriptor is closed a moment after a container's end; the
    // terminal's master and the socket it came on must be gone when runContainer returns.
    const terminalFds = (): string[] => readdirSync('/proc/self/fd').map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return ''; // the directory's own descriptor, gone by now
      }
    }).filter((target) => /ptmx|^\/dev\/pts\/|^socket:/.test(target)).sort();
    const fdsBefore = terminalFds();
    // The user's screen: a size, and 'resize' events as a terminal's WriteStream gives them.
    const screen = Object.assign(new EventEmitter(), { rows: 40, columns: 120 });
    const output = screen as unknown as NodeJS.WriteStream;
    const r = await box.run(['sh', '-c', [
      'tty', '[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo stdio-is-tty', 'readlink /proc/self/fd/0',
      'stat -L -c "%d %i %a %g" /dev/console /dev/pts/0', 'stty size', 'exit 5',
    ].join('; ')], { stdio: 'pty' }, { terminal: { output } });
    assert.equal(r.exitCode, 5, r.stdout);
    const lines = r.stdout.split('\r\n');
    assert.deepEqual(lines.slice(0, 3), ['/dev/pts/0', 'stdio-is-tty', '/dev/pts/0']);
    assert.equal(lines[3], lines[4], '/dev/console is the same file as /dev/pts/0');
    assert.match(lines[3] ?? '', / 620 5$/, 'mode 0620, group tty');
    assert.equal(lines[5], '40 120');

    const resized = await box.run(['sh', '-c', 'until [ "$(stty size)" = "50 132" ]; do sleep 0.05; done; echo resized; ' +
      'until [ "$(stty size)" = "24 80" ]; do sleep 0.05; done; echo followed'], { stdio: 'pty' }, {
      terminal: { output },
      signal: AbortSignal.timeout(20_000),
      onStart: (c) => {
        c.resize(50, 132); // may come before the master reached kiln: applied when it does
        setTimeout(() => { screen.rows = 24; screen.columns = 80; screen.emit('resize'); }, 300);
      },
    });
    assert.equal(resized.stdout, 'resized\r\nfollowed\r\n');
    assert.equal(resized.exitCode, 0);

    // Without a terminal of the user's the size stays 0 0 (busybox stty then prints no size).
    const none = await box.run(['sh', '-c', 'stty -a 2>/dev/null | head -1'], { stdio: 'pty' });
    assert.equal(none.stdout, 'speed 38400 baud; line = 0;\r\n');
    // A start that fails before the terminal exists reports as before, and nothing waits for it.
    await assert.rejects(box.run(['true'], { stdio: 'pty', mounts: [{ type: 'bind', source: '/nonexistent-kiln-src', target: '/x', readonly: true }] }), /bind source path does not exist/);
    await assert.rejects(box.run(['no-such-cmd'], { stdio: 'pty' }), (e: unknown) => e instanceof KilnError && e.exitCode === 127);
    assert.deepEqual(terminalFds(), fdsBefore, 'no terminal or socket descriptor left open');
    clean();
  });

  test('--init: the command is not PID 1 and orphans are reaped', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = await box.run(['sh', '-c', 'echo $$; (sleep 0.1 &); sleep 0.3; ps -o stat,comm | grep -c Z || true'], { init: true });
    const [pid, zombies] = r.stdout.trim().split('\n');
    assert.notEqual(pid, '1');
    assert.equal(zombies, '0');
    assert.equal((await box.run(['sh', '-c', 'exit 5'], { init: true })).exitCode, 5);
    clean();
  });
});
