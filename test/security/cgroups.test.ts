/**
 * A cgroup for every container, limits or not: while `kiln run` runs, its container is in a
 * cgroup of its own (devices, and the unified hierarchy of a hybrid host) named after the kiln
 * process that owns it, and it is gone afterwards. A `kiln run` killed with SIGKILL (with or
 * without `--memory`) leaves its cgroups, and the next kiln that starts a container removes
 * them — but never those of a kiln still running. Inside, kiln run and a RUN step each see a
 * devices cgroup of their own holding docker's rules, compared with docker run and docker build.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kilnBin, prerequisite } from '../support/env.js';
import { openSandbox, ready, why, withDocker, whyDocker, type Sandbox } from './fixture.js';
import { hostCgroupLayout } from '../../engine/runtime/cgroupLayout.js';
import { cgroupsOwnedBy } from '../support/containers.js';

/** The container cgroups a kiln process owns, in every hierarchy. */
function cgroupsOf(kilnPid: number): string[] {
  return cgroupsOwnedBy((pid) => pid === kilnPid);
}

/** Starts `kiln run` whose container prints "started" and then waits on its stdin. */
function holdingRun(box: Sandbox, flags: string[]): { child: ChildProcessWithoutNullStreams; started: Promise<void>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [kilnBin, 'run', '--rm', '-i', ...flags, box.image, 'sh', '-c', 'echo started; read line'], {
    env: { ...process.env, KILN_ROOT: join(box.root, 'store') },
  });
  const started = new Promise<void>((resolve) => {
    let text = '';
    child.stdout.on('data', (c: Buffer) => { text += c.toString(); if (text.includes('started')) resolve(); });
  });
  const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, started, exit };
}

describe('security: a cgroup per container', () => {
  let box: Sandbox;
  before(async () => {
    if (ready) box = await openSandbox('cg');
  });
  after(async () => {
    if (ready) await box.dispose();
  });

  test('a container without limits has cgroups of its own while it runs, named after its kiln; none after', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const layout = hostCgroupLayout();
    if (!prerequisite(t, layout !== undefined, 'needs cgroups')) return;
    const run = holdingRun(box, []);
    try {
      await run.started;
      const dirs = cgroupsOf(run.child.pid as number);
      const hierarchies = dirs.map((d) => d.split('/').slice(-3, -2)[0] ?? '');
      if (layout?.version === 'v1') {
        assert.ok(hierarchies.includes('devices'), `joined the devices hierarchy: ${dirs.join(' ')}`);
        if (layout.unified !== undefined) assert.ok(dirs.some((d) => d.startsWith(layout.unified as string)), 'and the unified one');
        // As docker's do: the accounting controllers are joined without limits too, so stats and pause work.
        for (const controller of ['memory', 'cpu', 'cpuacct', 'pids', 'blkio', 'freezer']) {
          assert.ok(hierarchies.some((h) => h.split(',').includes(controller)), `joined the ${controller} hierarchy without limits: ${dirs.join(' ')}`);
        }
      } else {
        assert.equal(dirs.length, 1);
      }
      for (const d of dirs) assert.notEqual(readFileSync(join(d, 'cgroup.procs'), 'utf8').trim(), '', `${d} holds the container`);
      run.child.stdin.end('done\n');
      assert.equal(await run.exit, 0);
    } finally {
      // A failed assertion must not leave the container waiting on its stdin (the suite would hang).
      if (run.child.exitCode === null && run.child.signalCode === null) {
        if (run.child.stdin.writableEnded) run.child.kill('SIGTERM');
        else run.child.stdin.end('done\n');
        await run.exit;
      }
    }
    assert.deepEqual(cgroupsOf(run.child.pid as number), [], 'removed when the container ended');
  });

  test('kiln run and a RUN step each have a devices cgroup of their own with docker\'s rules (docker run\'s; docker build\'s without the console)', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const layout = hostCgroupLayout();
    if (layout?.version !== 'v1') {
      t.diagnostic('no v1 devices controller on this host: devices.test.ts tries the v2 eBPF program instead');
      return;
    }
    // In its cgroup namespace a container sees its own cgroup as the root of the hierarchy.
    const script = 'sort /sys/fs/cgroup/devices/devices.list';
    const run = await box.kilnRun([], ['sh', '-c', script]);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stdout, /^a /m, 'not the host\'s root cgroup, which allows every device');
    assert.match(run.stdout, /^c 1:3 rwm$/m);
    const step = await box.kilnStep(script);
    assert.equal(step, run.stdout.replace('c 5:1 rwm\n', ''), 'a RUN step: the same without the host console');
    if (!prerequisite(t, withDocker, whyDocker)) return;
    assert.equal(run.stdout, (await box.dockerRun([], ['sh', '-c', script])).stdout);
    assert.equal(step, await box.dockerStep(script));
  });

  for (const flags of [['--memory', '64m'], []]) {
    test(`kill -9 of kiln run ${flags.join(' ') || '(no limits)'} leaves its cgroups; the next kiln run removes them, not a live kiln's`, async (t) => {
      if (!prerequisite(t, ready, why)) return;
      if (!prerequisite(t, hostCgroupLayout() !== undefined, 'needs cgroups')) return;
      const live = holdingRun(box, []);
      const killed = holdingRun(box, flags);
      await Promise.all([live.started, killed.started]);
      const left = cgroupsOf(killed.child.pid as number);
      assert.ok(left.length > 0);
      if (flags.length > 0) assert.ok(left.some((d) => d.includes('/memory/')), 'the memory hierarchy too');
      killed.child.kill('SIGKILL');
      await killed.exit;
      assert.deepEqual(cgroupsOf(killed.child.pid as number), left, 'SIGKILL skips the clean-up');
      const next = await box.kilnRun([], ['true']);
      assert.equal(next.code, 0, next.stderr);
      assert.deepEqual(cgroupsOf(killed.child.pid as number), [], 'swept by the next kiln that started a container');
      assert.ok(cgroupsOf(live.child.pid as number).length > 0, 'a running kiln\'s cgroups are left alone');
      live.child.stdin.end('done\n');
      assert.equal(await live.exit, 0);
    });
  }
});
