import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostPlatform, parsePlatform, platformMatches } from '../../../../engine/image/platform.js';
import { selectPlatform } from '../../../../engine/registry/pull.js';
import { parseManifest } from '../../../../engine/registry/manifest.js';
import type { Descriptor } from '../../../../engine/registry/manifest.js';
import { KilnError } from '../../../../engine/errors/kilnError.js';

const d = (n: string, platform?: Descriptor['platform'], annotations?: Record<string, string>): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${n.repeat(64)}`,
  size: 1,
  ...(platform ? { platform } : {}),
  ...(annotations ? { annotations } : {}),
});

test('platforms normalise as containerd does', () => {
  assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatform('linux/aarch64/v8'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(parsePlatform('linux/arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(parsePlatform('arm64'), { os: 'linux', architecture: 'arm64' });
  assert.throws(() => parsePlatform('linux//'), KilnError);
  assert.ok(platformMatches({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }));
  assert.ok(!platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm', variant: 'v7' }));
  if (process.arch === 'x64') assert.deepEqual(hostPlatform(), { os: 'linux', architecture: 'amd64' });
});

test('one platform vocabulary for --platform, FROM --platform and pulls: arm64 has no v8 variant, bare words as containerd reads them', () => {
  assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(parsePlatform('linux/arm64/v9.0'), { os: 'linux', architecture: 'arm64', variant: 'v9' });
  assert.deepEqual(parsePlatform('linux/amd64/v1'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatform('linux/amd64/v3'), { os: 'linux', architecture: 'amd64', variant: 'v3' });
  assert.deepEqual(parsePlatform('Linux/ARMHF'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(parsePlatform('linux/arm/6'), { os: 'linux', architecture: 'arm', variant: 'v6' });
  assert.deepEqual(parsePlatform('linux/i386'), { os: 'linux', architecture: '386' });
  assert.deepEqual(parsePlatform('linux'), hostPlatform(), 'a bare OS takes this machine\'s architecture');
  assert.deepEqual(parsePlatform('windows'), { ...hostPlatform(), os: 'windows' });
  assert.deepEqual(parsePlatform('s390x'), { os: 'linux', architecture: 's390x' }, 'a bare architecture is linux');
  assert.throws(() => parsePlatform('linux/amd64/v2/x'), /invalid platform "linux\/amd64\/v2\/x"/);
});

test('index selection: host entry, variants, attestations skipped', () => {
  const list = [
    d('a', { os: 'unknown', architecture: 'unknown' }, { 'vnd.docker.reference.type': 'attestation-manifest' }),
    d('b', { os: 'linux', architecture: 'arm', variant: 'v6' }),
    d('c', { os: 'linux', architecture: 'arm', variant: 'v7' }),
    d('d', { os: 'linux', architecture: 'amd64' }),
    d('e', { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    d('f', { os: 'windows', architecture: 'amd64' }),
  ];
  assert.equal(selectPlatform(list, parsePlatform('linux/amd64'))?.digest, list[3]?.digest);
  assert.equal(selectPlatform(list, parsePlatform('linux/arm/v6'))?.digest, list[1]?.digest);
  assert.equal(selectPlatform(list, parsePlatform('linux/arm'))?.digest, list[2]?.digest);
  assert.equal(selectPlatform(list, parsePlatform('linux/arm64'))?.digest, list[4]?.digest);
  assert.equal(selectPlatform(list, parsePlatform('windows/amd64'))?.digest, list[5]?.digest);
  assert.equal(selectPlatform(list, parsePlatform('linux/s390x')), undefined);
  assert.equal(selectPlatform([list[0] as Descriptor], parsePlatform('linux/amd64')), undefined, 'an attestation is never an image');
});

test('manifests: type from body or header, schema 1 refused, disagreement refused', () => {
  const m = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: 'x', digest: `sha256:${'1'.repeat(64)}`, size: 2 }, layers: [] }));
  assert.equal(parseManifest(m, 'application/vnd.docker.distribution.manifest.v2+json', 'sha256:x', 's').kind, 'manifest');
  assert.equal(parseManifest(m, null, 'sha256:x', 's').mediaType, 'application/vnd.oci.image.manifest.v1+json');
  const list = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json', manifests: [] }));
  assert.equal(parseManifest(list, 'application/vnd.docker.distribution.manifest.list.v2+json', 'sha256:x', 's').kind, 'index');
  assert.throws(() => parseManifest(list, 'application/vnd.oci.image.manifest.v1+json', 'sha256:x', 's'), /disagrees/);
  assert.throws(() => parseManifest(Buffer.from('{"schemaVersion":1}'), 'application/vnd.docker.distribution.manifest.v1+prettyjws', 'sha256:x', 'img'), /schema 1/);
  assert.throws(() => parseManifest(Buffer.from('nope'), null, 'sha256:x', 'img'), /not JSON/);
  const badDigest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: 'x', digest: 'sha256:zz', size: 2 }, layers: [] }));
  assert.throws(() => parseManifest(badDigest, null, 'sha256:x', 'img'), /invalid or non-sha256 digest/);
});

test('--cache-to / --cache-from values', async () => {
  const { parseRegistryCacheSpec } = await import('../../../../engine/registry/cacheSpec.js');
  assert.deepEqual(parseRegistryCacheSpec('--cache-to', 'type=registry,ref=127.0.0.1:5000/app:cache,mode=max'), { ref: '127.0.0.1:5000/app:cache', mode: 'max' });
  assert.deepEqual(parseRegistryCacheSpec('--cache-from', 'type=registry,ref=me/app:cache'), { ref: 'docker.io/me/app:cache', mode: 'min' });
  assert.deepEqual(parseRegistryCacheSpec('--cache-from', 'me/app:cache'), { ref: 'docker.io/me/app:cache', mode: 'min' });
  assert.throws(() => parseRegistryCacheSpec('--cache-to', 'type=local,dest=/x'), /type=registry/);
  assert.throws(() => parseRegistryCacheSpec('--cache-to', 'type=registry'), /ref=REFERENCE is required/);
  assert.throws(() => parseRegistryCacheSpec('--cache-to', 'type=registry,ref=a,mode=all'), /mode must be min or max/);
  assert.throws(() => parseRegistryCacheSpec('--cache-to', 'type=registry,ref=Bad'), /lowercase/);
});
