/**
 * The store under concurrent use, through the CLI: `kiln prune --all` in a loop while two builds
 * write layers, cache records and stage views beside it (every build succeeds with its image
 * complete, no prune fails); a dead process's lease released by the next command; and what a
 * dead process left in the store's tmp dir (a scratch dir with a mount still under it) swept by
 * the next command, however young.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import { selfTag } from '../../engine/host/processIdentity.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { isRoot, prerequisite } from '../support/env.js';
import { hostMountsUnder } from '../support/containers.js';
import { runKiln, type Result } from '../support/kilnProcess.js';

const base = mkdtempSync(join(tmpdir(), 'kiln-leases-it-'));
const storeRoot = join(base, 'store');
const ready = (t: import('node:test').TestContext): boolean =>
  prerequisite(t, isRoot, 'build containers need root') && prerequisite(t, haveBusybox, 'needs /bin/busybox (busybox-static)');

before(async () => {
  if (!isRoot || !haveBusybox) return;
  await commitBusyboxImage(await Store.open({ root: storeRoot }), 'kiln-test/busybox:latest');
});
after(() => rmSync(base, { recursive: true, force: true }));

/** Two stages, RUN and COPY layers, a COPY --from a stage of several layers (a mounted view). */
function recipe(name: string): string {
  const dir = join(base, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'input.txt'), `${name}\n`);
  writeFileSync(join(dir, 'Dockerfile'), [
    'FROM kiln-test/busybox AS parts',
    'ARG NONCE',
    'RUN echo "$NONCE" > /nonce && sleep 0.2',
    'COPY input.txt /parts/input.txt',
    'RUN cat /nonce /parts/input.txt > /parts/joined',
    'FROM kiln-test/busybox',
    'ARG NONCE',
    'COPY --from=parts /parts /parts',
    'RUN test -s /parts/joined && echo "$NONCE" >> /parts/joined',
    '',
  ].join('\n'));
  return dir;
}

test('kiln prune --all in a loop beside two running builds: every build succeeds, no prune fails', { timeout: 600_000 }, async (t) => {
  if (!ready(t)) return;
  const contexts = [recipe('ctx-a'), recipe('ctx-b')];
  const builds: Result[] = [];
  const prunes: Result[] = [];
  let building = true;
  const builder = async (ctx: string, n: number): Promise<void> => {
    for (let i = 0; i < 4; i++) {
      const tag = `kiln-test/leases-${n}:${i}`;
      const r = await runKiln(storeRoot, ['build', '--progress', 'plain', '--build-arg', `NONCE=${n}-${i}-${Math.random()}`, '-t', tag, ctx]);
      builds.push(r);
      if (r.code === 0) {
        // The image is whole: it saves (every blob it names is there).
        const saved = await runKiln(storeRoot, ['save', '-o', join(base, `saved-${n}-${i}.tar`), tag]);
        builds.push(saved);
        rmSync(join(base, `saved-${n}-${i}.tar`), { force: true });
        await runKiln(storeRoot, ['rmi', tag]);
      }
    }
  };
  const pruner = async (): Promise<void> => {
    while (building) prunes.push(await runKiln(storeRoot, ['prune', '--all']));
  };
  const loop = pruner();
  await Promise.all(contexts.map((c, n) => builder(c, n)));
  building = false;
  await loop;
  for (const r of builds) assert.equal(r.code, 0, `a build (or the save of its image) failed beside prune:\n${r.stderr}`);
  assert.ok(prunes.length >= 2, `prune ran ${prunes.length} times`);
  for (const r of prunes) assert.equal(r.code, 0, `prune failed beside builds:\n${r.stderr}`);
  const check = await runKiln(storeRoot, ['prune', '--all']);
  assert.equal(check.code, 0, check.stderr);
});

