import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Store } from '../../../../engine/store/store.js';
import { emptyConfig, serializeConfig } from '../../../../engine/image/config.js';
import { KilnError } from '../../../../engine/errors/kilnError.js';
import { selfTag } from '../../../../engine/host/processIdentity.js';

const storeModule = pathToFileURL(join(import.meta.dirname, '..', '..', '..', '..', 'engine', 'store', 'store.js')).href;

async function tempStore(t: { after(fn: () => Promise<void>): void }): Promise<Store> {
  const root = await mkdtemp(join(tmpdir(), 'kiln-store-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return Store.open({ root });
}

function runNode(script: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

async function* chunks(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

test('a blob is stored under its sha256 and a wrong expected digest keeps nothing', async (t) => {
  const store = await tempStore(t);
  const data = randomBytes(300_000);
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const info = await store.ingestBlob(chunks(data, 4096), { expectedDigest: digest });
  assert.deepEqual(info, { digest, size: data.length });
  assert.ok((await readFile(store.blobPath(digest))).equals(data));
  const wrong = `sha256:${'0'.repeat(64)}`;
  await assert.rejects(store.ingestBlob(chunks(Buffer.from('other'), 2), { expectedDigest: wrong }), (e: unknown) => e instanceof KilnError && e.code === 'DIGEST_MISMATCH');
  assert.deepEqual(await store.blobs.list(), [digest]);
  assert.deepEqual(await readdir(join(store.root, 'tmp')), [], 'no temp file left behind');
});

test('two processes ingesting the same blob at once both succeed with one intact copy', async (t) => {
  const store = await tempStore(t);
  const data = randomBytes(8 * 1024 * 1024);
  const file = join(store.root, 'src.bin');
  await writeFile(file, data);
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const script = `
    import { Store } from ${JSON.stringify(storeModule)};
    import { createReadStream } from 'node:fs';
    const s = await Store.open({ root: process.env.ROOT });
    const r = await s.ingestBlob(createReadStream(process.env.FILE, { highWaterMark: 16384 }), { expectedDigest: process.env.DIGEST });
    process.stdout.write(r.digest);`;
  const env = { ROOT: store.root, FILE: file, DIGEST: digest };
  const outs = await Promise.all([runNode(script, env), runNode(script, env), runNode(script, env)]);
  assert.deepEqual(outs, [digest, digest, digest]);
  assert.ok((await readFile(store.blobPath(digest))).equals(data));
  assert.deepEqual((await readdir(join(store.root, 'blobs', 'ingest'))).filter((n) => n.startsWith('blob-')), []);
});

test('tags written by many processes at once are all kept (the lock serialises refs.json)', async (t) => {
  const store = await tempStore(t);
  const cfg = emptyConfig();
  cfg.created = '2020-01-01T00:00:00Z';
  const image = await store.commitImage(cfg);
  const script = `
    import { Store } from ${JSON.stringify(storeModule)};
    const s = await Store.open({ root: process.env.ROOT });
    for (let i = 0; i < 5; i++) await s.tag(process.env.ID, 'multi/p' + process.env.N + ':t' + i);`;
  await Promise.all([0, 1, 2, 3].map((n) => runNode(script, { ROOT: store.root, ID: image.id, N: String(n) })));
  const rec = await store.getImage(image.id);
  assert.equal(rec?.tags.length, 20);
});

test('a lock left by a dead process is broken; a live holder is waited for', async (t) => {
  const store = await tempStore(t);
  await writeFile(join(store.root, 'lock'), '999999999 deadbeef\n');
  const started = Date.now();
  assert.equal(await store.withLock(async () => 'got it'), 'got it');
  // The lock is a link naming its holder; one left by a process whose pid now runs another
  // process (another start time) is broken too.
  await symlink(`${process.pid}-1 deadbeef`, join(store.root, 'lock'));
  assert.equal(await store.withLock(async () => 'got it again'), 'got it again');
  assert.ok(Date.now() - started < 2000);
  const order: string[] = [];
  await Promise.all([
    store.withLock(async () => { order.push('a1'); await new Promise((r) => setTimeout(r, 50)); order.push('a2'); }),
    store.withLock(async () => { order.push('b1'); order.push('b2'); }),
  ]);
  assert.deepEqual(order, ['a1', 'a2', 'b1', 'b2']);
});

test('commitImage with a likely ID: the same bytes give that image, other bytes their own digest', async (t) => {
  const store = await tempStore(t);
  const cfg = emptyConfig();
  cfg.config = { Cmd: ['sh'] };
  const first = await store.commitImage(cfg);
  await store.tag(first.id, 'app');
  assert.equal(await store.taggedId('app'), first.id);
  assert.equal(await store.taggedId('docker.io/library/app:latest'), first.id);
  assert.equal((await store.commitImage(cfg, first.id)).id, first.id);
  const changed = emptyConfig();
  changed.config = { Cmd: ['sh', '-c', 'true'] };
  const second = await store.commitImage(changed, first.id);
  assert.equal(second.id, `sha256:${createHash('sha256').update(serializeConfig(changed)).digest('hex')}`);
  assert.notEqual(second.id, first.id);
  // A likely ID the store does not hold is only a hint.
  assert.equal((await store.commitImage(cfg, `sha256:${'0'.repeat(64)}`)).id, first.id);
});

test('images resolve by short name, full tag, ID and ID prefix; untag and remove', async (t) => {
  const store = await tempStore(t);
  const cfg = emptyConfig();
  cfg.config = { Cmd: ['sh'], Labels: { b: '2', a: '1' } };
  const image = await store.commitImage(cfg);
  assert.equal(image.id, `sha256:${createHash('sha256').update(serializeConfig(cfg)).digest('hex')}`);
  assert.ok((await store.readConfigBytes(image.id)).toString().includes('"Labels":{"a":"1","b":"2"}'), 'maps are written sorted');
  await store.tag(image.id, 'busybox');
  await store.tag(image.id, 'registry.local:5000/team/app:1.0');
  for (const ref of ['busybox', 'busybox:latest', 'docker.io/library/busybox:latest', 'library/busybox', image.id, image.id.slice(7), image.id.slice(7, 19), 'registry.local:5000/team/app:1.0']) {
    assert.equal((await store.resolveImage(ref))?.id, image.id, ref);
  }
  assert.equal(await store.resolveImage('busybox:other'), undefined);
  assert.equal(await store.resolveImage('registry.local:5000/team/app'), undefined, 'no :latest tag');
  await assert.rejects(store.requireImage('nothere'), /No such image: nothere/);
  assert.equal(await store.untag('busybox'), image.id);
  assert.equal(await store.resolveImage('busybox'), undefined);
  await store.removeImage(image.id);
  assert.equal(await store.resolveImage(image.id), undefined);
  assert.deepEqual(await store.listImages(), []);
});

test('commitImage refuses a config whose layers are not in the store, and gc collects what nothing uses', async (t) => {
  const store = await tempStore(t);
  const cfg = emptyConfig();
  cfg.rootfs.diff_ids = [`sha256:${'a'.repeat(64)}`];
  cfg.history = [{ created_by: 'x' }];
  await assert.rejects(store.commitImage(cfg), (e: unknown) => e instanceof KilnError && e.code === 'LAYER_MISSING');
  assert.deepEqual(await store.listImages(), []);
  const layer = await store.ingestBlob(chunks(Buffer.from('layer bytes'), 4));
  const orphan = await store.ingestBlob(chunks(Buffer.from('orphan'), 4));
  cfg.rootfs.diff_ids = [layer.digest];
  const image = await store.commitImage(cfg);
  const young = await store.gc();
  assert.deepEqual(young.removedBlobs, [], 'grace period protects fresh blobs');
  const result = await store.gc({ graceMs: 0 });
  assert.deepEqual(result.removedBlobs, [orphan.digest]);
  assert.ok(await store.hasBlob(layer.digest));
  assert.ok(await store.hasBlob(image.id));
});

test('two processes asking for the same snapshot both get one whole copy', async (t) => {
  const store = await tempStore(t);
  const { writeLayer } = await import('../../../../engine/layer/tarWriter.js');
  const { mkdir } = await import('node:fs/promises');
  const tree = join(store.root, 'tree');
  for (let d = 0; d < 20; d++) {
    await mkdir(join(tree, `d${d}`), { recursive: true });
    for (let f = 0; f < 20; f++) await writeFile(join(tree, `d${d}`, `f${f}`), `${d}/${f}`);
  }
  const layer = await writeLayer(store, tree, { whiteouts: 'none' });
  const script = `
    import { Store } from ${JSON.stringify(storeModule)};
    import { extractTar } from ${JSON.stringify(storeModule.replace(/store\/store\.js$/, 'layer/extract.js'))};
    const s = await Store.open({ root: process.env.ROOT, unpackLayer: extractTar });
    process.stdout.write(await s.snapshotDir(process.env.DIFF));`;
  const outs = await Promise.all([1, 2, 3].map(() => runNode(script, { ROOT: store.root, DIFF: layer.diffId })));
  assert.deepEqual(new Set(outs), new Set([store.snapshots.path(layer.diffId)]));
  for (let d = 0; d < 20; d++) assert.equal((await readdir(join(outs[0] as string, `d${d}`))).length, 20);
  assert.equal(await readFile(join(outs[0] as string, 'd7', 'f3'), 'utf8'), '7/3');
  assert.deepEqual(await readdir(join(store.root, 'tmp')), [], 'the losers removed their copies');
});

test('opening a store after a killed kiln (its lease left behind) removes what its atomic writes left half-done; a live writer\'s temp files stay', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-store-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await Store.open({ root });
  const dead = '999999999-7';
  const live = selfTag();
  const inputs = join(root, 'cache', 'inputs');
  const shard = join(root, 'cache', 'records', 'ab');
  await mkdir(inputs, { recursive: true });
  await mkdir(shard, { recursive: true });
  const deadOnes = [
    join(inputs, `.900b.json.${dead}.d28525887c69.tmp`),
    join(shard, `.ab12.json.${dead}.0123456789ab.tmp`),
    join(root, 'images', `.x.json.${dead}.abcdef.tmp`),
    join(root, `.refs.json.${dead}.abcdef.tmp`),
  ];
  const kept = [join(inputs, 'a.json'), join(inputs, `.a.json.${live}.abcdef.tmp`)];
  for (const f of [...deadOnes, ...kept]) await writeFile(f, 'half');

  // No dead lease: an open does not walk the cache (every command opens the store).
  await Store.open({ root });
  assert.deepEqual((await Store.deadWritersTemps(root)).sort(), [...deadOnes].sort());

  await mkdir(join(root, 'leases'), { recursive: true });
  await writeFile(join(root, 'leases', dead), 'sha256:' + 'c'.repeat(64) + '\n');
  await Store.open({ root });
  assert.deepEqual(await Store.deadWritersTemps(root), []);
  assert.deepEqual(await readdir(join(root, 'leases')), [], 'the dead lease is released');
  for (const f of kept) assert.equal(await readFile(f, 'utf8'), 'half', `${f} stays`);
});
