import { test } from 'node:test';
import assert from 'node:assert/strict';
import { familiarReference, fullReference, normalizeTag, parseReference, withDefaultTag } from '../../../../engine/image/reference.js';
import { chainId, emptyConfig, imageIdOf, serializeConfig, configProblem } from '../../../../engine/image/config.js';
import { KilnError } from '../../../../engine/errors/kilnError.js';

test('references normalise the way docker does', () => {
  const cases: [string, string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/me/app:v1', 'docker.io/me/app:v1', 'me/app:v1'],
    ['me/app', 'docker.io/me/app:latest', 'me/app:latest'],
    ['localhost:5000/app', 'localhost:5000/app:latest', 'localhost:5000/app:latest'],
    ['localhost/app:dev', 'localhost/app:dev', 'localhost/app:dev'],
    ['registry.example.com/a/b/c:1.0-rc_1', 'registry.example.com/a/b/c:1.0-rc_1', 'registry.example.com/a/b/c:1.0-rc_1'],
  ];
  for (const [input, full, familiar] of cases) {
    const ref = withDefaultTag(parseReference(input));
    assert.equal(fullReference(ref), full, input);
    assert.equal(familiarReference(ref), familiar, input);
    assert.equal(normalizeTag(input), full, input);
  }
  const digest = `sha256:${'a'.repeat(64)}`;
  const pinned = parseReference(`busybox@${digest}`);
  assert.equal(pinned.digest, digest);
  assert.equal(pinned.tag, undefined);
  assert.equal(fullReference(withDefaultTag(pinned)), `docker.io/library/busybox@${digest}`);
});

test('malformed references are refused with KilnError', () => {
  for (const bad of ['', 'Busybox', 'a b', 'busybox:', 'busybox:-x', 'a//b', 'busybox@sha256:short', '-leading']) {
    assert.throws(() => parseReference(bad), (e: unknown) => e instanceof KilnError && e.code === 'INVALID_REFERENCE', bad);
  }
  assert.throws(() => normalizeTag(`busybox@sha256:${'a'.repeat(64)}`), /cannot be used as a tag/);
});

test('config bytes are canonical: same content, same image ID, whatever the build order', () => {
  const a = emptyConfig({ architecture: 'amd64', os: 'linux' });
  a.config = { Labels: { z: '1', a: '2' }, Env: ['A=1'], ExposedPorts: { '80/tcp': {}, '443/tcp': {} } };
  const b = { rootfs: { diff_ids: [], type: 'layers' as const }, history: [], os: 'linux', architecture: 'amd64', config: { ExposedPorts: { '443/tcp': {}, '80/tcp': {} }, Env: ['A=1'], Labels: { a: '2', z: '1' } } };
  assert.ok(serializeConfig(a).equals(serializeConfig(b)));
  assert.equal(imageIdOf(serializeConfig(a)), imageIdOf(serializeConfig(b)));
  assert.equal(serializeConfig(a).toString(), '{"architecture":"amd64","config":{"ExposedPorts":{"443/tcp":{},"80/tcp":{}},"Env":["A=1"],"Labels":{"a":"2","z":"1"}},"history":[],"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
});

test('chain IDs and config checks follow the image spec', () => {
  const d1 = `sha256:${'1'.repeat(64)}`;
  const d2 = `sha256:${'2'.repeat(64)}`;
  assert.equal(chainId([d1]), d1);
  assert.match(chainId([d1, d2]), /^sha256:[0-9a-f]{64}$/);
  assert.notEqual(chainId([d1, d2]), chainId([d2, d1]));
  assert.equal(configProblem({ rootfs: { type: 'layers', diff_ids: [d1] }, history: [{}] }), undefined);
  assert.match(configProblem({ architecture: 'amd64' }) ?? '', /no rootfs/);
  assert.match(configProblem({ rootfs: { type: 'layers', diff_ids: [] }, history: [{ created_by: 'RUN x' }] }) ?? '', /1 layer entries but rootfs has 0/);
});
