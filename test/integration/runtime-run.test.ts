/**
 * `kiln run`, `kiln ps`, `kiln rm` as a user runs them, on a busybox image committed to a
 * temporary store: docker's meanings of the flags and the image config, exit codes, signals,
 * and nothing left behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { hasCommand, isRoot, kilnBin, prerequisite } from '../support/env.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { leftoverCgroups, leftoverMounts } from '../support/containers.js';
import { Store } from '../../engine/store/store.js';
import { ownerOf } from '../../engine/runtime/cgroupOwner.js';

const ready = isRoot && haveBusybox;
const why = 'needs root (namespaces, overlayfs, cgroups) and /bin/busybox (busybox-static)';
const IMAGE = 'kiln-test/busybox:latest';

describe('runtime: kiln run / ps / rm', () => {
  let root: string;
  let work: string;
  before(async () => {
    if (!ready) return;
    root = await mkdtemp(join(tmpdir(), 'kiln-run-store-'));
    work = await mkdtemp(join(tmpdir(), 'kiln-run-work-'));
    const store = await Store.open({ root });
    const base = await commitBusyboxImage(store, IMAGE);
    // An image with an Entrypoint and a Cmd, a WorkingDir, a User and an Env, on the same layer.
    const cfg = structuredClone(base.config);
    cfg.config = { ...cfg.config, Entrypoint: ['echo', 'ep'], Cmd: ['default'], Env: ['PATH=/bin', 'FROM_IMAGE=yes'], WorkingDir: '/tmp', User: 'nobody' };
    const rec = await store.commitImage(cfg);
    await store.tag(rec.id, 'kiln-test/entry:latest');
  });
  after(async () => {
    if (!ready) return;
    await rm(root, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  function kiln(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(kilnBin, args, { env: { ...process.env, KILN_ROOT: root }, encoding: 'utf8', input: input ?? '', timeout: 60_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  function clean(): void {
    assert.deepEqual(leftoverMounts(), [], 'no mount left on the host');
    const mine = leftoverCgroups('').filter((d) => {
      const id = ownerOf(basename(d))?.id ?? '';
      return /^[0-9a-f]{64}$/.test(id) && existsSync(join(root, 'containers', id));
    });
    assert.deepEqual(mine, [], 'no cgroup left');
  }

  test('exit code passes through; --rm leaves no container', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = kiln(['run', '--rm', IMAGE, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.status, 3);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.deepEqual(await readdir(join(root, 'containers')), []);
    clean();
  });

  test('Entrypoint, Cmd, Env, WorkingDir and User come from the image; flags override them', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    assert.equal(kiln(['run', '--rm', 'kiln-test/entry']).stdout, 'ep default\n');
    assert.equal(kiln(['run', '--rm', 'kiln-test/entry', 'a', 'b']).stdout, 'ep a b\n');
    assert.equal(kiln(['run', '--rm', '--entrypoint', 'pwd', 'kiln-test/entry']).stdout, '/tmp\n');
    assert.equal(kiln(['run', '--rm', '--entrypoint', 'id', 'kiln-test/entry', '-u']).stdout, '65534\n');
    assert.equal(kiln(['run', '--rm', '--entrypoint', 'sh', 'kiln-test/entry', '-c', 'echo $FROM_IMAGE']).stdout, 'yes\n');
    clean();
  });

  test('-e, --env-file, -w, -u and -v …:ro are honoured', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const envFile = join(work, 'env.list');
    await writeFile(envFile, '# comment\nFROM_FILE=file\nOVERRIDDEN=file\n');
    const env = kiln(['run', '--rm', '--env-file', envFile, '-e', 'OVERRIDDEN=flag', '-e', 'PLAIN=p', IMAGE, 'sh', '-c', 'echo $FROM_FILE $OVERRIDDEN $PLAIN $HOSTNAME']);
    assert.match(env.stdout, /^file flag p \S+\n$/);
    assert.equal(kiln(['run', '--rm', '-w', '/var/lib/app', IMAGE, 'pwd']).stdout, '/var/lib/app\n');
    assert.equal(kiln(['run', '--rm', '-u', 'nobody', IMAGE, 'id']).stdout, 'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n');
    assert.equal(kiln(['run', '--rm', '-u', '1234:5678', IMAGE, 'id', '-u']).stdout, '1234\n');
    await writeFile(join(work, 'hello.txt'), 'hi from host\n');
    const ro = kiln(['run', '--rm', '-v', `${work}:/mnt/host:ro`, IMAGE, 'sh', '-c', 'cat /mnt/host/hello.txt; touch /mnt/host/x']);
    assert.equal(ro.stdout, 'hi from host\n');
    assert.match(ro.stderr, /Read-only file system/);
    assert.notEqual(ro.status, 0);
    const bad = kiln(['run', '--rm', '-u', 'nosuchuser', IMAGE, 'true']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /unable to find user nosuchuser/);
    clean();
  });

  test('a missing command: docker\'s message and 127', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = kiln(['run', '--rm', IMAGE, 'nosuchcmd']);
    assert.equal(r.status, 127);
    assert.match(r.stderr, /exec: "nosuchcmd": executable file not found in \$PATH/);
    clean();
  });

  test('--network none has only lo; the default (bridge) lo and eth0; --network host sees the host\'s interfaces', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    assert.equal(kiln(['run', '--rm', '--network', 'none', IMAGE, 'ls', '/sys/class/net']).stdout, 'lo\n');
    assert.equal(kiln(['run', '--rm', IMAGE, 'ls', '/sys/class/net']).stdout, 'eth0\nlo\n');
    // The host's links come and go (other containers' veths): compare the stable ones.
    const stable = (names: string[]): string[] => names.filter((n) => !/^(kv|veth|kto)/.test(n)).sort();
    const inside = kiln(['run', '--rm', '--network', 'host', IMAGE, 'ls', '/sys/class/net']).stdout.trim().split(/\s+/);
    assert.deepEqual(stable(inside), stable(await readdir('/sys/class/net')));
    clean();
  });

  test('--memory 64m with a 400 MB allocation exits 137; --pids-limit 30 stops a fork loop', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    assert.equal(kiln(['run', '--rm', '--memory', '64m', IMAGE, 'tail', '-c', '400m', '/dev/zero']).status, 137);
    const pids = kiln(['run', '--rm', '--pids-limit', '30', IMAGE, 'sh', '-c', 'for i in $(seq 1 60); do sleep 1 & done; wait']);
    assert.match(pids.stderr, /can't fork/);
    clean();
  });

  test('SIGTERM to kiln reaches a trap in the container', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const child = spawn(kilnBin, ['run', '--rm', IMAGE, 'sh', '-c', 'trap "echo got TERM; exit 9" TERM; echo ready; while true; do sleep 0.1; done'], {
      env: { ...process.env, KILN_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let sent = false;
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('ready') && !sent) { sent = true; child.kill('SIGTERM'); }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 9);
    assert.match(out, /got TERM/);
    clean();
  });

  test('-t: the container\'s terminal is /dev/pts/0 of its own devpts, also /dev/console; exit codes pass through', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    // kiln's stdin here is a pipe, not a terminal: -t alone still gives the container one.
    const r = kiln(['run', '--rm', '-t', IMAGE, 'sh', '-c', 'tty; [ -t 0 ] && echo stdin-is-tty; readlink /proc/self/fd/1; ' +
      'stat -L -c "%d %i" /dev/console /dev/pts/0; echo "$TERM"; exit 3']);
    assert.equal(r.status, 3, r.stderr);
    const lines = r.stdout.split('\r\n');
    assert.deepEqual(lines.slice(0, 3), ['/dev/pts/0', 'stdin-is-tty', '/dev/pts/0']);
    assert.equal(lines[3], lines[4], '/dev/console is the same file as /dev/pts/0');
    assert.equal(lines[5], 'xterm');
    assert.equal(r.stderr, '');
    clean();
  });

  test('-i -t from a real terminal: its size is the container\'s before the command starts; keystrokes reach it', async (t) => {
    if (!prerequisite(t, ready && hasCommand('script'), `${why}, and script(1) (util-linux) for a terminal`)) return;
    // script(1) gives kiln a terminal of 33 rows and 101 columns as its stdin and stdout.
    const inner = `stty rows 33 cols 101; ${kilnBin} run --rm -i -t ${IMAGE} sh -c 'tty; stty size; read line; echo "got $line"; exit 4'`;
    const r = spawnSync('script', ['-qec', inner, '/dev/null'], { env: { ...process.env, KILN_ROOT: root }, encoding: 'utf8', input: 'typed\n', timeout: 60_000 });
    assert.equal(r.status, 4, r.stdout + r.stderr);
    // Raw as docker makes the terminal: the container's own "\r\n" arrives as it is.
    // The keystrokes are there from the start: the terminals' echo of them may come anywhere.
    assert.match(r.stdout.replace(/typed\r\n/g, ''), /\/dev\/pts\/0\r\n33 101\r\n/);
    assert.match(r.stdout, /got typed\r\n/);
    // Without a terminal to read from, -i -t is refused as docker refuses it.
    const piped = kiln(['run', '--rm', '-i', '-t', IMAGE, 'cat'], 'hi\n');
    assert.equal(piped.status, 1);
    assert.match(piped.stderr, /the input device is not a TTY/);
    clean();
  });

  test('-t: a resize of kiln\'s terminal (SIGWINCH) reaches the container\'s', async (t) => {
    if (!prerequisite(t, ready && hasCommand('script'), `${why}, and script(1) (util-linux) for a terminal`)) return;
    // kiln runs in the background of script's shell (not the terminal's foreground), so the
    // shell sends it SIGWINCH itself after changing the size, until kiln is done.
    // The container marks (in a bound host dir) that it runs before the terminal changes.
    const marks = await mkdtemp(join(work, 'winch-'));
    const inner = `stty rows 33 cols 101; ${kilnBin} run --rm -t -v ${marks}:/marks ${IMAGE} sh -c ` +
      `'stty size; touch /marks/started; until [ "$(stty size)" = "40 100" ]; do sleep 0.05; done; echo resized' & pid=$!; ` +
      `while [ ! -e ${marks}/started ]; do sleep 0.05; done; stty rows 40 cols 100; while kill -WINCH $pid 2>/dev/null; do sleep 0.3; done; wait $pid`;
    const r = spawnSync('script', ['-qec', inner, '/dev/null'], { env: { ...process.env, KILN_ROOT: root }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /33 101\r+\nresized\r+\n/);
    clean();
  });

  test('each run starts from the image; ps -a lists kept containers; rm removes them', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    assert.equal(kiln(['run', '--name', 'keeper', IMAGE, 'sh', '-c', 'echo changed > /etc/motd']).status, 0);
    assert.notEqual(kiln(['run', '--rm', IMAGE, 'cat', '/etc/motd']).status, 0, 'the next run does not see the change');
    const ps = kiln(['ps', '-a']);
    assert.match(ps.stdout, /keeper/);
    assert.match(ps.stdout, /Exited \(0\)/);
    assert.doesNotMatch(kiln(['ps']).stdout, /keeper/);
    const dup = kiln(['run', '--name', 'keeper', IMAGE, 'true']);
    assert.equal(dup.status, 125);
    assert.match(dup.stderr, /already in use/);
    assert.equal(kiln(['rm', 'keeper']).status, 0);
    assert.doesNotMatch(kiln(['ps', '-a']).stdout, /keeper/);
    assert.deepEqual(await readdir(join(root, 'containers')), []);
    clean();
  });
});
