/**
 * What a RUN container leaves once its layer is taken (its cgroup, its private state dir) is
 * removed behind the build's next steps (ContainerSpec.teardownBehind), not before them. What a
 * user must still be able to count on: a step's processes, a background one it left included,
 * are gone before its layer is read and before the next step runs; and nothing of any step
 * outlives the build, one that succeeds or one whose step fails.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoot, kilnBin, prerequisite } from '../support/env.js';
import { cgroupsOwnedBy, leftoverMounts } from '../support/containers.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { Store } from '../../engine/store/store.js';

const ready = isRoot && haveBusybox;
const why = 'needs root and /bin/busybox';
const IMAGE = 'kiln-test/busybox:latest';

/** A container's private state dirs of kiln process `pid`, wherever the runtime keeps them. */
function stateDirsOf(pid: number): string[] {
  return ['/dev/shm', tmpdir()].filter((d) => existsSync(d)).flatMap((d) => readdirSync(d).filter((n) => n.startsWith(`kiln-ctr-${pid}-`)).map((n) => join(d, n)));
}

function processesMatching(pattern: string): string {
  return spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).stdout.trim();
}

describe('a RUN container is taken down behind the next steps', () => {
  let root: string;
  let ctx: string;
  before(async () => {
    if (!ready) return;
    root = await mkdtemp(join(tmpdir(), 'kiln-teardown-store-'));
    await commitBusyboxImage(await Store.open({ root }), IMAGE);
    ctx = await mkdtemp(join(tmpdir(), 'kiln-teardown-ctx-'));
  });
  after(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true });
    if (ctx !== undefined) await rm(ctx, { recursive: true, force: true });
  });

  function build(dockerfile: string): { status: number | null; stderr: string; pid: number } {
    const r = spawnSync(kilnBin, ['build', '-q', '--no-cache', '-f', join(ctx, dockerfile), '-t', 'kiln-test/teardown', ctx], { env: { ...process.env, KILN_ROOT: root }, encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, stderr: r.stderr, pid: r.pid as number };
  }

  test('a background process a step leaves dies with it: it writes nothing into the layer, the next step or the image', { timeout: 120_000 }, async (t) => {
    if (!prerequisite(t, ready, why)) return;
    // The writer sleeps a time unique to this run, so the check below finds no other process.
    const nap = `0.${400 + (process.pid % 97)}`;
    await writeFile(join(ctx, 'background.Dockerfile'), [
      `FROM ${IMAGE}`,
      `RUN (sleep ${nap}; echo late > /late; echo late > /early) & echo early > /early`,
      // Had the writer outlived its step, it would write into this step's lower dir meanwhile.
      'RUN sleep 1; test ! -e /late && test "$(cat /early)" = early',
      '',
    ].join('\n'));
    const r = build('background.Dockerfile');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(processesMatching(`sleep ${nap}`), '', 'the step\'s background process is gone');
    const check = spawnSync(kilnBin, ['run', '--rm', 'kiln-test/teardown', 'sh', '-c', 'test ! -e /late && cat /early'], { env: { ...process.env, KILN_ROOT: root }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(check.status, 0, check.stderr);
    assert.equal(check.stdout, 'early\n', 'the image holds what the step wrote, and nothing its background process would have');
  });

  test('under chroot isolation (no PID namespace) a step\'s background process is killed before its layer is taken', { timeout: 120_000 }, async (t) => {
    if (!prerequisite(t, ready, why)) return;
    // From a second after the command's exit it writes on and on: only a kill when the command
    // exits keeps /late out of the layer and out of the next step. Left alive, it also holds the
    // step's output open, and the build would never end: it gets 30 s.
    const marker = `late-${process.pid}`;
    await writeFile(join(ctx, 'chroot.Dockerfile'), [
      `FROM ${IMAGE}`,
      `RUN (sleep 1; while :; do echo ${marker} > /late; done) & echo early > /early`,
      'RUN sleep 1.5; test ! -e /late && test "$(cat /early)" = early',
      '',
    ].join('\n'));
    try {
      const r = spawnSync(kilnBin, ['build', '-q', '--no-cache', '--isolation', 'chroot', '-f', join(ctx, 'chroot.Dockerfile'), '-t', 'kiln-test/teardown-chroot', ctx], { env: { ...process.env, KILN_ROOT: root }, encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
      assert.equal(r.status, 0, r.error ? `the build did not end: ${r.error.message}` : r.stderr);
      assert.equal(processesMatching(marker), '', 'the step\'s background writer is gone');
      assert.deepEqual(cgroupsOwnedBy((p) => p === r.pid), [], 'no cgroup of the build\'s steps');
    } finally {
      spawnSync('pkill', ['-9', '-f', marker]); // a writer that escaped: not left to run on after a failure
    }
  });

  test('nothing of a build\'s containers is left once it ends: no cgroup, state dir or mount, whether it succeeds or a step fails', { timeout: 120_000 }, async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const steps = Array.from({ length: 6 }, (_, i) => `RUN echo ${i} > /step${i}`);
    await writeFile(join(ctx, 'ok.Dockerfile'), [`FROM ${IMAGE}`, ...steps, ''].join('\n'));
    await writeFile(join(ctx, 'fails.Dockerfile'), [`FROM ${IMAGE}`, ...steps.slice(0, 3), 'RUN exit 3', ...steps.slice(3), ''].join('\n'));
    for (const [file, status] of [['ok.Dockerfile', 0], ['fails.Dockerfile', 3]] as const) {
      const r = build(file);
      assert.equal(r.status, status, `${file}: ${r.stderr}`);
      assert.deepEqual(cgroupsOwnedBy((p) => p === r.pid), [], `${file}: no cgroup of the build's containers`);
      assert.deepEqual(stateDirsOf(r.pid), [], `${file}: no state dir of the build's containers`);
    }
    assert.deepEqual(leftoverMounts(), [], 'no container mount on the host');
  });
});
