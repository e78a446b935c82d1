import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { Store } from '../../../../engine/store/store.js';
import { emptyConfig, serializeConfig } from '../../../../engine/image/config.js';
import { writeLayer } from '../../../../engine/layer/tarWriter.js';
import { writeDockerArchive, writeOciArchive, resolveSaveItems } from '../../../../engine/archive/dockerSave.js';
import { parseImageArgument } from '../../../../engine/image/imageArgument.js';
import { loadArchive } from '../../../../engine/archive/load.js';
import { KilnError } from '../../../../engine/errors/kilnError.js';
import { makeTar, type TarItem } from '../../../support/tarFixture.js';


const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** A docker-save archive by hand, so tests can make it wrong on purpose. */
async function dockerArchive(layerTar: Buffer, opts: { diffId?: string; extra?: TarItem[]; configName?: (hex: string) => string; replace?: Record<string, TarItem> } = {}): Promise<Buffer> {
  const cfg = emptyConfig();
  cfg.rootfs.diff_ids = [opts.diffId ?? `sha256:${sha(layerTar)}`];
  cfg.history = [{ created_by: 'test' }];
  const cfgBytes = serializeConfig(cfg);
  const cfgName = opts.configName?.(sha(cfgBytes)) ?? `blobs/sha256/${sha(cfgBytes)}`;
  const layerName = `blobs/sha256/${sha(layerTar)}`;
  const manifest = [{ Config: cfgName, RepoTags: ['evil/test:1'], Layers: [layerName] }];
  const items: TarItem[] = [
    { name: cfgName, body: cfgBytes },
    { name: layerName, body: layerTar },
    { name: 'manifest.json', body: JSON.stringify(manifest) },
    ...(opts.extra ?? []),
  ];
  return makeTar(items.map((it) => opts.replace?.[it.name] ?? it));
}

