/**
 * A build's RUN steps on the default bridge take turns in network namespaces
 * (runtime/network/namespacePool.ts). What a user must be able to count on: every step has
 * its network, a step cannot change it for the steps after it (it tries, as root), a step
 * granted every capability never shares one, and nothing of it outlives the build — nor a
 * build killed outright, once the next kiln has run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand, isRoot, kilnBin, prerequisite } from '../support/env.js';
import { haveBusybox } from '../../harness/busyboxImage.js';
import type { OutsideHost } from '../../harness/outsideHost.js';
import { allEndpoints, linkExists, until, type EndpointOnDisk } from '../support/networkState.js';
import { networkFixture, type NetworkFixture } from '../support/networkFixture.js';

const ready = isRoot && haveBusybox && hasCommand('ip') && hasCommand('nft');
const why = 'needs root, /bin/busybox, ip (iproute2) and nft (nftables)';
const IMAGE = 'kiln-test/busybox:latest';

/** What a step writes about its network: its namespace, its address, its host-side peer's index. */
const NETWORK_FACTS = (n: string, url: string): string =>
  `stat -L -c %i /proc/self/ns/net > /ns${n} && ip -4 -o addr show eth0 | awk '{print $4}' > /addr${n} && cat /sys/class/net/eth0/iflink > /peer${n} && wget -qO /fetched${n} ${url}`;

/** Each change a root step with docker's default capabilities could try on its namespace; all must fail. */
const TAMPERING = [
  'ip link set eth0 down',
  'ip addr add 10.254.254.2/24 dev eth0',
  'ip route del default',
  'ip link set lo mtu 1280',
  'echo 1024 > /proc/sys/net/ipv4/ip_unprivileged_port_start',
  'echo 0 > /proc/sys/net/ipv4/ip_forward',
].map((c, i) => `(${c}) 2>/dev/null && echo changed-${i} >> /tampered || echo refused-${i} >> /tampered`).join('; ');

function hostHasLinkIndex(index: number): boolean {
  return spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout.split('\n').some((l) => l.startsWith(`${index}:`));
}

