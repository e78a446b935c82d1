import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import { WriteBehind } from '../../engine/store/writeBehind.js';
import { emptyConfig } from '../../engine/image/config.js';
import { KilnError } from '../../engine/errors.js';

async function tempStore(t: { after(fn: () => Promise<void>): void }): Promise<{ store: Store; root: string }> {
  const root = await mkdtemp(join(tmpdir(), 'kiln-behind-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return { store: await Store.open({ root }), root };
}

async function* once(buf: Buffer): AsyncGenerator<Buffer> {
  yield buf;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('writes queued behind run one at a time, in the order they were queued', async () => {
  const q = new WriteBehind();
  const log: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  void q.add(async () => { log.push('a start'); await gate; log.push('a end'); });
  void q.add(async () => { log.push('b'); });
  await tick();
  assert.deepEqual(log, ['a start'], 'b waits for a');
  release();
  await q.settle();
  assert.deepEqual(log, ['a start', 'a end', 'b']);
});

test('after a failed write the rest of its batch is skipped, settle reports the failure once, and later writes run', async () => {
  const q = new WriteBehind();
  const ran: string[] = [];
  const failed = q.add(async () => { throw new Error('disk full'); });
  void q.add(async () => { ran.push('record naming the failed blob'); });
  await failed; // resolves, never rejects: nobody has to catch it
  await assert.rejects(q.settle(), /disk full/);
  assert.equal(ran.length, 0, 'the record of a failed blob never lands');
  await q.settle();
  void q.add(async () => { ran.push('next batch'); });
  await q.settle();
  assert.deepEqual(ran, ['next batch']);
});

test('a blob ingested behind is invisible on disk until it lands, while has/size/open here wait for it', async (t) => {
  const { store, root } = await tempStore(t);
  const data = randomBytes(70_000);
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  store.writeBehind(() => gate); // holds the queue, like an earlier blob still being fsynced
  const info = await store.ingestBlobBehind(once(data));
  assert.deepEqual(info, { digest, size: data.length });
  assert.equal(existsSync(store.blobPath(digest)), false, 'not under its digest before it is durable');
  assert.equal((await readdir(join(root, 'tmp'))).filter((n) => n.startsWith('blob-')).length, 1, 'only a temp file so far');
  const seen = store.hasBlob(digest);
  release();
  assert.equal(await seen, true);
  assert.equal(await store.blobs.size(digest), data.length);
  assert.ok((await readFile(store.blobPath(digest))).equals(data));
  await store.settleWrites();
  assert.deepEqual((await readdir(join(root, 'tmp'))).filter((n) => n.startsWith('blob-')), []);
});

test('a wrong expected digest is refused at once, before anything is queued', async (t) => {
  const { store, root } = await tempStore(t);
  const data = randomBytes(1000);
  await assert.rejects(store.ingestBlobBehind(once(data), { expectedDigest: `sha256:${'0'.repeat(64)}` }), (e: unknown) => e instanceof KilnError && e.code === 'DIGEST_MISMATCH');
  await store.settleWrites();
  assert.deepEqual(await readdir(join(root, 'tmp')), []);
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
