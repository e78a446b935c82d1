/**
 * Networking as root: every container and RUN step in a network namespace of its own on kiln0,
 * outbound through NAT, published ports, user-defined networks with names, and nothing left
 * behind. Traffic goes only to loopback and to an "outside host" the test makes (a network
 * namespace of its own, harness/outsideHost.ts). Other kilns (other stores, other test
 * runs) use kiln0 at the same time: every check is about this test's own containers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand, isRoot, kilnBin, prerequisite } from '../support/env.js';
import { haveBusybox } from '../../harness/busyboxImage.js';
import { background, untilStdinEnds, type Background } from '../support/backgroundKiln.js';
import { fetchFrom, type OutsideHost } from '../../harness/outsideHost.js';
import { endpointsOf, freePort, linkExists, NETWORK_STATE, portRuleExists, until, type EndpointOnDisk } from '../support/networkState.js';
import { networkFixture, type NetworkFixture } from '../support/networkFixture.js';

const ready = isRoot && haveBusybox && hasCommand('ip') && hasCommand('nft');
const why = 'needs root, /bin/busybox, ip (iproute2) and nft (nftables)';
const IMAGE = 'kiln-test/busybox:latest';

describe('network: bridge, NAT, ports, user networks', () => {
  let root: string;
  let outside: OutsideHost;
  let fixture: NetworkFixture | undefined;
  const tag = `${process.pid}${Math.floor(Math.random() * 1e6)}`;
  before(async () => {
    if (!ready) return;
    fixture = await networkFixture('net', IMAGE);
    ({ root, outside } = fixture);
  });
  after(async () => {
    await fixture?.close();
  });

  function kiln(args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(kilnBin, args, { env: { ...process.env, KILN_ROOT: root }, encoding: 'utf8', input, timeout: 120_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  function start(args: string[], script: string): Promise<Background> {
    return background([kilnBin, 'run', '-i', ...args, IMAGE, 'sh', '-c', untilStdinEnds(script)], { ...process.env, KILN_ROOT: root });
  }

  async function httpGet(url: string): Promise<string> {
    const r = await fetch(url);
    return r.text();
  }

  test('a container reaches a host outside through NAT by default; with --network none it cannot', (t) => {
    if (!prerequisite(t, ready, why)) return;
    const got = kiln(['run', '--rm', IMAGE, 'wget', '-qO-', outside.url]);
    assert.equal(got.status, 0, got.stderr);
    assert.equal(got.stdout, outside.body);
    const none = kiln(['run', '--rm', '--network', 'none', IMAGE, 'sh', '-c', `nc ${outside.address} ${outside.port} </dev/null && echo reached || echo unreachable`]);
    assert.equal(none.stdout.trim(), 'unreachable', none.stderr);
  });

  test('a RUN step reaches it by default; RUN --network=none cannot', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const ctx = await mkdtemp(join(tmpdir(), 'kiln-net-ctx-'));
    try {
      await writeFile(join(ctx, 'Dockerfile'), [
        `FROM ${IMAGE}`,
        `RUN wget -qO /fetched ${outside.url}`,
        `RUN --network=none sh -c 'nc ${outside.address} ${outside.port} </dev/null && echo reached > /none || echo unreachable > /none'`,
      ].join('\n') + '\n');
      const b = kiln(['build', '-q', '-t', `kiln-test/netbuild-${tag}`, ctx]);
      assert.equal(b.status, 0, b.stderr);
      const r = kiln(['run', '--rm', `kiln-test/netbuild-${tag}`, 'cat', '/fetched', '/none']);
      assert.equal(r.stdout, `${outside.body}unreachable\n`);
    } finally {
      await rm(ctx, { recursive: true, force: true });
    }
  });

  test('a namespace of its own, the short ID as hostname, and no way to the host\'s 127.0.0.1', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    let connections = 0;
    const server: Server = createServer((s) => { connections++; s.end('host-loopback'); });
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
    try {
      const name = `net-own-${tag}`;
      const r = kiln(['run', '--name', name, IMAGE, 'sh', '-c', [
        'stat -L -c %i /proc/self/ns/net', 'hostname', 'cat /etc/hostname',
        `nc 127.0.0.1 ${port} </dev/null && echo lo-reached || echo lo-refused`,
        `nc $(ip route | awk '/default/ {print $3}') ${port} </dev/null && echo gw-reached || echo gw-refused`,
      ].join('; ')]);
      assert.equal(r.status, 0, r.stderr);
      const [inode, hostname, hostnameFile, lo, gw] = r.stdout.trim().split('\n');
      assert.notEqual(Number(inode), statSync('/proc/self/ns/net').ino, 'a network namespace other than the host\'s');
      const full = kiln(['ps', '-a', '--no-trunc']).stdout.split('\n').find((l) => l.trim().endsWith(name))?.split(/\s+/)[0] ?? '';
      assert.match(hostname ?? '', /^[0-9a-f]{12}$/);
      assert.ok(full.startsWith(hostname as string), `hostname ${hostname} is the start of the container ID ${full}`);
      assert.equal(hostnameFile, hostname);
      assert.equal(lo, 'lo-refused');
      assert.equal(gw, 'gw-refused');
      assert.equal(connections, 0, 'the host server on 127.0.0.1 saw no connection');
      kiln(['rm', name]);
    } finally {
      server.close();
    }
  });

  test('-p 127.0.0.1:PORT:80 and -p PORT:80 serve a container to the host and to the outside; kiln port lists them', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const local = await freePort();
    const all = await freePort();
    const name = `net-web-${tag}`;
    const body = `served-by-${tag}`;
    const web = await start(['--name', name, '-p', `127.0.0.1:${local}:80`, '-p', `${all}:80`],
      `mkdir /www && echo ${body} > /www/index.html && httpd -p 80 -h /www`);
    let endpoint: EndpointOnDisk | undefined;
    try {
      assert.equal((await httpGet(`http://127.0.0.1:${local}/`)).trim(), body);
      assert.equal((await httpGet(`http://127.0.0.1:${all}/`)).trim(), body);
      const fromOutside = fetchFrom(outside, `http://${outside.hostAddress}:${all}/`);
      assert.ok(fromOutside.ok, fromOutside.error);
      assert.equal(fromOutside.body.trim(), body);
      const notOutside = fetchFrom(outside, `http://${outside.hostAddress}:${local}/`);
      assert.ok(!notOutside.ok, 'a port published on 127.0.0.1 is not reachable from outside');
      const port = kiln(['port', name]);
      assert.deepEqual(port.stdout.trim().split('\n').sort(), [`80/tcp -> 0.0.0.0:${all}`, `80/tcp -> 127.0.0.1:${local}`]);
      assert.equal(kiln(['port', name, '80/tcp']).stdout.trim().split('\n').sort().join(' '), `0.0.0.0:${all} 127.0.0.1:${local}`);
      [endpoint] = endpointsOfName(name);
      assert.ok(endpoint, 'the container has an endpoint record');
      assert.ok(linkExists(endpoint.veth));
      assert.ok(portRuleExists(local) && portRuleExists(all));
    } finally {
      assert.equal(await web.stop(), 0);
    }
    assert.ok(endpoint);
    const { containerId, veth } = endpoint;
    assert.deepEqual(endpointsOf(containerId), [], 'the endpoint record is gone');
    assert.ok(!portRuleExists(local) && !portRuleExists(all), 'the port rules are gone');
    await until(() => !linkExists(veth));
    kiln(['rm', name]);
  });

  test('two containers on the default bridge reach each other by address', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const name = `net-peer-${tag}`;
    const web = await start(['--rm', '--name', name], `mkdir /www && echo from-${name} > /www/index.html && httpd -p 80 -h /www`);
    try {
      const [endpoint] = endpointsOfName(name);
      assert.ok(endpoint, 'the serving container has an endpoint record');
      const peer = kiln(['run', '--rm', IMAGE, 'wget', '-qO-', `http://${endpoint.address}/`]);
      assert.equal(peer.status, 0, peer.stderr);
      assert.equal(peer.stdout, `from-${name}\n`);
    } finally {
      await web.stop();
    }
  });

  test('two containers on a user-defined network reach each other by name; the default bridge cannot reach them', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const net = `kiln-test-net-${tag}`;
    const created = kiln(['network', 'create', net]);
    assert.equal(created.status, 0, created.stderr);
    try {
      assert.match(kiln(['network', 'ls']).stdout, new RegExp(`\\s${net}\\s+bridge`));
      const first = `first-${tag}`;
      const web = await start(['--rm', '--name', first, '--network', net], `mkdir /www && echo from-${first} > /www/index.html && httpd -p 80 -h /www`);
      try {
        const second = kiln(['run', '--rm', '--name', `second-${tag}`, '--network', net, IMAGE, 'sh', '-c', `wget -qO- http://${first}/; grep -c ${first} /etc/hosts`]);
        assert.equal(second.status, 0, second.stderr);
        assert.equal(second.stdout, `from-${first}\n1\n`);
        const address = kiln(['run', '--rm', '--network', net, IMAGE, 'sh', '-c', `awk '/${first}/ {print $1}' /etc/hosts`]).stdout.trim();
        assert.match(address, /^\d+\.\d+\.\d+\.\d+$/);
        const fromDefault = kiln(['run', '--rm', IMAGE, 'sh', '-c', `nc -w 3 ${address} 80 </dev/null && echo reached || echo isolated`]);
        assert.equal(fromDefault.stdout.trim(), 'isolated');
        const busy = kiln(['network', 'rm', net]);
        assert.notEqual(busy.status, 0);
        assert.match(busy.stderr, /has active endpoints/);
      } finally {
        await web.stop();
      }
    } finally {
      const removed = kiln(['network', 'rm', net]);
      assert.equal(removed.status, 0, removed.stderr);
    }
    assert.doesNotMatch(kiln(['network', 'ls']).stdout, new RegExp(net));
    const unknown = kiln(['run', '--rm', '--network', net, IMAGE, 'true']);
    assert.equal(unknown.status, 125);
    assert.match(unknown.stderr, new RegExp(`network ${net} not found`));
  });

  test('kill -9 of kiln: the next kiln sweeps the endpoint, its rules and its link', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const port = await freePort();
    const name = `net-killed-${tag}`;
    const victim = await start(['--name', name, '-p', `${port}:80`], 'true');
    const [endpoint] = endpointsOfName(name);
    assert.ok(endpoint);
    await victim.kill();
    const next = kiln(['run', '--rm', IMAGE, 'true']);
    assert.equal(next.status, 0, next.stderr);
    assert.deepEqual(endpointsOf(endpoint.containerId), [], 'the endpoint record was swept');
    assert.ok(!portRuleExists(port), 'the port rule was swept');
    await until(() => !linkExists(endpoint.veth));
    kiln(['rm', '-f', name]);
  });

  test('a record a killed kiln left empty (created, never written) is swept by the next kiln, not kept forever', (t) => {
    if (!prerequisite(t, ready, why)) return;
    const dir = join(NETWORK_STATE, 'endpoints', 'bridge');
    mkdirSync(dir, { recursive: true });
    const empty = join(dir, `10.254.${process.pid % 250}.${Math.floor(Math.random() * 250)}.json`);
    writeFileSync(empty, '');
    const next = kiln(['run', '--rm', IMAGE, 'true']);
    assert.equal(next.status, 0, next.stderr);
    assert.ok(!existsSync(empty), 'the empty record was swept');
  });

  function endpointsOfName(name: string): ReturnType<typeof endpointsOf> {
    return endpointsOf('').filter((e) => e.names.includes(name));
  }

  test('clear errors and nothing left: a port taken, an unknown network, a malformed -p', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const server = createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, '0.0.0.0', () => resolve((server.address() as { port: number }).port)));
    try {
      const name = `net-taken-${tag}`;
      const taken = kiln(['run', '--name', name, '-p', `${port}:80`, IMAGE, 'true']);
      assert.equal(taken.status, 125);
      assert.equal(taken.stderr, `kiln: Bind for 0.0.0.0:${port} failed: port is already allocated\n`);
      assert.doesNotMatch(kiln(['ps', '-a']).stdout, new RegExp(name), 'no container record');
      assert.deepEqual(endpointsOfName(name), [], 'no endpoint record');
    } finally {
      server.close();
    }
    const unknown = kiln(['run', '--name', `net-unknown-${tag}`, '--network', `no-such-net-${tag}`, IMAGE, 'true']);
    assert.equal(unknown.status, 125);
    assert.equal(unknown.stderr, `kiln: network no-such-net-${tag} not found\n`);
    assert.doesNotMatch(kiln(['ps', '-a']).stdout, new RegExp(`net-unknown-${tag}`));
    for (const [flag, message] of [['99999:80', 'Invalid hostPort: 99999'], ['abc', 'Invalid containerPort: abc'], ['80/sctpx', 'Invalid proto: sctpx'], ['1.2.3:80:80', 'Invalid ip address: 1.2.3']]) {
      const bad = kiln(['run', '--rm', '-p', flag as string, IMAGE, 'true']);
      assert.equal(bad.status, 125, flag);
      assert.equal(bad.stderr, `kiln: ${message}\n`);
    }
  });
});
