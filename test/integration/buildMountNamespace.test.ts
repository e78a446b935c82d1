/**
 * A build's mounts live in a mount namespace of kiln's own: a stage view mounted by a running build
 * is not in the host's mount table, and `kill -9` of the build at that moment leaves no mount
 * behind; its scratch dirs are swept by the next command. What an older kiln left (a dir of a dead
 * process with a mount still under it) is unmounted and removed by the next build, from inside its
 * own namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { isRoot, kilnBin, prerequisite } from '../support/env.js';
import { hostMountsUnder, mountPoints } from '../support/containers.js';
import { runKiln } from '../support/kilnProcess.js';

const base = mkdtempSync(join(tmpdir(), 'kiln-mountns-it-'));
const storeRoot = join(base, 'store');
const ready = (t: import('node:test').TestContext): boolean =>
  prerequisite(t, isRoot, 'build containers need root') && prerequisite(t, haveBusybox, 'needs /bin/busybox (busybox-static)');

before(async () => {
  if (!isRoot || !haveBusybox) return;
  await commitBusyboxImage(await Store.open({ root: storeRoot }), 'kiln-test/busybox:latest');
});
after(() => rmSync(base, { recursive: true, force: true }));

test('kill -9 of kiln build while a stage view is mounted leaves no mount on the host; the next command sweeps its dirs', { timeout: 300_000 }, async (t) => {
  if (!ready(t)) return;
  const dir = join(base, 'ctx-killed');
  mkdirSync(dir, { recursive: true });
  // Two layers under the COPY --from: the view is an overlay mount while the RUN after it sleeps.
  writeFileSync(join(dir, 'Dockerfile'), [
    'FROM kiln-test/busybox AS parts',
    'RUN mkdir /parts && echo one > /parts/one',
    'RUN echo two > /parts/two',
    'FROM kiln-test/busybox',
    'ARG NONCE',
    'RUN --mount=type=bind,from=parts,source=/parts,target=/mnt echo "$NONCE" && sleep 30',
    '',
  ].join('\n'));
  const tmp = join(storeRoot, 'tmp');
  const child = spawn(process.execPath, [kilnBin, 'build', '--progress', 'plain', '--build-arg', `NONCE=${Math.random()}`, dir], { env: { ...process.env, KILN_ROOT: storeRoot }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  // Wait until the sleeping RUN has started (its output line), with the view of `parts` in use.
  while (!/\bsleep 30\b/.test(stderr) || !stderr.includes('#')) {
    if (child.exitCode !== null) assert.fail(`the build ended early:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // The view is mounted — in the build's own mount namespace, not the host's.
  const inBuild = (): string[] => mountPoints(child.pid as number).filter((m) => m.startsWith(`${tmp}/`));
  while (inBuild().length === 0) {
    if (child.exitCode !== null) assert.fail(`the build ended early:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(hostMountsUnder(storeRoot), [], 'the stage view is not in the host mount table while the build runs');
  child.kill('SIGKILL');
  await exited;
  assert.deepEqual(hostMountsUnder(storeRoot), [], 'no mount of the killed build is in the host mount table');
  const left = readdirSync(tmp).filter((n) => n.includes(`-${child.pid}-`));
  const r = await runKiln(storeRoot, ['images']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(tmp).filter((n) => n.includes(`-${child.pid}-`)), [], `the killed build's scratch dirs (${left.join(', ')}) are swept by the next command`);
});


test('a dead process\'s scratch dir with a mount still under it is unmounted and removed by the next build', { timeout: 120_000 }, async (t) => {
  if (!ready(t)) return;
  const dir = join(storeRoot, 'tmp', 'build-999999997-4242-AbCdEf');
  mkdirSync(join(dir, 'merged'), { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'kiln-test-leftover', join(dir, 'merged')]);
  assert.equal(mounted.status, 0, mounted.stderr?.toString());
  try {
    const ctx = join(base, 'ctx-sweep');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM kiln-test/busybox\nLABEL swept=yes\n');
    const r = await runKiln(storeRoot, ['build', '-q', ctx]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(hostMountsUnder(dir), [], 'the leftover mount is gone from the host');
    assert.ok(!existsSync(dir), 'the leftover dir is gone');
  } finally {
    spawnSync('umount', ['-l', join(dir, 'merged')]);
  }
});