async function tempStore(t: { after(fn: () => Promise<void>): void }): Promise<Store> {
  const root = await mkdtemp(join(tmpdir(), 'kiln-load-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return Store.open({ root });
}

async function* once(buf: Buffer): AsyncGenerator<Buffer> { yield buf; }

async function assertUntouched(store: Store): Promise<void> {
  assert.deepEqual(await store.blobs.list(), [], 'no blob may reach the store');
  assert.deepEqual(await store.listImages(), []);
  assert.deepEqual(await readdir(join(store.root, 'tmp')), [], 'staging removed');
  assert.equal(await store.resolveImage('evil/test:1'), undefined);
}

async function refused(store: Store, archive: Buffer, pattern: RegExp, code: string): Promise<void> {
  await assert.rejects(loadArchive(store, once(archive), { source: 'bad.tar' }), (e: unknown) => {
    assert.ok(e instanceof KilnError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, /^bad\.tar: /);
    assert.match(e.message, pattern);
    return true;
  });
  await assertUntouched(store);
}

const goodLayer = (): Promise<Buffer> => makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/hello', body: 'hi\n' }, { name: 'etc/hello2', type: 'link', linkname: 'etc/hello' }]);

test('a hand-made docker archive loads with its tag and the exact config bytes', async (t) => {
  const store = await tempStore(t);
  const archive = await dockerArchive(await goodLayer());
  const [loaded] = await loadArchive(store, once(archive), { source: 'ok.tar' });
  assert.ok(loaded);
  assert.deepEqual(loaded.tags, ['docker.io/evil/test:1']);
  assert.equal((await store.resolveImage('evil/test:1'))?.id, loaded.image.id);
  assert.equal(`sha256:${sha(await store.readConfigBytes(loaded.image.id))}`, loaded.image.id);
});

test('an entry with .. in the archive is refused and nothing is stored', async (t) => {
  const store = await tempStore(t);
  const escapeTarget = join(tmpdir(), `kiln-escape-${process.pid}`);
  await refused(store, await dockerArchive(await goodLayer(), { extra: [{ name: `../../../../../../..${escapeTarget}`, body: 'x' }] }), /refusing archive entry .*"\.\."/, 'HOSTILE_ARCHIVE');
  assert.ok(!existsSync(escapeTarget));
});

test('a symlink in the archive pointing outside it is refused', async (t) => {
  const store = await tempStore(t);
  await refused(store, await dockerArchive(await goodLayer(), {
    configName: () => 'config.json',
    replace: { 'config.json': { name: 'config.json', type: 'symlink', linkname: '../../../../etc/passwd' } },
  }), /link pointing outside the archive/, 'HOSTILE_ARCHIVE');
  const other = await tempStore(t);
  await refused(other, await dockerArchive(await goodLayer(), {
    configName: () => 'config.json',
    replace: { 'config.json': { name: 'config.json', type: 'symlink', linkname: '/etc/passwd' } },
  }), /absolute path/, 'HOSTILE_ARCHIVE');
});

test('a layer with .. paths or hard links out of the layer is refused', async (t) => {
  const store = await tempStore(t);
  await refused(store, await dockerArchive(await makeTar([{ name: 'ok', body: '1' }, { name: 'a/../../escape', body: 'x' }])), /layer 1 .*"\.\."/, 'HOSTILE_ARCHIVE');
  const other = await tempStore(t);
  await refused(other, await dockerArchive(await makeTar([{ name: 'shadow', type: 'link', linkname: '../../etc/shadow' }])), /hard link points outside/, 'HOSTILE_ARCHIVE');
});

test('digest mismatches are refused: a blob not matching its name, a layer not matching its diff_id', async (t) => {
  const store = await tempStore(t);
  const layer = await goodLayer();
  await refused(store, await dockerArchive(layer, { diffId: `sha256:${'1'.repeat(64)}` }), /invalid diffID for layer 1/, 'DIGEST_MISMATCH');
  const other = await tempStore(t);
  const tampered = Buffer.from(layer);
  tampered[600] = (tampered[600] as number) ^ 0xff; // inside the first file's content block
  const archive = await dockerArchive(layer);
  const layerName = `blobs/sha256/${sha(layer)}`;
  const swapped = await dockerArchive(layer, { replace: { [layerName]: { name: layerName, body: tampered } } });
  assert.notDeepEqual(swapped, archive);
  await refused(other, swapped, /digest mismatch for blobs\/sha256\//, 'DIGEST_MISMATCH');
});

test('a truncated archive is refused clearly, wherever it was cut, and leaves nothing in the store', async (t) => {
  const archive = await dockerArchive(await goodLayer());
  // Cut inside a header, inside the layer's content, and where the end-of-archive blocks start.
  const cuts = [100, 1000, archive.length - 1024 - 1];
  for (const cut of cuts) {
    const store = await tempStore(t);
    await refused(store, archive.subarray(0, cut), /the archive is truncated \(it ends (before its first entry|inside or after "[^"]+")\)/, 'BAD_ARCHIVE');
  }
});

test('an archive without a manifest is refused clearly', async (t) => {
  const store = await tempStore(t);
  await refused(store, await makeTar([{ name: 'hello', body: 'x' }]), /does not contain a manifest\.json or an OCI image layout/, 'BAD_ARCHIVE');
});

test('kiln save output loads into another store with the same ID; gzip layers in an OCI layout load too', async (t) => {
  const src = await tempStore(t);
  const tree = await mkdtemp(join(tmpdir(), 'kiln-tree-'));
  t.after(() => rm(tree, { recursive: true, force: true }));
  await mkdir(join(tree, 'bin'));
  await writeFile(join(tree, 'bin', 'tool'), 'echo hi\n');
  const layer = await writeLayer(src, tree, { whiteouts: 'none', sourceDateEpoch: 0 });
  const cfg = emptyConfig();
  cfg.rootfs.diff_ids = [layer.diffId];
  cfg.history = [{ created_by: 'COPY . /' }];
  const image = await src.commitImage(cfg);
  await src.tag(image.id, 'me/app:v1');
  const collect = async (write: (out: PassThrough) => Promise<void>): Promise<Buffer> => {
    const out = new PassThrough();
    const parts: Buffer[] = [];
    out.on('data', (c: Buffer) => parts.push(c));
    await write(out);
    out.end();
    return Buffer.concat(parts);
  };
  const items = await resolveSaveItems(src, [parseImageArgument('me/app')]);
  const docker = await collect((o) => writeDockerArchive(src, items, o));
  const again = await collect((o) => writeDockerArchive(src, items, o));
  assert.ok(docker.equals(again), 'save is deterministic');
  const dst = await tempStore(t);
  const [loaded] = await loadArchive(dst, once(gzipSync(docker)), { source: 'app.tar.gz' });
  assert.equal(loaded?.image.id, image.id);
  assert.ok((await readFile(dst.blobPath(layer.diffId))).equals(await readFile(src.blobPath(layer.diffId))));

  // An OCI layout whose layer is gzip-compressed (as registries and containerd keep them).
  const layerBytes = await readFile(src.blobPath(layer.diffId));
  const gz = gzipSync(layerBytes);
  const cfgBytes = await src.readConfigBytes(image.id);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: image.id, size: cfgBytes.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${sha(gz)}`, size: gz.length }] }));
  const index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}`, size: manifest.length, annotations: { 'io.containerd.image.name': 'example.com/oci/app:2' } }] };
  const oci = await makeTar([
    { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
    { name: 'index.json', body: JSON.stringify(index) },
    { name: `blobs/sha256/${sha(manifest)}`, body: manifest },
    { name: `blobs/sha256/${sha(cfgBytes)}`, body: cfgBytes },
    { name: `blobs/sha256/${sha(gz)}`, body: gz },
  ]);
  const third = await tempStore(t);
  const [fromOci] = await loadArchive(third, once(oci), { source: 'oci.tar' });
  assert.equal(fromOci?.image.id, image.id);
  assert.equal((await third.resolveImage('example.com/oci/app:2'))?.id, image.id);
  assert.ok((await readFile(third.blobPath(layer.diffId))).equals(layerBytes), 'layers are stored uncompressed');

  // kiln's own OCI archive loads back as well.
  const fourth = await tempStore(t);
  const [fromOwnOci] = await loadArchive(fourth, once(await collect((o) => writeOciArchive(src, items, o))), { source: 'own-oci.tar' });
  assert.equal(fromOwnOci?.image.id, image.id);
  assert.equal((await fourth.resolveImage('me/app:v1'))?.id, image.id);
});

test('the legacy layout loads: <id>.json config, <v1id>/layer.tar, a repeated layer as a relative symlink', async (t) => {
  const store = await tempStore(t);
  const layer = await goodLayer();
  const diffId = `sha256:${sha(layer)}`;
  const cfg = emptyConfig();
  cfg.rootfs.diff_ids = [diffId, diffId];
  cfg.history = [{ created_by: 'one' }, { created_by: 'two' }];
  const cfgBytes = serializeConfig(cfg);
  const v1a = 'a'.repeat(64);
  const v1b = 'b'.repeat(64);
  const archive = await makeTar([
    { name: `${sha(cfgBytes)}.json`, body: cfgBytes },
    { name: `${v1a}/`, type: 'directory' },
    { name: `${v1a}/VERSION`, body: '1.0' },
    { name: `${v1a}/layer.tar`, body: layer },
    { name: `${v1b}/`, type: 'directory' },
    { name: `${v1b}/layer.tar`, type: 'symlink', linkname: `../${v1a}/layer.tar` },
    { name: 'manifest.json', body: JSON.stringify([{ Config: `${sha(cfgBytes)}.json`, RepoTags: ['old/style:1'], Layers: [`${v1a}/layer.tar`, `${v1b}/layer.tar`] }]) },
    { name: 'repositories', body: JSON.stringify({ 'old/style': { 1: v1b } }) },
  ]);
  const [loaded] = await loadArchive(store, once(archive), { source: 'legacy.tar' });
  assert.equal(loaded?.image.id, `sha256:${sha(cfgBytes)}`);
  assert.equal((await store.resolveImage('old/style:1'))?.id, loaded?.image.id);
  assert.deepEqual(await store.blobs.list().then((l) => l.sort()), [diffId, loaded!.image.id].sort());
  // A config whose name promises one digest and whose bytes give another is refused.
  const other = await tempStore(t);
  const lying = await makeTar([
    { name: `${'c'.repeat(64)}.json`, body: cfgBytes },
    { name: `${v1a}/layer.tar`, body: layer },
    { name: 'manifest.json', body: JSON.stringify([{ Config: `${'c'.repeat(64)}.json`, RepoTags: ['evil/test:1'], Layers: [`${v1a}/layer.tar`, `${v1a}/layer.tar`] }]) },
  ]);
  await refused(other, lying, /digest mismatch for c{64}\.json/, 'DIGEST_MISMATCH');
});
