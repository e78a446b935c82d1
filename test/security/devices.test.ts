/**
 * Device nodes, tried as root inside `kiln run` and inside a RUN step, against docker: a node
 * the container makes (mknod works, as under docker) for a loop device, zram, kvm, fuse, a
 * serial port and the host's own disk cannot be opened (EPERM from the device cgroup), while
 * /dev/null and the other default nodes work; `--device` adds exactly the node and access it
 * names; a missing `--device` is a clear error that leaves nothing behind. The cgroup v2 eBPF
 * form of the allow-list is tried on its own on the host's unified hierarchy.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { prerequisite } from '../support/env.js';
import { openSandbox, ready, why, withDocker, whyDocker, type Sandbox } from './fixture.js';
import { hostCgroupLayout } from '../../engine/runtime/cgroupLayout.js';
import { BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, BPF_PROG_TYPE_CGROUP_DEVICE, deviceProgram } from '../../engine/runtime/deviceProgram.js';
import { splitDeviceNumber } from '../../engine/runtime/hostDevices.js';
import { nativeBinding } from '../../native/index.js';

/** The host's numbers for a node when it has one (zram's major is given out at boot). */
function hostNumbers(path: string, fallback: [number, number]): [number, number] {
  try {
    const { major, minor } = splitDeviceNumber(BigInt(statSync(path).rdev));
    return [major, minor];
  } catch {
    return fallback;
  }
}

/** The host's first disk, from /proc/partitions. */
function hostDisk(): [number, number] {
  const line = readFileSync('/proc/partitions', 'utf8').split('\n').slice(2).find((l) => l.trim() !== '');
  const [major, minor] = (line ?? '8 0').trim().split(/\s+/).map(Number);
  return [major ?? 8, minor ?? 0];
}

const PROBES: { name: string; type: 'b' | 'c'; numbers: [number, number] }[] = [
  { name: 'loop0', type: 'b', numbers: [7, 0] },
  { name: 'zram0', type: 'b', numbers: hostNumbers('/dev/zram0', [252, 0]) },
  { name: 'kvm', type: 'c', numbers: [10, 232] },
  { name: 'fuse', type: 'c', numbers: [10, 229] },
  { name: 'ttyS0', type: 'c', numbers: [4, 64] },
  { name: 'disk', type: 'b', numbers: hostDisk() },
];

/** mknod each probe node, then open it for reading and for writing; then the default nodes. */
const SCRIPT = [
  ...PROBES.map((p) => `mknod /tmp/${p.name} ${p.type} ${p.numbers[0]} ${p.numbers[1]} && echo "${p.name} mknod ok" || echo "${p.name} mknod refused"; ` +
    `echo "${p.name} read $(/probe open /tmp/${p.name} r) write $(/probe open /tmp/${p.name} w)"; rm -f /tmp/${p.name}`),
  ...['null', 'zero', 'full', 'random', 'urandom'].map((n) => `echo "/dev/${n} read $(/probe open /dev/${n} r) write $(/probe open /dev/${n} w)"`),
].join('\n');

function refusedEverywhere(output: string): void {
  for (const p of PROBES) {
    assert.match(output, new RegExp(`^${p.name} mknod ok$`, 'm'), `mknod of ${p.name} works, as under docker`);
    assert.match(output, new RegExp(`^${p.name} read EPERM write EPERM$`, 'm'), `${p.name} cannot be opened`);
  }
  for (const n of ['null', 'zero', 'full', 'random', 'urandom']) assert.match(output, new RegExp(`^/dev/${n} read ok write ok$`, 'm'));
}

