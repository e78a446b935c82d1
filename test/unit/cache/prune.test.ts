import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../../engine/store/store.js';
import { CacheIndex } from '../../../cache/recordIndex.js';
import { pruneCache } from '../../../cache/prune.js';
import { diskUsage } from '../../../cache/diskUsage.js';
import { humanSize } from '../../../engine/units/humanUnits.js';
import { parseDuration } from '../../../engine/cli/prune.js';
import { tempNameBeside } from '../../../engine/store/atomicFile.js';

async function* bytes(text: string): AsyncIterable<Uint8Array> {
  yield Buffer.from(text);
}

function key(i: number): string {
  return i.toString(16).padStart(32, '0');
}

test('prune drops stale and dangling records, keeps fresh ones and their layers; --all drops everything unreferenced', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-prune-'));
  const store = await Store.open({ root });
  const index = new CacheIndex(root);
  const fresh = await store.ingestBlob(bytes('fresh layer'));
  const old = await store.ingestBlob(bytes('old layer'));
  await index.put({ key: key(1), diffIds: [fresh.digest], config: {}, createdAt: '' });
  await index.put({ key: key(2), diffIds: [old.digest], config: {}, createdAt: '' });
  await index.put({ key: key(3), diffIds: ['sha256:' + 'f'.repeat(64)], config: {}, createdAt: '' }); // its layer is gone
  const longAgo = Date.now() / 1000 - 7 * 24 * 3600;
  utimesSync(join(index.dir, key(2).slice(0, 2), `${key(2)}.json`), longAgo, longAgo);

  const before = await diskUsage(store);
  assert.deepEqual(before.map((r) => [r.type, r.total]), [['Images', 0], ['Build Cache', 3], ['Snapshots', 0], ['Unreferenced blobs', 0]]);

  const r = await pruneCache(store);
  assert.equal(r.removedRecords, 2);
  assert.deepEqual((await index.list()).map((i) => i.key), [key(1)]);
  assert.ok(await store.hasBlob(fresh.digest));
  assert.deepEqual(r.removedBlobs, [], 'the old layer is younger than the grace period: kept for concurrent builds');

  const all = await pruneCache(store, { all: true });
  assert.equal(all.removedRecords, 1);
  assert.deepEqual(all.removedBlobs.sort(), [fresh.digest, old.digest].sort());
  assert.ok(all.reclaimedBytes >= 'fresh layer'.length + 'old layer'.length);
  assert.equal(await store.hasBlob(fresh.digest), false);
  rmSync(root, { recursive: true });
});

test('prune ages records by their file alone, and reads the kept ones only when the store holds content no image holds', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-prune-reads-'));
  const store = await Store.open({ root });
  const index = new CacheIndex(root);
  const reads: string[] = [];
  const read = CacheIndex.prototype.read;
  CacheIndex.prototype.read = function (this: CacheIndex, e) {
    reads.push(e.key);
    return read.call(this, e);
  };
  try {
    for (const i of [1, 2, 3]) await index.put({ key: key(i), diffIds: [], config: {}, createdAt: '' });
    const longAgo = Date.now() / 1000 - 7 * 24 * 3600;
    utimesSync(join(index.dir, key(3).slice(0, 2), `${key(3)}.json`), longAgo, longAgo);
    writeFileSync(join(index.dir, key(3).slice(0, 2), `${key(3)}.json`), '{ not json');
    utimesSync(join(index.dir, key(3).slice(0, 2), `${key(3)}.json`), longAgo, longAgo);

    const quiet = await pruneCache(store);
    assert.equal(quiet.removedRecords, 1, 'the stale record goes by its age, unread (and unreadable)');
    assert.deepEqual(reads, [], 'nothing unheld in the store: no record is read');

    const loose = await store.ingestBlob(bytes('a layer no image has'));
    await index.put({ key: key(4), diffIds: [loose.digest], config: {}, createdAt: '' });
    const r = await pruneCache(store);
    assert.equal(r.removedRecords, 0);
    assert.deepEqual(reads.sort(), [key(1), key(2), key(4)], 'a blob no image holds: every kept record is read for what it keeps');
    assert.ok(await store.hasBlob(loose.digest));
  } finally {
    CacheIndex.prototype.read = read;
    rmSync(root, { recursive: true, force: true });
  }
});

test('prune removes the temp files dead writers left anywhere under cache/, and nothing else', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-prune-temps-'));
  const store = await Store.open({ root });
  const index = new CacheIndex(root);
  await index.put({ key: key(7), diffIds: [], config: {}, createdAt: '' });
  const shard = join(index.dir, key(7).slice(0, 2));
  const inputs = join(root, 'cache', 'inputs');
  mkdirSync(inputs, { recursive: true });
  // A pid no process has (above pid_max), in each form a writer names its temp files.
  const dead = [join(shard, `.${key(8)}.json.999999999-7.abcdef.tmp`), join(inputs, `x.json.tmp-999999999-7-abcdef`), join(inputs, '.x.key.999999999-7.abcdef.tmp')];
  const live = tempNameBeside(join(inputs, 'y.json'));
  const plain = [join(inputs, 'z.json'), join(inputs, 'z.tmp')];
  for (const f of [...dead, live, ...plain]) writeFileSync(f, 'x');
  await pruneCache(store);
  for (const f of dead) assert.equal(existsSync(f), false, `${f} is a dead writer's: swept`);
  for (const f of [live, ...plain]) assert.ok(existsSync(f), `${f} stays`);
  assert.deepEqual((await index.list()).map((i) => i.key), [key(7)]);
  rmSync(root, { recursive: true });
});

test('sizes and durations read and print as docker does', () => {
  assert.equal(humanSize(0), '0B');
  assert.equal(humanSize(999), '999B');
  assert.equal(humanSize(12_345_678), '12.3MB');
  assert.equal(parseDuration('24h'), 86_400_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('10x'), undefined);
  assert.equal(parseDuration(''), undefined);
});
