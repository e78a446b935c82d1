/**
 * The rest of kiln's network choices: `--network container:NAME` (docker's meaning and refusals),
 * `-P` for EXPOSEd ports, UDP ports, and — in network and mount namespaces of the test's own,
 * where kiln's bridges, table and /run/kiln are private, so other kilns on this host are never
 * touched — `kiln system reset` and the rebuild of a table someone deleted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand, isRoot, kilnBin, prerequisite } from '../support/env.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { until } from '../support/networkState.js';
import { background, untilStdinEnds, type Background } from '../support/backgroundKiln.js';
import { haveCompiler, netProbe, removeNetProbe } from '../support/netProbe.js';
import { Store } from '../../engine/store/store.js';

const ready = isRoot && haveBusybox && hasCommand('ip') && hasCommand('nft') && hasCommand('unshare') && hasCommand('nsenter');
const why = 'needs root, /bin/busybox, ip, nft, unshare and nsenter';
const IMAGE = 'kiln-test/busybox:latest';

interface Run { status: number | null; stdout: string; stderr: string }

describe('network: container:NAME, -P, UDP, system reset', () => {
  let root: string;
  const tag = `${process.pid}${Math.floor(Math.random() * 1e6)}`;
  before(async () => {
    if (!ready) return;
    root = await mkdtemp(join(tmpdir(), 'kiln-netmodes-store-'));
    const store = await Store.open({ root });
    const base = await commitBusyboxImage(store, IMAGE);
    const cfg = structuredClone(base.config);
    cfg.config = { ...cfg.config, ExposedPorts: { '80/tcp': {} } };
    await store.tag((await store.commitImage(cfg)).id, 'kiln-test/exposed:latest');
  });
  after(async () => {
    removeNetProbe();
    if (ready) await rm(root, { recursive: true, force: true });
  });

  /** kiln, optionally inside another process's network and mount namespaces. */
  function kiln(args: string[], inside?: number): Run {
    const argv = inside === undefined ? [kilnBin, ...args] : ['nsenter', '-t', String(inside), '-n', '-m', '--', kilnBin, ...args];
    const r = spawnSync(argv[0] as string, argv.slice(1), { env: { ...process.env, KILN_ROOT: root }, encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  function start(args: string[], script: string, inside?: number): Promise<Background> {
    const run = [kilnBin, 'run', '-i', ...args, IMAGE, 'sh', '-c', untilStdinEnds(script)];
    return background(inside === undefined ? run : ['nsenter', '-t', String(inside), '-n', '-m', '--', ...run], { ...process.env, KILN_ROOT: root });
  }

  test('--network container:NAME shares its namespace and hostname; the options it shares are refused', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const name = `shared-${tag}`;
    const web = await start(['--rm', '--name', name], `mkdir /www && echo from-${name} > /www/index.html && httpd -p 127.0.0.1:80 -h /www`);
    try {
      const own = kiln(['run', '--rm', '--network', `container:${name}`, IMAGE, 'sh', '-c', 'wget -qO- http://127.0.0.1/; hostname; cat /etc/hostname']);
      assert.equal(own.status, 0, own.stderr);
      const [page, hostname, file] = own.stdout.trim().split('\n');
      assert.equal(page, `from-${name}`);
      assert.match(hostname ?? '', /^[0-9a-f]{12}$/);
      assert.equal(file, hostname);
      for (const [flags, message] of [
        [['--hostname', 'x'], 'conflicting options: hostname and the network mode'],
        [['-p', '8080:80'], 'conflicting options: port publishing and the container type network mode'],
        [['--dns', '192.0.2.1'], 'conflicting options: dns and the network mode'],
        [['--add-host', 'a:192.0.2.1'], 'conflicting options: custom host-to-IP mapping and the network mode'],
      ] as const) {
        const r = kiln(['run', '--rm', '--network', `container:${name}`, ...flags, IMAGE, 'true']);
        assert.equal(r.status, 125);
        assert.equal(r.stderr, `kiln: ${message}\n`);
      }
    } finally {
      await web.stop();
    }
    const gone = kiln(['run', '--rm', '--network', `container:no-such-${tag}`, IMAGE, 'true']);
    assert.equal(gone.status, 125);
    assert.equal(gone.stderr, `kiln: No such container: no-such-${tag}\n`);
  });

  test('-P publishes the image\'s EXPOSEd ports on free host ports; UDP ports are published too', async (t) => {
    if (!prerequisite(t, ready && haveCompiler, `${why}, and gcc for the UDP probe`)) return;
    const name = `exposed-${tag}`;
    const child = spawn(kilnBin, ['run', '--rm', '--name', name, '-P', '-p', '5353/udp', '-v', `${netProbe()}:/probe:ro`, 'kiln-test/exposed', 'sh', '-c',
      'mkdir /www && echo exposed > /www/index.html && httpd -p 80 -h /www && exec /probe udp-receive 5353'], {
      env: { ...process.env, KILN_ROOT: root }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    const exited = new Promise((r) => child.on('exit', r));
    await until(() => out.includes('listening\n'));
    const lines = kiln(['port', name]).stdout.trim().split('\n').sort();
    const tcp = /^80\/tcp -> 0\.0\.0\.0:(\d+)$/.exec(lines[1] ?? '');
    const udp = /^5353\/udp -> 0\.0\.0\.0:(\d+)$/.exec(lines[0] ?? '');
    assert.ok(lines.length === 2 && tcp && udp, lines.join('\n'));
    assert.equal((await (await fetch(`http://127.0.0.1:${tcp[1]}/`)).text()).trim(), 'exposed');
    assert.match(kiln(['ps']).stdout, new RegExp(`0\\.0\\.0\\.0:${tcp[1]}->80/tcp`));
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.send(`datagram-${tag}`, Number(udp[1]), '127.0.0.1', () => r()));
    s.close();
    await exited;
    assert.match(out, new RegExp(`received datagram-${tag}`));
  });

  /** A process holding a network namespace and a mount namespace (with /run/kiln private) of its own. */
  async function privateHost(): Promise<{ pid: number; close(): void }> {
    const holder = spawn('unshare', ['--net', '--mount', '--propagation', 'private', '--', 'sh', '-c',
      'mkdir -p /run/kiln && mount -t tmpfs kiln-test /run/kiln && ip link set lo up && echo ready && exec sleep 100000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      holder.stdout.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`unshare exited ${code}`)));
    });
    return { pid: holder.pid as number, close: () => { holder.kill('SIGKILL'); } };
  }

  function inside(pid: number, argv: string[]): string {
    return spawnSync('nsenter', ['-t', String(pid), '-n', '-m', '--', ...argv], { encoding: 'utf8' }).stdout;
  }

  test('kiln system reset removes kiln\'s table, bridges and records, and refuses while a container runs', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const host = await privateHost();
    try {
      assert.equal(kiln(['run', '--rm', '-p', '18080:80', IMAGE, 'true'], host.pid).status, 0);
      assert.equal(kiln(['network', 'create', 'resetnet'], host.pid).status, 0);
      assert.match(inside(host.pid, ['nft', 'list', 'tables']), /table ip kiln/);
      assert.equal(inside(host.pid, ['ip', '-o', 'link', 'show', 'type', 'bridge']).trim().split('\n').length, 2);
      const running = await start([], 'true', host.pid);
      try {
        const refused = kiln(['system', 'reset'], host.pid);
        assert.equal(refused.status, 1);
        assert.match(refused.stderr, /running container\(s\) are on kiln networks \(bridge\): stop them first/);
      } finally {
        await running.stop();
      }
      const reset = kiln(['system', 'reset'], host.pid);
      assert.equal(reset.status, 0, reset.stderr);
      assert.equal(inside(host.pid, ['nft', 'list', 'tables']), '');
      assert.equal(inside(host.pid, ['ip', '-o', 'link', 'show', 'type', 'bridge']), '');
      assert.equal(inside(host.pid, ['ls', '/run/kiln/network']).trim(), 'lock');
    } finally {
      host.close();
    }
  });

  test('a deleted table is rebuilt, with the ports of running containers, at the next start', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const host = await privateHost();
    try {
      const web = await start(['-p', '18081:80'], 'mkdir /www && echo rebuilt > /www/index.html && httpd -p 80 -h /www', host.pid);
      try {
        spawnSync('nsenter', ['-t', String(host.pid), '-n', '--', 'nft', 'delete', 'table', 'ip', 'kiln']);
        assert.equal(kiln(['run', '--rm', IMAGE, 'true'], host.pid).status, 0);
        assert.match(inside(host.pid, ['nft', 'list', 'map', 'ip', 'kiln', 'tcp_any']), /18081 : /);
        assert.equal(inside(host.pid, ['busybox', 'wget', '-qO-', 'http://127.0.0.1:18081/']).trim(), 'rebuilt');
      } finally {
        await web.stop();
      }
      kiln(['system', 'reset'], host.pid);
    } finally {
      host.close();
    }
  });
});

