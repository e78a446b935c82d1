/**
 * A container on the default bridge is root with NET_RAW inside: it tries to see the host's
 * traffic, the host's ports and abstract unix sockets, and to reach the host's 127.0.0.1 with a
 * forged frame (kiln's bridges have route_localnet on, for ports published on 127.0.0.1). Each
 * attempt runs once with `--network host` too, to show the probe would succeed there.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand, isRoot, kilnBin, prerequisite } from '../support/env.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { makeOutsideHost, type OutsideHost } from '../../harness/outsideHost.js';
import { haveCompiler, netProbe, removeNetProbe } from '../support/netProbe.js';
import { Store } from '../../engine/store/store.js';
import { until } from '../support/networkState.js';

const ready = isRoot && haveBusybox && haveCompiler && hasCommand('ip') && hasCommand('nft');
const why = 'needs root, /bin/busybox, gcc (for the probe), ip and nft';
const IMAGE = 'kiln-test/busybox:latest';

describe('network: a container cannot reach out of its namespace', () => {
  let root: string;
  let probe: string;
  let outside: OutsideHost;
  const marker = `kiln-marker-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
  before(async () => {
    if (!ready) return;
    root = await mkdtemp(join(tmpdir(), 'kiln-hostile-store-'));
    await commitBusyboxImage(await Store.open({ root }), IMAGE);
    probe = netProbe();
    outside = await makeOutsideHost();
  });
  after(async () => {
    if (!ready) return;
    outside?.close();
    removeNetProbe();
    await rm(root, { recursive: true, force: true });
  });

  function kiln(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(kilnBin, args, { env: { ...process.env, KILN_ROOT: root }, encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  const probeMount = (): string[] => ['-v', `${probe}:/probe:ro`];

  async function listenUdp(address: string): Promise<{ socket: Socket; port: number; received: string[] }> {
    const socket = createSocket('udp4');
    const received: string[] = [];
    socket.on('message', (m) => received.push(m.toString()));
    await new Promise<void>((r) => socket.bind(0, address, () => r()));
    return { socket, port: socket.address().port, received };
  }

  /** Sends UDP datagrams holding the marker along the host's own paths: loopback and the link to the outside host. */
  async function hostTraffic(): Promise<void> {
    const s = createSocket('udp4');
    for (const dest of ['127.0.0.1', outside.address]) {
      for (let i = 0; i < 5; i++) await new Promise<void>((r) => s.send(`${marker}-${i}`, 9, dest, () => r()));
    }
    s.close();
  }

  /** Runs the capture probe in a container; the host sends its traffic once the probe is ready. */
  async function capture(network: string, sentinel: { ip: string; port: number }): Promise<string> {
    const child = spawn(kilnBin, ['run', '--rm', '-i', '--network', network, ...probeMount(), IMAGE, '/probe', 'capture', marker, sentinel.ip, String(sentinel.port)], {
      env: { ...process.env, KILN_ROOT: root }, stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('ready\n')) resolve(); });
      child.on('exit', (code) => reject(new Error(`probe exited ${code}: ${out}`)));
    });
    await hostTraffic();
    child.stdin.end('go\n');
    await new Promise((r) => child.on('exit', r));
    return out;
  }

  test('AF_PACKET capture sees the container\'s own traffic, none of the host\'s', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const sink = await listenUdp('0.0.0.0');
    try {
      const gateway = kiln(['run', '--rm', IMAGE, 'sh', '-c', "ip route | awk '/default/ {print $3}'"]).stdout.trim();
      const own = await capture('bridge', { ip: gateway, port: sink.port });
      const m = /seen (\d+) marked (\d+)/.exec(own);
      assert.ok(m, own);
      assert.ok(Number(m[1]) >= 1, 'the probe sees its own sentinel');
      assert.equal(Number(m[2]), 0, 'no packet of the host\'s traffic');
      const host = await capture('host', { ip: '127.0.0.1', port: sink.port });
      assert.notEqual(/marked (\d+)/.exec(host)?.[1], '0', 'with the host network the same probe sees the host\'s traffic');
    } finally {
      sink.socket.close();
    }
  });

  test('the host\'s listening ports are neither visible nor taken inside', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    let served = 0;
    const server: Server = createServer((s) => { served++; s.end(); });
    const port = await new Promise<number>((resolve) => server.listen(0, '0.0.0.0', () => resolve((server.address() as { port: number }).port)));
    try {
      const hex = port.toString(16).toUpperCase().padStart(4, '0');
      const r = kiln(['run', '--rm', IMAGE, 'sh', '-c', `listening() { cat /proc/net/tcp /proc/net/tcp6 | grep -c ':${hex} .* 0A '; }; listening; nc -l -p ${port} -e true & until [ $(listening) = 1 ]; do :; done; echo bound`]);
      assert.equal(r.stdout, '0\nbound\n', r.stderr);
      assert.equal(served, 0);
      await new Promise<void>((resolve) => { const c = connect(port, '127.0.0.1', () => { c.end(); resolve(); }); });
      await until(() => served === 1); // the host's server still has its port
      const control = kiln(['run', '--rm', '--network', 'host', IMAGE, 'sh', '-c', `cat /proc/net/tcp /proc/net/tcp6 | grep -c ':${hex} .* 0A '`]);
      assert.notEqual(control.stdout.trim(), '0', 'with the host network the listener is visible');
    } finally {
      server.close();
    }
  });

  test('a host abstract unix socket cannot be reached', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const name = `kiln-test-abstract-${process.pid}`;
    let connections = 0;
    const server = createServer((s) => { connections++; s.end(); });
    await new Promise<void>((r) => server.listen(`\0${name}`, () => r()));
    try {
      assert.equal(kiln(['run', '--rm', ...probeMount(), IMAGE, '/probe', 'abstract', name]).stdout, 'error 111\n');
      assert.equal(connections, 0);
      assert.equal(kiln(['run', '--rm', '--network', 'host', ...probeMount(), IMAGE, '/probe', 'abstract', name]).stdout, 'connected\n');
    } finally {
      server.close();
    }
  });

  test('a forged frame to 127.0.0.1 through the bridge is dropped', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const loopback = await listenUdp('127.0.0.1');
    const sentinel = await listenUdp('0.0.0.0');
    try {
      // The gateway's MAC from the container's own ARP table; its address from its route.
      const r = kiln(['run', '--rm', ...probeMount(), IMAGE, 'sh', '-c', [
        "gw=$(ip route | awk '/default/ {print $3}')",
        "me=$(ip -4 addr show eth0 | awk '/inet / {split($2, a, \"/\"); print a[1]}')",
        'ping -c1 $gw >/dev/null',
        "mac=$(awk -v g=$gw '$1 == g {print $4}' /proc/net/arp)",
        `/probe spoof $mac $me ${loopback.port} $gw ${sentinel.port}`,
      ].join('; ')]);
      assert.equal(r.stdout, 'sent\n', r.stderr);
      await until(() => sentinel.received.length > 0);
      assert.deepEqual(loopback.received, [], 'nothing reached the host\'s 127.0.0.1');
    } finally {
      loopback.socket.close();
      sentinel.socket.close();
    }
  });
});