describe('security: device nodes', () => {
  let box: Sandbox;
  before(async () => {
    if (ready) box = await openSandbox('dev');
  });
  after(async () => {
    if (ready) await box.dispose();
  });

  test('kiln run: nodes a container makes cannot be opened, the defaults can (same as docker run)', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const k = await box.kilnRun([], ['sh', '-c', SCRIPT]);
    assert.equal(k.code, 0, k.stderr);
    refusedEverywhere(k.stdout);
    if (!prerequisite(t, withDocker, whyDocker)) return;
    const d = await box.dockerRun([], ['sh', '-c', SCRIPT]);
    assert.equal(k.stdout, d.stdout);
  });

  test('RUN step: the same refusals as docker build', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const k = await box.kilnStep(SCRIPT);
    refusedEverywhere(k);
    if (!prerequisite(t, withDocker, whyDocker)) return;
    assert.equal(k, await box.dockerStep(SCRIPT));
  });

  test('--device adds the node with the access it names (same as docker run)', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    if (!prerequisite(t, existsSync('/dev/loop0') && existsSync('/dev/fuse'), 'needs /dev/loop0 and /dev/fuse on the host')) return;
    const script = 'stat -c "%F %t:%T %a" /dev/xvdq /dev/fuse; echo "xvdq read $(/probe open /dev/xvdq r) write $(/probe open /dev/xvdq w)"; ' +
      'echo "fuse read $(/probe open /dev/fuse r)"; mknod /tmp/l1 b 7 1; echo "loop1 read $(/probe open /tmp/l1 r)"';
    const flags = ['--device', '/dev/loop0:/dev/xvdq:r', '--device', '/dev/fuse'];
    const k = await box.kilnRun(flags, ['sh', '-c', script]);
    assert.equal(k.code, 0, k.stderr);
    assert.match(k.stdout, /^block special file 7:0 600\n/);
    assert.match(k.stdout, /^xvdq read ok write EPERM$/m, 'read-only: as the rule says');
    assert.match(k.stdout, /^loop1 read EPERM$/m, 'only the node named is allowed');
    assert.doesNotMatch(k.stdout, /^fuse read EPERM$/m);
    if (!prerequisite(t, withDocker, whyDocker)) return;
    assert.equal(k.stdout, (await box.dockerRun(flags, ['sh', '-c', script])).stdout);
  });

  test('a --device that does not exist: docker\'s message, exit 125, no container left', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const before = (await box.kiln(['ps', '-a', '-q'])).stdout;
    const r = await box.kilnRun(['--device', '/dev/no-such-device-kiln'], ['true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /error gathering device information while adding custom device "\/dev\/no-such-device-kiln": no such file or directory/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal((await box.kiln(['ps', '-a', '-q'])).stdout, before, 'no container record');
    const bad = await box.kilnRun(['--device', '/dev/null:/dev/x:rwz'], ['true']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid device specification: \/dev\/null:\/dev\/x:rwz/);
  });

  test('cgroup v2: the eBPF program allows exactly its rules (the unified hierarchy of this host)', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const layout = hostCgroupLayout();
    const unified = layout?.version === 'v2' ? layout.mountPoint : layout?.unified;
    if (!prerequisite(t, unified !== undefined, 'needs a cgroup2 hierarchy')) return;
    const dir = join(unified as string, `kiln-bpf-test-${process.pid}`);
    mkdirSync(dir);
    try {
      const native = nativeBinding();
      const fd = openSync(dir, 'r');
      const prog = native.loadBpfProgram(BPF_PROG_TYPE_CGROUP_DEVICE, deviceProgram([
        { type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
        { type: 'c', major: 1, minor: 7, access: 'r' }, // full: read only
        { type: 'b', major: '*', minor: '*', access: 'm' },
      ]), 'Apache-2.0');
      native.attachBpfProgram(fd, prog, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI);
      const scratch = join(box.root, 'bpf');
      mkdirSync(scratch);
      const script = `echo $$ > ${dir}/cgroup.procs; for p in "/dev/zero r" "/dev/zero w" "/dev/full r" "/dev/full w" "/dev/null r"; do set -- $p; echo "$1 $2 $(${box.probe} open $1 $2)"; done; ` +
        `mknod ${scratch}/b b 7 0 && echo "mknod b ok"; mknod ${scratch}/c c 1 9 || echo "mknod c refused"`;
      const out = await new Promise<string>((resolve) => {
        const child = spawn('/bin/busybox', ['sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
        let text = '';
        child.stdout.on('data', (c: Buffer) => { text += c.toString(); });
        child.on('close', () => resolve(text));
      });
      closeSync(fd);
      closeSync(prog);
      assert.equal(out, '/dev/zero r ok\n/dev/zero w ok\n/dev/full r ok\n/dev/full w EPERM\n/dev/null r EPERM\nmknod b ok\nmknod c refused\n');
    } finally {
      rmdirSync(dir);
    }
  });
});