describe('RUN steps share network namespaces within a build, safely', () => {
  let root: string;
  let ctx: string;
  let outside: OutsideHost;
  let fixture: NetworkFixture | undefined;
  before(async () => {
    if (!ready) return;
    fixture = await networkFixture('netpool', IMAGE);
    ({ root, outside } = fixture);
    ctx = await mkdtemp(join(tmpdir(), 'kiln-netpool-ctx-'));
  });
  after(async () => {
    await fixture?.close();
    if (ctx !== undefined) await rm(ctx, { recursive: true, force: true });
  });

  function kiln(args: string[]): { status: number | null; stdout: string; stderr: string; pid: number | undefined } {
    const r = spawnSync(kilnBin, args, { env: { ...process.env, KILN_ROOT: root }, encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, pid: r.pid };
  }

  /** A build (in the background) whose second RUN step is running `sleep SECONDS…` (unique to this test run), with its endpoint. */
  async function buildInRunStep(ctx: string, seconds: number): Promise<{ build: ChildProcess; pid: number; endpoint: EndpointOnDisk; marker: string }> {
    const marker = `sleep ${seconds + (process.pid % 997)}`;
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${IMAGE}\nRUN true\nRUN ${marker}\n`);
    const build = spawn(kilnBin, ['build', '-q', '--no-cache', ctx], { env: { ...process.env, KILN_ROOT: root }, stdio: 'ignore' });
    const pid = build.pid as number;
    await until(() => allEndpoints().some((e) => e.owner.pid === pid) && spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' }).stdout.trim() !== '');
    const [endpoint] = allEndpoints().filter((e) => e.owner.pid === pid);
    assert.ok(endpoint);
    return { build, pid, endpoint, marker };
  }

  test('every step has its network; a root step cannot change it for the next; an insecure step gets its own; nothing is left', { timeout: 120_000 }, async (t) => {
    if (!prerequisite(t, ready, why)) return;
    await writeFile(join(ctx, 'Dockerfile'), [
      `FROM ${IMAGE}`,
      `RUN ${NETWORK_FACTS('1', outside.url)}`,
      `RUN ${TAMPERING}`,
      `RUN ${NETWORK_FACTS('3', outside.url)} && ls -l /proc/self/fd/ > /fds3`,
      `RUN --security=insecure stat -L -c %i /proc/self/ns/net > /ns4 && ip link set lo down && ip addr add 10.254.254.3/32 dev lo`,
      `RUN ${NETWORK_FACTS('5', outside.url)} && ip link show lo | grep -q LOWER_UP && ! ip addr show lo | grep -q 10.254.254.3`,
    ].join('\n') + '\n');
    const tag = `kiln-test/netpool-${process.pid}`;
    const b = kiln(['build', '-q', '--no-cache', '--allow', 'security.insecure', '-t', tag, ctx]);
    assert.equal(b.status, 0, b.stderr);
    const r = kiln(['run', '--rm', tag, 'sh', '-c', 'for f in ns1 ns3 ns4 ns5 addr1 addr3 addr5 peer1 peer3 peer5; do echo "$f=$(cat /$f)"; done; cat /tampered; cat /fetched1 /fetched3 /fetched5']);
    assert.equal(r.status, 0, r.stderr);
    const facts = new Map(r.stdout.split('\n').filter((l) => /^[a-z]+\d=/.test(l)).map((l) => l.split('=') as [string, string]));
    assert.equal(r.stdout.split('\n').filter((l) => /^(changed|refused)-/.test(l)).join(' '), [0, 1, 2, 3, 4, 5].map((i) => `refused-${i}`).join(' '), 'every change to the namespace was refused');
    assert.ok(r.stdout.endsWith(`${outside.body}${outside.body}${outside.body}`), 'every step reached the outside host');
    // The descriptor the pool holds the namespace by is the child's only until it has joined: the step has none.
    const fds = kiln(['run', '--rm', tag, 'cat', '/fds3']);
    assert.equal(fds.status, 0, fds.stderr);
    assert.match(fds.stdout, /pipe:\[/, 'the listing is the step\'s own descriptors');
    assert.doesNotMatch(fds.stdout, /net:\[|mnt:\[/, 'no namespace descriptor reached a pooled step');
    assert.equal(facts.get('ns3'), facts.get('ns1'), 'the third step ran in the namespace the first one left');
    assert.equal(facts.get('addr3'), facts.get('addr1'));
    assert.notEqual(facts.get('ns4'), facts.get('ns1'), 'the insecure step had a namespace of its own');
    assert.equal(facts.get('ns5'), facts.get('ns1'), 'the insecure step\'s namespace never joined the pool');
    assert.notEqual(Number(facts.get('ns1')), statSync('/proc/self/ns/net').ino, 'not the host\'s namespace');
    assert.deepEqual(allEndpoints().filter((e) => e.owner.pid === b.pid), [], 'no endpoint record of the build is left');
    const peer = Number(facts.get('peer1'));
    await until(() => !hostHasLinkIndex(peer));
  });

  test('a build whose RUN fails, and one interrupted in a RUN step, leave no endpoint and no link of theirs', { timeout: 120_000 }, async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const failing = await mkdtemp(join(tmpdir(), 'kiln-netpool-failing-'));
    try {
      await writeFile(join(failing, 'Dockerfile'), `FROM ${IMAGE}\nRUN cat /sys/class/net/eth0/iflink > /peer\nRUN exit 3\n`);
      const b = kiln(['build', '-q', '--no-cache', failing]);
      assert.equal(b.status, 3, b.stderr);
      assert.deepEqual(allEndpoints().filter((e) => e.owner.pid === b.pid), [], 'no endpoint record of the failed build');

      const { build, pid, endpoint, marker } = await buildInRunStep(failing, 4000);
      build.kill('SIGINT');
      const code = await new Promise<number | null>((resolve) => build.once('exit', (c) => resolve(c)));
      assert.notEqual(code, 0, 'an interrupted build fails');
      assert.deepEqual(allEndpoints().filter((e) => e.owner.pid === pid), [], 'the interrupted build released its endpoint itself');
      await until(() => !linkExists(endpoint.veth));
      assert.equal(spawnSync('pgrep', ['-f', marker]).status, 1, 'the step\'s process is gone');
    } finally {
      await rm(failing, { recursive: true, force: true });
    }
  });

  test('kill -9 of a build in a RUN step: the next kiln sweeps its endpoint; its namespace and link go with it', { timeout: 120_000 }, async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const killedCtx = await mkdtemp(join(tmpdir(), 'kiln-netpool-killed-'));
    try {
      const { build, pid, endpoint, marker } = await buildInRunStep(killedCtx, 3000);
      build.kill('SIGKILL');
      await new Promise((resolve) => build.once('exit', resolve));
      const next = kiln(['run', '--rm', IMAGE, 'true']);
      assert.equal(next.status, 0, next.stderr);
      assert.deepEqual(allEndpoints().filter((e) => e.owner.pid === pid), [], 'the killed build\'s endpoint was swept');
      await until(() => !linkExists(endpoint.veth));
      assert.equal(spawnSync('pgrep', ['-f', marker]).status, 1, 'the step\'s process died with the build');
    } finally {
      await rm(killedCtx, { recursive: true, force: true });
    }
  });
});
