import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../../../engine/store/store.js';
import { WriteBehind, type BehindWrite } from '../../../../engine/store/writeBehind.js';
import { emptyConfig } from '../../../../engine/image/config.js';
import { KilnError } from '../../../../engine/errors/kilnError.js';

async function tempStore(t: { after(fn: () => Promise<void>): void }): Promise<{ store: Store; root: string }> {
  const root = await mkdtemp(join(tmpdir(), 'kiln-behind-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return { store: await Store.open({ root }), root };
}

async function* once(buf: Buffer): AsyncGenerator<Buffer> {
  yield buf;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A write whose halves log what they do. */
function logged(log: string[], name: string, opts: { prepare?: () => Promise<void>; publish?: () => Promise<void> } = {}): BehindWrite {
  return {
    prepare: async () => { log.push(`${name} prepare`); await opts.prepare?.(); },
    publish: async () => { log.push(`${name} publish`); await opts.publish?.(); },
    discard: async () => { log.push(`${name} discard`); },
  };
}

test('preparations run at once, side by side; publications one at a time, in the order queued', async () => {
  const q = new WriteBehind();
  const log: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  void q.add(logged(log, 'blob', { prepare: () => gate }));
  void q.add(logged(log, 'record'));
  await tick();
  assert.deepEqual(log, ['blob prepare', 'record prepare'], 'the record prepares while the blob is still being fsynced, and waits to publish');
  release();
  await q.settle();
  assert.deepEqual(log, ['blob prepare', 'record prepare', 'blob publish', 'record publish']);
});

test('after a failed write the rest of its batch is discarded, settle reports the failure once, and later writes publish', async () => {
  const q = new WriteBehind();
  const log: string[] = [];
  const failed = q.add(logged(log, 'blob', { publish: async () => { throw new Error('disk full'); } }));
  void q.add(logged(log, 'record'));
  await failed; // resolves, never rejects: nobody has to catch it
  await assert.rejects(q.settle(), /disk full/);
  assert.deepEqual(log, ['blob prepare', 'record prepare', 'blob publish', 'blob discard', 'record discard'], 'the record of a failed blob never lands');
  await q.settle();
  void q.add(logged(log, 'next'));
  await q.settle();
  assert.deepEqual(log.slice(-2), ['next prepare', 'next publish']);
});

test('a write whose preparation failed is discarded and so is what comes after it', async () => {
  const q = new WriteBehind();
  const log: string[] = [];
  void q.add(logged(log, 'a', { prepare: async () => { throw new Error('no space'); } }));
  void q.add(logged(log, 'b'));
  await assert.rejects(q.settle(), /no space/);
  assert.deepEqual(log.filter((l) => !l.endsWith('prepare')), ['a discard', 'b discard']);
});

test('a blob ingested behind is invisible on disk until it lands, while has/size/open here wait for it', async (t) => {
  const { store, root } = await tempStore(t);
  const data = randomBytes(70_000);
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  // Holds the queue, like an earlier blob still being fsynced.
  store.writeBehind({ prepare: () => gate, publish: async () => undefined, discard: async () => undefined });
  const info = await store.ingestBlobBehind(once(data));
  assert.deepEqual(info, { digest, size: data.length });
  assert.equal(existsSync(store.blobPath(digest)), false, 'not under its digest before it is durable');
  assert.equal((await readdir(join(root, 'blobs', 'ingest'))).filter((n) => n.startsWith('blob-')).length, 1, 'only a temp file so far');
  const seen = store.hasBlob(digest);
  release();
  assert.equal(await seen, true);
  assert.equal(await store.blobs.size(digest), data.length);
  assert.ok((await readFile(store.blobPath(digest))).equals(data));
  await store.settleWrites();
  assert.deepEqual((await readdir(join(root, 'blobs', 'ingest'))).filter((n) => n.startsWith('blob-')), []);
});

test('a wrong expected digest is refused at once, before anything is queued', async (t) => {
  const { store, root } = await tempStore(t);
  const data = randomBytes(1000);
  await assert.rejects(store.ingestBlobBehind(once(data), { expectedDigest: `sha256:${'0'.repeat(64)}` }), (e: unknown) => e instanceof KilnError && e.code === 'DIGEST_MISMATCH');
  await store.settleWrites();
  assert.deepEqual(await readdir(join(root, 'blobs', 'ingest')), []);
  assert.deepEqual(await store.blobs.list(), []);
});

test('an image naming a layer ingested behind commits once the layer has landed', async (t) => {
  const { store } = await tempStore(t);
  const layer = randomBytes(5000);
  const { digest } = await store.ingestBlobBehind(once(layer));
  const config = emptyConfig({ os: 'linux', architecture: 'amd64' });
  config.rootfs.diff_ids.push(digest);
  const record = await store.commitImage(config);
  assert.deepEqual(record.config.rootfs.diff_ids, [digest]);
  assert.ok(existsSync(store.blobPath(digest)));
});