test('a lease of a dead process is released by the next command; a live one keeps its content from prune', async (t) => {
  if (!ready(t)) return;
  const store = await Store.open({ root: storeRoot });
  const held = await store.ingestBlob((async function* () { yield Buffer.from(`held by a live lease ${Math.random()}`); })());
  const writer = await Store.open({ root: storeRoot });
  const orphan = await writer.ingestBlob((async function* () { yield Buffer.from(`held by a dead lease ${Math.random()}`); })());
  writer.release();
  // A dead process's lease (a pid that cannot run now, with a start time) holding `orphan`.
  const leases = join(storeRoot, 'leases');
  writeFileSync(join(leases, '999999999-12345-dead'), `${orphan.digest}\n`);
  // This test process holds `held` (the store's own lease is skipped only by its own collections).
  const r = await runKiln(storeRoot, ['prune', '--all']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(await store.hasBlob(held.digest), 'a blob a live lease holds survives prune --all');
  assert.ok(!(await store.hasBlob(orphan.digest)), 'a blob only a dead lease held is collected');
  assert.ok(!existsSync(join(leases, '999999999-12345-dead')), 'the dead lease file is gone');
  // A lease file whose pid runs but whose start time differs (the pid was reused) is dead too.
  writeFileSync(join(leases, `${process.pid}-1-reused`), `${orphan.digest}\n`);
  await runKiln(storeRoot, ['images']);
  assert.ok(!existsSync(join(leases, `${process.pid}-1-reused`)), 'a lease whose pid was reused is released by the next command');
  store.release();
  const again = await runKiln(storeRoot, ['prune', '--all']);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(!(await store.hasBlob(held.digest)), 'released, the blob is collected');
});

test('a dead process\'s scratch dir with a mount still under it is unmounted and removed by the next command', async (t) => {
  if (!ready(t)) return;
  // What an older kiln (or one without a mount namespace of its own) left: a dir named for a
  // dead process, a tmpfs still mounted in it.
  const dir = join(storeRoot, 'tmp', 'build-999999998-4242-AbCdEf');
  mkdirSync(join(dir, 'merged'), { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'kiln-test-leftover', join(dir, 'merged')]);
  assert.equal(mounted.status, 0, mounted.stderr?.toString());
  try {
    const r = await runKiln(storeRoot, ['images']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(hostMountsUnder(dir), [], 'the leftover mount is gone from the host');
    assert.ok(!existsSync(dir), 'the leftover dir is gone');
  } finally {
    spawnSync('umount', ['-l', join(dir, 'merged')]);
  }
});

test('temp files of killed writers: beside image records and refs (next prune), beside an archive (next save there)', async (t) => {
  if (!ready(t)) return;
  const dead = '999999999-4242';
  mkdirSync(join(storeRoot, 'cache', 'recipes'), { recursive: true });
  const records = [
    join(storeRoot, 'images', `.abc.json.${dead}.0a1b2c.tmp`), join(storeRoot, `.refs.json.${dead}.0a1b2c.tmp`),
    join(storeRoot, 'cache', 'recipes', `0123abcd.json.tmp-${dead}-9171ee64`),
  ];
  for (const f of records) writeFileSync(f, 'half');
  const live = join(storeRoot, 'images', `.abc.json.${selfTag()}.0a1b2c.tmp`);
  writeFileSync(live, 'being written');
  const pruned = await runKiln(storeRoot, ['prune']);
  assert.equal(pruned.code, 0, pruned.stderr);
  for (const f of records) assert.ok(!existsSync(f), `${f} is swept`);
  assert.ok(existsSync(live), 'a live writer\'s temp file stays');
  rmSync(live);
  const out = join(base, 'archives');
  mkdirSync(out, { recursive: true });
  const left = join(out, `.image.tar.kiln-${dead}.tmp`);
  writeFileSync(left, 'a killed save');
  const saved = await runKiln(storeRoot, ['save', '-o', join(out, 'other.tar'), 'kiln-test/busybox']);
  assert.equal(saved.code, 0, saved.stderr);
  assert.ok(!existsSync(left), 'the killed save\'s temp file is swept by the next save into the directory');
});
