/**
 * Rootless networking: kiln started by the unprivileged test user gives each container a network
 * namespace of its own served by slirp4netns, with outbound access and published ports, and
 * leaves nothing behind (slirp4netns exits with the kiln that holds it, even after kill -9).
 * Traffic goes only to loopback and to the outside host this test makes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { hasCommand, prerequisite } from '../support/env.js';
import { ROOTLESS_USER, rootlessReady, rootlessSession, rootlessWhy, type RootlessSession } from '../support/rootlessUser.js';
import { fetchFrom, makeOutsideHost, type OutsideHost } from '../../harness/outsideHost.js';
import { freePort, until } from '../support/networkState.js';
import { background, untilStdinEnds, type Background } from '../support/backgroundKiln.js';

const ready = rootlessReady && hasCommand('slirp4netns') && hasCommand('ip');
const why = `${rootlessWhy}, slirp4netns and ip`;
const IMAGE = 'kiln-test/busybox';

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

describe('network: rootless containers through slirp4netns', () => {
  let session: RootlessSession;
  let outside: OutsideHost;
  const asUser = (argv: string[]): ReturnType<RootlessSession['asUser']> => session.asUser(argv);
  before(async () => {
    if (!ready) return;
    session = rootlessSession('kiln-rootless-net-');
    const commit = [
      `import { Store } from ${JSON.stringify(join(session.kilnHome, 'dist/engine/store/store.js'))};`,
      `import { commitBusyboxImage } from ${JSON.stringify(join(session.kilnHome, 'dist/harness/busyboxImage.js'))};`,
      `await commitBusyboxImage(await Store.open(), "${IMAGE}:latest");`,
    ].join('\n');
    session.asUser([process.execPath, '--input-type=module', '-e', commit], { check: true });
    outside = await makeOutsideHost();
  });
  after(() => {
    if (!ready) return;
    outside?.close();
    rmSync(session.root, { recursive: true, force: true });
  });

  /** `kiln run -i …` as the user, in the background. */
  function start(args: string[], script: string): Promise<Background> {
    const gid = execFileSync('id', ['-g', ROOTLESS_USER], { encoding: 'utf8' }).trim();
    return background(['setpriv', `--reuid=${ROOTLESS_USER}`, `--regid=${gid}`, '--init-groups', '--', session.kilnBin, 'run', '--rm', '-i', ...args, IMAGE, 'sh', '-c', untilStdinEnds(script)], session.env, session.root);
  }

  test('a container and a RUN step reach the outside host; --network none cannot', (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = asUser([session.kilnBin, 'run', '--rm', IMAGE, 'sh', '-c', `ls /sys/class/net; ip -4 addr show tap0 | awk '/inet / {print $2}'; wget -qO- ${outside.url}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `lo\ntap0\n10.0.2.100/24\n${outside.body}`);
    const none = asUser([session.kilnBin, 'run', '--rm', '--network', 'none', IMAGE, 'sh', '-c', `nc ${outside.address} ${outside.port} </dev/null && echo reached || echo unreachable`]);
    assert.equal(none.stdout.trim(), 'unreachable', none.stderr);
    session.asUser(['mkdir', '-p', join(session.root, 'ctx')], { check: true });
    session.asUser(['sh', '-c', `printf 'FROM ${IMAGE}\\nRUN wget -qO /fetched ${outside.url}\\n' > ${join(session.root, 'ctx', 'Dockerfile')}`], { check: true });
    const b = asUser([session.kilnBin, 'build', '-q', '-t', 'kiln-test/rootless-net', join(session.root, 'ctx')]);
    assert.equal(b.status, 0, b.stderr);
    assert.equal(asUser([session.kilnBin, 'run', '--rm', 'kiln-test/rootless-net', 'cat', '/fetched']).stdout, outside.body);
  });

  test('its hostname is its short ID; the host\'s 127.0.0.1 is out of reach (10.0.2.2 does not lead there)', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    let connections = 0;
    const server = createServer((s) => { connections++; s.end(); });
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
    try {
      const r = asUser([session.kilnBin, 'run', '--rm', IMAGE, 'sh', '-c', `hostname; awk -v h=$(hostname) '$1 == "10.0.2.100" && $2 == h' /etc/hosts | wc -l; nc 10.0.2.2 ${port} </dev/null && echo reached || echo refused`]);
      assert.equal(r.status, 0, r.stderr);
      const [hostname, inHosts, reached] = r.stdout.trim().split('\n');
      assert.match(hostname ?? '', /^[0-9a-f]{12}$/);
      assert.equal(inHosts, '1');
      assert.equal(reached, 'refused');
      assert.equal(connections, 0);
    } finally {
      server.close();
    }
  });

  test('-p 127.0.0.1:PORT:80 and -p PORT:80 serve the container to the host and the outside host', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const local = await freePort();
    const all = await freePort();
    const web = await start(['-p', `127.0.0.1:${local}:80`, '-p', `${all}:80`], 'mkdir /www && echo rootless-web > /www/index.html && httpd -p 80 -h /www');
    try {
      assert.equal((await (await fetch(`http://127.0.0.1:${local}/`)).text()).trim(), 'rootless-web');
      const fromOutside = fetchFrom(outside, `http://${outside.hostAddress}:${all}/`);
      assert.ok(fromOutside.ok, fromOutside.error);
      assert.equal(fromOutside.body.trim(), 'rootless-web');
      assert.ok(!fetchFrom(outside, `http://${outside.hostAddress}:${local}/`).ok, 'the 127.0.0.1 port is not reachable from outside');
    } finally {
      assert.equal(await web.stop(), 0);
    }
    assert.ok(await portFree(local) && await portFree(all), 'slirp4netns let go of the ports when the container ended');
  });

  test('a port already taken is refused with docker\'s message', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const server = createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, '0.0.0.0', () => resolve((server.address() as { port: number }).port)));
    try {
      const r = asUser([session.kilnBin, 'run', '--rm', '-p', `${port}:80`, IMAGE, 'true']);
      assert.equal(r.status, 125);
      assert.equal(r.stderr, `kiln: Bind for 0.0.0.0:${port} failed: port is already allocated\n`);
    } finally {
      server.close();
    }
  });

  test('kill -9 of kiln: slirp4netns exits and the published port is free again', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const port = await freePort();
    const victim = await start(['-p', `${port}:80`], 'true');
    assert.equal(await portFree(port), false);
    await victim.kill();
    await until(() => portFreeSync(port));
  });
});

/** Whether a port can be bound right now (synchronously, for until()). */
function portFreeSync(port: number): boolean {
  try {
    execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${port}, '0.0.0.0', function () { this.close(); }).on('error', () => process.exit(1))`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
