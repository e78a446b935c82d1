/**
 * `kiln prune` and `kiln system df` end to end, through the CLI: the df table and its JSON rows
 * for a store with an image, build cache records and the layers only those records keep, each
 * figure checked against the blobs, records and snapshots measured on disk by the test; prune
 * with the default age and `--filter until=` leaving fresh records alone, removing records unused
 * for longer and saying how much it reclaimed; `--all` removing the layers and snapshots only the
 * cache kept (listed by digest); a filter kiln does not know refused as a usage error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import { humanSize } from '../../engine/units/humanUnits.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { isRoot, prerequisite } from '../support/env.js';
import { runKiln } from '../support/kilnProcess.js';

const base = mkdtempSync(join(tmpdir(), 'kiln-prune-it-'));
const root = join(base, 'store');
const ready = (t: import('node:test').TestContext): boolean =>
  prerequisite(t, isRoot, 'build containers need root') && prerequisite(t, haveBusybox, 'needs /bin/busybox (busybox-static)');

/** The layers the build added (not busybox's): kept, once the image is gone, only by the cache. */
let cacheOnlyLayers: string[] = [];
/** The removed image's config blob: referenced by nothing once the image is gone. */
let configBlob = '';
/** busybox's layers and config: the one image the store keeps. */
let imageLayers: string[] = [];
let imageId = '';

before(async () => {
  if (!isRoot || !haveBusybox) return;
  await commitBusyboxImage(await Store.open({ root }), 'kiln-test/busybox:latest');
  const ctx = join(base, 'ctx');
  mkdirSync(ctx, { recursive: true });
  writeFileSync(join(ctx, 'data.txt'), 'x'.repeat(50_000));
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM kiln-test/busybox\nCOPY data.txt /data.txt\nRUN cat /data.txt /data.txt > /double\n');
  const build = await runKiln(root, ['build', '-q', '-t', 'kiln-test/pruned', ctx]);
  assert.equal(build.code, 0, build.stderr);
  const layers = await runKiln(root, ['inspect', '-f', '{{json .RootFS.Layers}}', 'kiln-test/pruned']);
  const built = JSON.parse(layers.stdout) as string[];
  cacheOnlyLayers = built.slice(1);
  imageLayers = built.slice(0, 1);
  imageId = (await runKiln(root, ['inspect', '-f', '{{.Id}}', 'kiln-test/busybox'])).stdout.trim();
  configBlob = (await runKiln(root, ['inspect', '-f', '{{.Id}}', 'kiln-test/pruned'])).stdout.trim();
  const removed = await runKiln(root, ['rmi', 'kiln-test/pruned']);
  assert.equal(removed.code, 0, removed.stderr);
});
after(() => rmSync(base, { recursive: true, force: true }));

interface DfRow { type: string; total: number; active: number; size: number; reclaimable: number }

