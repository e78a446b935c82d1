/**
 * Pull and push against real registries (Debian's docker-registry, distribution 2.8) started
 * on 127.0.0.1 for these tests: plain, htpasswd Basic auth, and Bearer tokens from an
 * in-process token server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import { KilnError } from '../../engine/errors/kilnError.js';
import { pullImage, pullImageDetailed } from '../../engine/registry/pull.js';
import { pushImage } from '../../engine/registry/push.js';
import { registryCacheCarrier } from '../../engine/registry/cacheArtifact.js';
import { exportRecords, importRecords, receiveRecords, sendRecords } from '../../cache/exchange.js';
import type { CacheRecord } from '../../cache/record.js';
import { CacheIndex } from '../../cache/recordIndex.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { sha256Digest } from '../../engine/registry/manifest.js';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_LAYER_ZSTD, OCI_MANIFEST, OCI_CONFIG } from '../../engine/image/mediaTypes.js';
import type { TransferProgress } from '../../engine/registry/transferProgress.js';
import { isRoot, kilnBin, prerequisite } from '../support/env.js';
import { registryAvailable, startRegistry, freePort, type TestRegistry } from '../../harness/registry.js';
import { makeImage, randomContent, layerFromFiles } from '../support/testImage.js';

const available = registryAvailable();
const tempDirs: string[] = [];

async function tempStore(): Promise<Store> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-store-'));
  tempDirs.push(dir);
  return Store.open({ root: dir });
}

after(async () => {
  for (const d of tempDirs) await rm(d, { recursive: true, force: true });
});

function isKilnError(code: string | string[], pattern?: RegExp): (e: unknown) => boolean {
  const codes = Array.isArray(code) ? code : [code];
  return (e: unknown) => {
    assert.ok(e instanceof KilnError, `expected a KilnError, got ${String(e)}`);
    assert.ok(codes.includes(e.code), `expected code ${codes.join('|')}, got ${e.code}: ${e.message}`);
    if (pattern) assert.match(e.message, pattern);
    return true;
  };
}

async function putBlob(host: string, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256Digest(bytes);
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const location = new URL(start.headers.get('location') as string, `http://${host}`);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: new Uint8Array(bytes), headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 201, await put.text());
  return digest;
}

async function putManifest(host: string, repo: string, reference: string, mediaType: string, body: unknown): Promise<string> {
  const bytes = Buffer.from(JSON.stringify(body));
  const r = await fetch(`http://${host}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: new Uint8Array(bytes), headers: { 'content-type': mediaType } });
  assert.equal(r.status, 201, await r.text());
  return sha256Digest(bytes);
}

describe('plain registry', () => {
  let reg: TestRegistry;
  before(async () => {
    if (available) reg = await startRegistry();
  });
  after(async () => reg?.stop());

  test('push then pull into an empty store gives the same digests; re-push finds every blob; mount across repositories', async (t) => {
    if (!prerequisite(t, available, 'docker-registry, htpasswd and openssl are needed')) return;
    const src = await tempStore();
    const ref = `${reg.host}/kiln/base:1`;
    const image = await makeImage(src, [{ 'etc/hello': 'hello\n', 'bin/tool': randomContent(300_000) }, { 'data/big': randomContent(3_000_000), 'data/text': 'abc\n'.repeat(100_000) }], { tag: ref });
    const events: TransferProgress[] = [];
    const pushed = await pushImage(src, ref, { chunkBytes: 1 << 20, onProgress: (e) => events.push(e) });
    assert.equal(pushed.layers.length, 2);
    assert.deepEqual(pushed.layers.map((l) => l.outcome), ['uploaded', 'uploaded']);
    const modes = events.filter((e) => e.status === 'done').map((e) => e.message ?? '');
    assert.ok(modes.some((m) => m.startsWith('monolithic')) && modes.some((m) => m.startsWith('chunked')), `both upload modes used: ${modes.join(' | ')}`);

    const dst = await tempStore();
    const pulled = await pullImageDetailed(dst, ref);
    assert.equal(pulled.record.id, image.id, 'image ID (config digest) survives the round trip');
    assert.equal(pulled.digest, pushed.digest, 'manifest digest');
    assert.deepEqual(pulled.record.config.rootfs.diff_ids, image.config.rootfs.diff_ids);
    for (const d of image.config.rootfs.diff_ids) {
      assert.equal(sha256Digest(await readFile(dst.blobPath(d))), d, 'layers stored uncompressed: blob digest == diff_id');
    }
    assert.ok(pulled.record.tags.includes(ref));
    assert.ok(pulled.record.repoDigests.includes(`${reg.host}/kiln/base@${pushed.digest}`));

    const again = await pushImage(src, ref);
    assert.deepEqual(again.layers.map((l) => l.outcome), ['exists', 'exists']);
    assert.equal(again.manifest.toString(), pushed.manifest.toString(), 'the same manifest');
    assert.equal(again.digest, pushed.digest, 'gzip on the fly is deterministic');

    // The destination store learned where the layers live: pushing them to another repository mounts.
    await dst.tag(image.id, `${reg.host}/other/copy:1`);
    const mounted = await pushImage(dst, `${reg.host}/other/copy:1`);
    assert.deepEqual(mounted.layers.map((l) => l.outcome), ['mounted', 'mounted']);

    const pullEvents: TransferProgress[] = [];
    const repull = await pullImageDetailed(dst, ref, { onProgress: (e) => pullEvents.push(e) });
    assert.equal(repull.downloaded, 0, 'layers already in the store are not fetched again');
    assert.equal(pullEvents.filter((e) => e.status === 'exists').length, 2);
  });

  test('kiln pull into an empty store, then kiln run the pulled image', async (t) => {
    if (!prerequisite(t, available, 'docker-registry, htpasswd and openssl are needed')) return;
    if (!prerequisite(t, haveBusybox && isRoot, 'needs /bin/busybox (busybox-static) and root to run a container')) return;
    const src = await tempStore();
    const ref = `${reg.host}/kiln/busybox:1`;
    const image = await commitBusyboxImage(src, ref);
    await pushImage(src, ref);
    const root = await mkdtemp(join(tmpdir(), 'kiln-root-'));
    tempDirs.push(root);
    const env = { ...process.env, KILN_ROOT: root };
    const pulled = spawnSync(process.execPath, [kilnBin, 'pull', ref], { env, encoding: 'utf8' });
    assert.equal(pulled.status, 0, pulled.stderr);
    assert.match(pulled.stdout, /Pull complete/);
    assert.match(pulled.stdout, new RegExp(`Status: Downloaded newer image for ${ref.replace(/[.]/g, '\\.')}`));
    const again = spawnSync(process.execPath, [kilnBin, 'pull', ref], { env, encoding: 'utf8' });
    assert.match(again.stdout, /Already exists/);
    assert.match(again.stdout, /Image is up to date/);
    assert.equal((await (await Store.open({ root })).resolveImage(ref))?.id, image.id);
    const ran = spawnSync(process.execPath, [kilnBin, 'run', '--rm', ref, 'sh', '-c', 'echo pulled-and-ran; cat /etc/group | head -1'], { env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(ran.status, 0, ran.stderr);
    assert.equal(ran.stdout, 'pulled-and-ran\nroot:x:0:\n');
  });

  test('FROM 127.0.0.1:PORT/base pulls the base into an empty store and builds on it', async (t) => {
    if (!prerequisite(t, available, 'docker-registry, htpasswd and openssl are needed')) return;
    if (!prerequisite(t, haveBusybox && isRoot, 'needs /bin/busybox (busybox-static) and root to run RUN steps')) return;
    const src = await tempStore();
    const base = `${reg.host}/base`;
    const image = await commitBusyboxImage(src, `${base}:latest`);
    await pushImage(src, base);
    const root = await mkdtemp(join(tmpdir(), 'kiln-root-'));
    const ctx = await mkdtemp(join(tmpdir(), 'kiln-ctx-'));
    tempDirs.push(root, ctx);
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN echo built-on-pulled-base > /built.txt\n`);
    const env = { ...process.env, KILN_ROOT: root };
    const built = spawnSync(process.execPath, [kilnBin, 'build', '--progress', 'plain', '-t', 'from-registry:1', ctx], { env, encoding: 'utf8', timeout: 120_000 });
    assert.equal(built.status, 0, built.stderr);
    const store = await Store.open({ root });
    assert.equal((await store.resolveImage(base))?.id, image.id, 'the base was pulled and tagged');
    const child = await store.resolveImage('from-registry:1');
    assert.deepEqual(child?.config.rootfs.diff_ids.slice(0, 1), image.config.rootfs.diff_ids);
    const ran = spawnSync(process.execPath, [kilnBin, 'run', '--rm', 'from-registry:1', 'cat', '/built.txt'], { env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(ran.status, 0, ran.stderr);
    assert.equal(ran.stdout, 'built-on-pulled-base\n');
  });

  test('a multi-platform index picks the host entry, --platform another, attestations skipped', async (t) => {
    if (!prerequisite(t, available, 'docker-registry, htpasswd and openssl are needed')) return;
    const src = await tempStore();
    const amd = await makeImage(src, [{ 'arch': 'amd64\n' }], { tag: `${reg.host}/multi/app:amd64`, architecture: 'amd64' });
    const arm = await makeImage(src, [{ 'arch': 'arm64\n' }], { tag: `${reg.host}/multi/app:arm64`, architecture: 'arm64' });
    const amdPush = await pushImage(src, `${reg.host}/multi/app:amd64`);
    const armPush = await pushImage(src, `${reg.host}/multi/app:arm64`);
    const attestationConfig = await putBlob(reg.host, 'multi/app', Buffer.from('{}'));
    const attestation = await putManifest(reg.host, 'multi/app', 'att', OCI_MANIFEST, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: attestationConfig, size: 2 }, layers: [] });
    await putManifest(reg.host, 'multi/app', 'latest', OCI_INDEX, {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: armPush.digest, size: armPush.size, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { mediaType: OCI_MANIFEST, digest: attestation, size: 0, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amdPush.digest } },
        { mediaType: OCI_MANIFEST, digest: amdPush.digest, size: amdPush.size, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    });
    // The same two images as Docker schema 2 manifests under a Docker manifest list.
    const asDocker = async (pushed: typeof amdPush): Promise<{ digest: string; size: number }> => {
      const oci = JSON.parse(pushed.manifest.toString()) as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
      const body = { schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: { mediaType: 'application/vnd.docker.container.image.v1+json', ...oci.config }, layers: oci.layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: l.digest, size: l.size })) };
      const digest = await putManifest(reg.host, 'multi/app', `docker-${pushed.digest.slice(7, 19)}`, DOCKER_MANIFEST, body);
      return { digest, size: Buffer.byteLength(JSON.stringify(body)) };
    };
    const [amdDocker, armDocker] = [await asDocker(amdPush), await asDocker(armPush)];
    await putManifest(reg.host, 'multi/app', 'docker', DOCKER_MANIFEST_LIST, {
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST_LIST,
      manifests: [
        { mediaType: DOCKER_MANIFEST, ...armDocker, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { mediaType: DOCKER_MANIFEST, ...amdDocker, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    });
    const dst = await tempStore();
    const fromList = await pullImageDetailed(dst, `${reg.host}/multi/app:docker`, { platform: 'linux/arm64' });
    assert.equal(fromList.record.id, arm.id);
    assert.equal(fromList.manifestDigest, armDocker.digest);
    const host = await pullImage(dst, `${reg.host}/multi/app`);
    assert.equal(host.config.architecture, process.arch === 'x64' ? 'amd64' : host.config.architecture);
    if (process.arch === 'x64') assert.equal(host.id, amd.id);
    const other = await pullImage(dst, `${reg.host}/multi/app`, { platform: 'linux/arm64' });
    assert.equal(other.id, arm.id);
    await assert.rejects(pullImage(dst, `${reg.host}/multi/app`, { platform: 'linux/s390x' }), isKilnError('NO_MATCHING_PLATFORM', /linux\/s390x.*multi\/app.*linux\/arm64\/v8, linux\/amd64/));
  });

  test('a tampered layer or config is refused and leaves nothing in the store', async (t) => {
    if (!prerequisite(t, available, 'docker-registry, htpasswd and openssl are needed')) return;
    const src = await tempStore();
    const ref = `${reg.host}/tamper/layer:1`;
    const image = await makeImage(src, [{ 'payload': randomContent(200_000) }], { tag: ref });
    const pushed = await pushImage(src, ref);
    const layer = pushed.layers[0]?.descriptor.digest as string;
    const path = reg.blobDataPath(layer);
    const bytes = await readFile(path);
    bytes[bytes.length >> 1] ^= 0xff; // same size, different content
    await writeFile(path, bytes);
    const dst = await tempStore();
    await assert.rejects(pullImage(dst, ref), isKilnError(['DIGEST_MISMATCH', 'BAD_LAYER'], /tamper\/layer:1/));
    assert.equal(await dst.hasBlob(image.config.rootfs.diff_ids[0] as string), false, 'no layer stored');
    assert.equal(await dst.resolveImage(ref), undefined, 'no image committed');
    assert.deepEqual((await readdir(join(dst.root, 'blobs', 'ingest'))).filter((n) => n.startsWith('blob-')), [], 'no half-written blob left');

    const ref2 = `${reg.host}/tamper/config:1`;
    const image2 = await makeImage(src, [{ 'x': 'y' }], { tag: ref2, cmd: ['/tampered'] });
    await pushImage(src, ref2);
    const cpath = reg.blobDataPath(image2.id);
    const cbytes = await readFile(cpath);
    await writeFile(cpath, Buffer.from(cbytes.toString('utf8').replace('/tampered', '/tamperex')));
    await assert.rejects(pullImage(dst, ref2), isKilnError('DIGEST_MISMATCH', /config of .*tamper\/config:1/));
  });

  test('clear errors: unknown image, unreachable registry, invalid reference', async (t) => {
    if (!prerequisite(t, available, 'docker-registry, htpasswd and openssl are needed')) return;
    const dst = await tempStore();
    await assert.rejects(pullImage(dst, `${reg.host}/nobody/nothing:1`), isKilnError('IMAGE_NOT_FOUND', /nobody\/nothing:1/));
    const closed = await freePort();
    await assert.rejects(pullImage(dst, `127.0.0.1:${closed}/x/y`), isKilnError('REGISTRY_UNREACHABLE', /127\.0\.0\.1:\d+.*x\/y|x\/y.*unreachable/));
    await assert.rejects(pullImage(dst, `${reg.host}/Bad/Name`), isKilnError('INVALID_REFERENCE', /lowercase/));
    await assert.rejects(pushImage(dst, `${reg.host}/not/here:1`), isKilnError('IMAGE_NOT_FOUND'));
  });

  test('a zstd layer is decompressed with the zstd program and verified', async (t) => {
    if (!prerequisite(t, available, 'docker-registry, htpasswd and openssl are needed')) return;
    const hasZstd = spawnSync('zstd', ['--version']).status === 0;
    if (!prerequisite(t, hasZstd, 'the zstd program is needed')) return;
    const src = await tempStore();
    const diffId = await layerFromFiles(src, { 'z/file': 'zstd!\n'.repeat(10_000) });
    const zst = execFileSync('zstd', ['-c', '-q', src.blobPath(diffId)]);
    const layerDigest = await putBlob(reg.host, 'zstd/img', zst);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] }, history: [{ created_by: 'zstd' }] }));
    const configDigest = await putBlob(reg.host, 'zstd/img', config);
    await putManifest(reg.host, 'zstd/img', '1', OCI_MANIFEST, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length }, layers: [{ mediaType: OCI_LAYER_ZSTD, digest: layerDigest, size: zst.length }] });
    const dst = await tempStore();
    const rec = await pullImage(dst, `${reg.host}/zstd/img:1`, { platform: 'linux/amd64' });
    assert.equal(rec.id, configDigest);
    assert.equal(sha256Digest(await readFile(dst.blobPath(diffId))), diffId);
  });

  test('build cache exported as an artifact imports into an empty store', async (t) => {
    if (!prerequisite(t, available, 'docker-registry, htpasswd and openssl are needed')) return;
    const src = await tempStore();
    const a = await layerFromFiles(src, { 'step1': 'one\n' });
    const b = await layerFromFiles(src, { 'step2': randomContent(50_000) });
    const records: CacheRecord[] = [
      { key: 'a'.repeat(32), diffIds: [a], config: { env: ['A=1'] }, createdAt: '2026-01-01T00:00:00.000Z' },
      { key: 'b'.repeat(32), diffIds: [b], config: { env: ['B=2'] }, history: { created_by: 'RUN b' }, createdAt: '2026-01-01T00:00:00.000Z' },
      { key: 'c'.repeat(32), diffIds: [], config: { workdir: '/x' }, createdAt: '2026-01-01T00:00:00.000Z' },
    ];
    const ref = `${reg.host}/cache/app:buildcache`;
    await sendRecords(records, registryCacheCarrier(src, ref));
    const dst = await tempStore();
    const imported = await receiveRecords(registryCacheCarrier(dst, ref));
    assert.deepEqual([...imported].sort((x, y) => x.key.localeCompare(y.key)), records);
    assert.ok((await dst.hasBlob(a)) && (await dst.hasBlob(b)));
    assert.deepEqual(await receiveRecords(registryCacheCarrier(dst, `${reg.host}/cache/none:buildcache`)), [], 'a cache that does not exist yet is empty, not an error');

    // Through the cache index, as the build's --cache-to/--cache-from use it.
    const srcIndex = new CacheIndex(src.root);
    for (const r of records) await srcIndex.put(r);
    const viaIndex = `${reg.host}/cache/app:viaindex`;
    const exported = await exportRecords(src, srcIndex, [...records.map((r) => r.key), 'f'.repeat(32)], registryCacheCarrier(src, viaIndex));
    assert.equal(exported, 3, 'keys the index does not have are skipped');
    const fresh = await tempStore();
    const freshIndex = new CacheIndex(fresh.root);
    assert.equal(await importRecords(freshIndex, registryCacheCarrier(fresh, viaIndex)), 3);
    for (const r of records) assert.deepEqual(await freshIndex.get(r.key), r);
    assert.ok(await fresh.hasBlob(b));

    await assert.rejects(receiveRecords(registryCacheCarrier(dst, `${reg.host}/kiln/base:1`)).catch(async (e) => {
      // the base image exists only if the first test ran; otherwise it is simply absent
      if (e instanceof KilnError && e.code === 'IMAGE_NOT_FOUND') throw new KilnError('NOT_A_CACHE', 'absent');
      throw e;
    }), isKilnError('NOT_A_CACHE'));
  });
});

describe('registry with htpasswd Basic auth', () => {
  let reg: TestRegistry;
  before(async () => {
    if (available) reg = await startRegistry({ kind: 'basic', user: 'alice', password: 's3cret' });
  });
  after(async () => reg?.stop());

  test('anonymous is refused; stored credentials work; kiln login/logout manage docker config.json', async (t) => {
    if (!prerequisite(t, available, 'docker-registry, htpasswd and openssl are needed')) return;
    const src = await tempStore();
    const ref = `${reg.host}/private/app:1`;
    const image = await makeImage(src, [{ 'secret': 'data\n' }], { tag: ref });
    await assert.rejects(pushImage(src, ref, { credentials: async () => undefined }), isKilnError('UNAUTHORIZED', /private\/app:1.*kiln login/));
    await assert.rejects(pushImage(src, ref, { credentials: async () => ({ username: 'alice', password: 'wrong' }) }), isKilnError('UNAUTHORIZED'));
    await pushImage(src, ref, { credentials: async () => ({ username: 'alice', password: 's3cret' }) });

    // The CLI: login writes docker's format (mode 0600), pull uses it, logout removes it.
    const home = await mkdtemp(join(tmpdir(), 'kiln-home-'));
    tempDirs.push(home);
    const root = await mkdtemp(join(tmpdir(), 'kiln-root-'));
    tempDirs.push(root);
    const env = { ...process.env, DOCKER_CONFIG: join(home, '.docker'), KILN_ROOT: root };
    const kiln = (args: string[], input?: string) => spawnSync(process.execPath, [kilnBin, ...args], { env, encoding: 'utf8', input: input ?? '' });
    const denied = kiln(['pull', ref]);
    assert.equal(denied.status, 1);
    assert.match(denied.stderr, /unauthorized.*private\/app:1.*kiln login/);
    const bad = kiln(['login', '-u', 'alice', '--password-stdin', reg.host], 'nope\n');
    assert.equal(bad.status, 1, bad.stderr);
    const login = kiln(['login', '-u', 'alice', '--password-stdin', reg.host], 's3cret\n');
    assert.equal(login.status, 0, login.stderr);
    assert.match(login.stdout, /Login Succeeded/);
    const configFile = join(home, '.docker', 'config.json');
    assert.equal((await stat(configFile)).mode & 0o777, 0o600);
    const saved = JSON.parse(await readFile(configFile, 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(saved.auths[reg.host]?.auth ?? '', 'base64').toString(), 'alice:s3cret');
    const pulled = kiln(['pull', ref]);
    assert.equal(pulled.status, 0, pulled.stderr);
    assert.match(pulled.stdout, new RegExp(`Digest: sha256:[0-9a-f]{64}`));
    const dst = await Store.open({ root });
    assert.equal((await dst.resolveImage(ref))?.id, image.id);
    const logout = kiln(['logout', reg.host]);
    assert.equal(logout.status, 0);
    assert.match(logout.stdout, /Removing login credentials/);
    const after = JSON.parse(await readFile(configFile, 'utf8')) as { auths: Record<string, unknown> };
    assert.equal(after.auths[reg.host], undefined);
  });
});

describe('registry with Bearer token auth', () => {
  let reg: TestRegistry;
  before(async () => {
    if (available) reg = await startRegistry({ kind: 'token', user: 'bob', password: 'pw' });
  });
  after(async () => reg?.stop());

  test('tokens are fetched per scope and reused; bad credentials are unauthorized', async (t) => {
    if (!prerequisite(t, available, 'docker-registry, htpasswd and openssl are needed')) return;
    const creds = async () => ({ username: 'bob', password: 'pw' });
    const src = await tempStore();
    const ref = `${reg.host}/team/app:1`;
    const image = await makeImage(src, [{ 'a': 'a\n' }, { 'b': randomContent(100_000) }, { 'c': 'c\n' }], { tag: ref });
    await pushImage(src, ref, { credentials: creds });
    const afterPush = reg.tokensIssued();
    assert.ok(afterPush >= 1 && afterPush <= 2, `one token per scope set, reused for every request (issued ${afterPush})`);
    const dst = await tempStore();
    const rec = await pullImage(dst, ref, { credentials: creds });
    assert.equal(rec.id, image.id);
    assert.ok(reg.tokensIssued() - afterPush <= 1, 'the pull reuses one pull token');
    await assert.rejects(pullImage(await tempStore(), ref, { credentials: async () => ({ username: 'bob', password: 'bad' }) }), isKilnError('UNAUTHORIZED', /team\/app:1/));
    await assert.rejects(pullImage(await tempStore(), ref, { credentials: async () => undefined }), isKilnError('UNAUTHORIZED', /anonymous/));
  });
});
