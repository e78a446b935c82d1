/**
 * A COPY's layer is written straight from its sources: the build leaves only the blob, and the
 * layer's snapshot dir appears when something needs the files — a later RUN, COPY --from that
 * stage, `kiln run` — with the files as copied.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { isRoot, prerequisite } from '../support/env.js';
import { makeContext, runKiln, succeeds } from '../support/kilnProcess.js';

const base = mkdtempSync(join(tmpdir(), 'kiln-copy-snapshot-'));
const storeRoot = join(base, 'store');

before(async () => {
  if (!isRoot || !haveBusybox) return;
  await commitBusyboxImage(await Store.open({ root: storeRoot }), 'kiln-test/busybox:latest');
});
after(() => rmSync(base, { recursive: true, force: true }));

async function topLayer(image: string): Promise<string> {
  const store = await Store.open({ root: storeRoot });
  const rec = await store.requireImage(image);
  return rec.config.rootfs.diff_ids[rec.config.rootfs.diff_ids.length - 1] as string;
}

function snapshotExists(diffId: string): boolean {
  return existsSync(join(storeRoot, 'snapshots', diffId.replace(/^sha256:/, '')));
}

test('a COPY-only build leaves the layer as a blob; kiln run and a later build read its files', async (t) => {
  if (!prerequisite(t, isRoot, 'build containers need root') || !prerequisite(t, haveBusybox, 'needs /bin/busybox (busybox-static)')) return;
  const ctx = makeContext(base, 'ctx', 'FROM kiln-test/busybox\nCOPY files /data/\n', { 'files/a.txt': 'alpha\n', 'files/sub/b.txt': 'beta\n' }, 1_600_000_000);
  symlinkSync('a.txt', join(ctx, 'files', 'link'));
  await succeeds(runKiln(storeRoot, ['build', '-q', '-t', 'copied', ctx]));
  const layer = await topLayer('copied');
  assert.ok(existsSync(join(storeRoot, 'blobs', 'sha256', layer.replace(/^sha256:/, ''))), 'the layer blob is stored');
  assert.equal(snapshotExists(layer), false, 'no snapshot dir until something needs the files');

  const run = await succeeds(runKiln(storeRoot, ['run', '--rm', 'copied', 'cat', '/data/link', '/data/sub/b.txt']));
  assert.equal(run.stdout, 'alpha\nbeta\n');
  assert.equal(snapshotExists(layer), true, 'kiln run extracted the layer');

  // A later RUN and COPY --from of a stage whose COPY layer has no snapshot yet.
  const ctx2 = makeContext(base, 'ctx2', [
    'FROM kiln-test/busybox AS files',
    'COPY files /data/',
    'RUN cat /data/a.txt /data/sub/b.txt > /both',
    'FROM kiln-test/busybox',
    'COPY --from=files /data /again/',
    'COPY --from=files /both /both',
    'CMD ["sh", "-c", "cat /again/a.txt /both"]',
  ].join('\n') + '\n', { 'files/a.txt': 'gamma\n', 'files/sub/b.txt': 'delta\n' }, 1_600_000_000);
  await succeeds(runKiln(storeRoot, ['build', '-q', '-t', 'later', ctx2]));
  const out = await succeeds(runKiln(storeRoot, ['run', '--rm', 'later']));
  assert.equal(out.stdout, 'gamma\ngamma\ndelta\n');
});

test('a COPY layer rebuilt in another store, where it was never extracted, has the same image ID', async (t) => {
  if (!prerequisite(t, isRoot, 'build containers need root') || !prerequisite(t, haveBusybox, 'needs /bin/busybox (busybox-static)')) return;
  const ctx = makeContext(base, 'same', 'FROM kiln-test/busybox\nCOPY files /data/\nCOPY files/a.txt /data/again\n', { 'files/a.txt': 'a\n', 'files/b/c.txt': 'c\n' }, 1_600_000_000);
  const first = await succeeds(runKiln(storeRoot, ['build', '-q', '--no-cache', '-t', 'same', ctx]));
  const otherRoot = join(base, 'other');
  await commitBusyboxImage(await Store.open({ root: otherRoot }), 'kiln-test/busybox:latest');
  const second = await succeeds(runKiln(otherRoot, ['build', '-q', '-t', 'same', ctx]));
  assert.equal(second.stdout, first.stdout);
});