async function df(): Promise<Map<string, DfRow>> {
  const r = await runKiln(root, ['system', 'df', '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return new Map(r.stdout.trim().split('\n').map((l) => JSON.parse(l) as DfRow).map((row) => [row.type, row]));
}

function recordFiles(): string[] {
  const dir = join(root, 'cache', 'records');
  return readdirSync(dir).flatMap((shard) => readdirSync(join(dir, shard)).map((f) => join(dir, shard, f)));
}

/** The store's blobs on disk (digest → bytes), measured here rather than asked of kiln. */
function blobsOnDisk(): Map<string, number> {
  const dir = join(root, 'blobs', 'sha256');
  return new Map(readdirSync(dir).filter((f) => /^[0-9a-f]{64}$/.test(f)).map((f) => [`sha256:${f}`, statSync(join(dir, f)).size]));
}

/** The layers that have a snapshot (an unpacked directory) in the store. */
function snapshotsOnDisk(): string[] {
  const dir = join(root, 'snapshots');
  return readdirSync(dir).filter((f) => /^[0-9a-f]{64}$/.test(f)).map((f) => `sha256:${f}`);
}

/** What the files under `path` hold (a directory's own entry counts nothing, as in kiln's sizes). */
function filesBytes(path: string): number {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st === undefined) return 0;
  return st.isDirectory() ? readdirSync(path).reduce((n, f) => n + filesBytes(join(path, f)), 0) : st.size;
}

const sum = (sizes: Map<string, number>, ids: Iterable<string>): number => [...ids].reduce((n, d) => n + (sizes.get(d) ?? 0), 0);

test('system df: the table and the JSON rows agree with what the store holds', async (t) => {
  if (!ready(t)) return;
  const blobs = blobsOnDisk();
  const records = recordFiles();
  const recordBytes = records.reduce((n, f) => n + statSync(f).size, 0);
  const snapshots = snapshotsOnDisk();
  assert.deepEqual([...blobs.keys()].sort(), [...imageLayers, imageId, ...cacheOnlyLayers, configBlob].sort(), 'busybox (layer, config), the built layers, the removed image\'s config');
  assert.ok(records.length >= 2, 'a record for the COPY and one for the RUN');
  const rows = await df();
  assert.deepEqual(rows.get('Images'), { type: 'Images', total: 1, active: 1, size: sum(blobs, imageLayers), reclaimable: 0 });
  const cacheBytes = sum(blobs, cacheOnlyLayers) + recordBytes;
  assert.deepEqual(rows.get('Build Cache'), { type: 'Build Cache', total: records.length, active: records.length, size: cacheBytes, reclaimable: cacheBytes });
  const snapshotBytes = sum(blobs, snapshots);
  const inUse = snapshots.filter((s) => imageLayers.includes(s) || cacheOnlyLayers.includes(s));
  assert.deepEqual(rows.get('Snapshots'), { type: 'Snapshots', total: snapshots.length, active: inUse.length, size: snapshotBytes, reclaimable: 0 });
  assert.deepEqual(rows.get('Unreferenced blobs'), { type: 'Unreferenced blobs', total: 1, active: 0, size: blobs.get(configBlob), reclaimable: blobs.get(configBlob) });

  const table = await runKiln(root, ['system', 'df']);
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trim().split('\n').map((l) => l.split(/\s{2,}/));
  assert.deepEqual(lines, [
    ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'],
    ['Images', '1', '1', humanSize(sum(blobs, imageLayers)), '0B (0%)'],
    ['Build Cache', String(records.length), String(records.length), humanSize(cacheBytes), `${humanSize(cacheBytes)} (100%)`],
    ['Snapshots', String(snapshots.length), String(inUse.length), humanSize(snapshotBytes), '0B (0%)'],
    ['Unreferenced blobs', '1', '0', humanSize(blobs.get(configBlob) as number), `${humanSize(blobs.get(configBlob) as number)} (100%)`],
  ]);
  assert.ok(cacheBytes > 150_000, 'the COPY (50 kB) and RUN (100 kB) layers are counted as build cache');
});

test('prune: fresh records stay (default and --filter until=); older ones go, and the space is reported', async (t) => {
  if (!ready(t)) return;
  const kept = await runKiln(root, ['prune']);
  assert.equal(kept.code, 0, kept.stderr);
  assert.equal(kept.stdout, 'Total reclaimed space: 0B\n');
  const filtered = await runKiln(root, ['prune', '--filter', 'until=1h']);
  assert.equal(filtered.stdout, 'Total reclaimed space: 0B\n');
  const records = recordFiles();
  const threeHoursAgo = Date.now() / 1000 - 3 * 3600;
  for (const f of records) utimesSync(f, threeHoursAgo, threeHoursAgo);
  const stillFresh = await runKiln(root, ['prune']);
  assert.equal(stillFresh.stdout, 'Total reclaimed space: 0B\n', 'three hours is within the default 48');
  const recordBytes = records.reduce((n, f) => n + statSync(f).size, 0);
  const old = await runKiln(root, ['prune', '--filter', 'until=2h']);
  assert.equal(old.code, 0, old.stderr);
  assert.equal(old.stdout, `Deleted build cache records: ${records.length}\n\nTotal reclaimed space: ${humanSize(recordBytes)}\n`, 'the records alone: the layers they kept are younger than the grace period');
  assert.equal(recordFiles().length, 0);
  const blobs = blobsOnDisk();
  const unreferenced = [...cacheOnlyLayers, configBlob];
  const rows = await df();
  assert.deepEqual(rows.get('Build Cache'), { type: 'Build Cache', total: 0, active: 0, size: 0, reclaimable: 0 });
  assert.deepEqual(rows.get('Unreferenced blobs'), { type: 'Unreferenced blobs', total: unreferenced.length, active: 0, size: sum(blobs, unreferenced), reclaimable: sum(blobs, unreferenced) },
    'the layers only the records kept, and the removed image\'s config, are unreferenced now (younger than the grace period, so kept)');
});

test('prune --all removes the layers and snapshots nothing references, listed by digest', async (t) => {
  if (!ready(t)) return;
  const blobs = blobsOnDisk();
  const goneBlobs = [...cacheOnlyLayers, configBlob];
  const goneSnapshots = snapshotsOnDisk().filter((s) => !imageLayers.includes(s));
  assert.ok(goneSnapshots.length > 0, 'the RUN step\'s layer was unpacked for the next step');
  const reclaimable = sum(blobs, goneBlobs)
    + goneSnapshots.reduce((n, s) => n + filesBytes(join(root, 'snapshots', s.slice(7))), 0)
    + filesBytes(join(root, 'cache', 'inputs')) + filesBytes(join(root, 'cache', 'stat'));
  const all = await runKiln(root, ['prune', '--all']);
  assert.equal(all.code, 0, all.stderr);
  const out = all.stdout.split('\n');
  assert.equal(out[0], 'Deleted build cache records: 0');
  assert.equal(out[1], 'Deleted layers:');
  assert.deepEqual(out.slice(2, 2 + goneBlobs.length).map((l) => l.trim()).sort(), goneBlobs.sort());
  assert.deepEqual(out.slice(2 + goneBlobs.length), [`Deleted snapshots: ${goneSnapshots.length}`, '', `Total reclaimed space: ${humanSize(reclaimable)}`, '']);
  assert.deepEqual([...blobsOnDisk().keys()].sort(), [...imageLayers, imageId].sort(), 'busybox alone is left');
  assert.ok(snapshotsOnDisk().every((s) => imageLayers.includes(s)), 'only busybox\'s snapshot is left');
  const rows = await df();
  assert.deepEqual([...rows.values()].map((r) => [r.type, r.total, r.size]), [
    ['Images', 1, sum(blobs, imageLayers)], ['Build Cache', 0, 0], ['Snapshots', snapshotsOnDisk().length, sum(blobs, snapshotsOnDisk())], ['Unreferenced blobs', 0, 0],
  ]);
  const again = await runKiln(root, ['prune', '--all']);
  assert.equal(again.stdout, 'Total reclaimed space: 0B\n');
  const images = await runKiln(root, ['images', '--format', '{{.Repository}}']);
  assert.equal(images.stdout, 'kiln-test/busybox\n', 'prune never takes an image');
});

test('prune refuses a filter it does not know, as a usage error', async (t) => {
  if (!ready(t)) return;
  for (const filter of ['until=soon', 'label=x=y', 'until']) {
    const r = await runKiln(root, ['prune', '--filter', filter]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^kiln: invalid filter "${filter}" \\(supported: until=DURATION, e\\.g\\. until=24h\\)\nSee 'kiln prune --help'\\.\n$`));
  }
});
