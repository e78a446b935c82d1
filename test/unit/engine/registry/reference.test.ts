import { test } from 'node:test';
import assert from 'node:assert/strict';
import { familiarReference as familiarName, fullReference as formatReference, parseReference } from '../../../../engine/image/reference.js';
import { apiHost, normaliseRegistryHost } from '../../../../engine/registry/registryHost.js';
import { KilnError } from '../../../../engine/errors/kilnError.js';

const HEX = 'a'.repeat(64);

test('docker normalisation: official images, users, hosts with ports, localhost, digests', () => {
  const cases: [string, string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['me/app:v1', 'docker.io/me/app:v1', 'me/app:v1'],
    ['docker.io/library/a/b', 'docker.io/library/a/b:latest', 'library/a/b:latest'],
    ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
    ['localhost:5000/app:dev', 'localhost:5000/app:dev', 'localhost:5000/app:dev'],
    ['127.0.0.1:5000/team/app', '127.0.0.1:5000/team/app:latest', '127.0.0.1:5000/team/app:latest'],
    ['ghcr.io/o/r/x:1.0-rc_2', 'ghcr.io/o/r/x:1.0-rc_2', 'ghcr.io/o/r/x:1.0-rc_2'],
    [`busybox@sha256:${HEX}`, `docker.io/library/busybox@sha256:${HEX}`, `busybox@sha256:${HEX}`],
    [`h:1/a:t@sha256:${HEX}`, `h:1/a:t@sha256:${HEX}`, `h:1/a:t@sha256:${HEX}`],
    ['[::1]:5000/x', '[::1]:5000/x:latest', '[::1]:5000/x:latest'],
    ['a__b/c-d.e--f', 'docker.io/a__b/c-d.e--f:latest', 'a__b/c-d.e--f:latest'],
  ];
  for (const [input, full, familiar] of cases) {
    const ref = parseReference(input);
    assert.equal(formatReference(ref), full, input);
    assert.equal(familiarName(ref), familiar, input);
  }
  const d = parseReference(`h:1/a@sha256:${HEX}`);
  assert.equal(d.tag, undefined);
  assert.equal(d.digest, `sha256:${HEX}`);
  assert.equal(parseReference('x', { defaultTag: false }).tag, undefined);
  assert.equal(apiHost('docker.io'), 'registry-1.docker.io');
  assert.equal(apiHost('localhost:5000'), 'localhost:5000');
});

test('invalid references are KilnErrors that name the text and say why', () => {
  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['Busybox', /lowercase/],
    ['me/App', /lowercase/],
    ['busybox:', /not a valid tag/],
    ['busybox:-x', /not a valid tag/],
    [`busybox:${'t'.repeat(129)}`, /not a valid tag/],
    ['busybox@sha256:abc', /not a valid digest/],
    [`busybox@sha256:${'A'.repeat(64)}`, /sha256 digest has 64 lowercase/],
    ['busybox@md5:0123456789abcdef0123456789abcdef', /unsupported digest algorithm/],
    ['a//b', /not a valid repository name/],
    ['a/b_', /not a valid repository name/],
    ['-x/y', /not a valid/],
    ['host:/x', /not a valid registry host|not a valid/],
    [HEX, /64-byte hexadecimal/],
    ['with space', /whitespace/],
    [`h/${'a'.repeat(260)}`, /255/],
  ];
  for (const [input, why] of bad) {
    assert.throws(() => parseReference(input), (e: unknown) => {
      assert.ok(e instanceof KilnError, input);
      assert.equal(e.code, 'INVALID_REFERENCE');
      assert.match(e.message, why, `${JSON.stringify(input)}: ${e.message}`);
      assert.ok(e.message.includes(`"${input}"`), 'names the reference');
      return true;
    });
  }
});

test('registry hosts for login and --insecure-registry', () => {
  assert.equal(normaliseRegistryHost('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(normaliseRegistryHost('registry-1.docker.io'), 'docker.io');
  assert.equal(normaliseRegistryHost('http://LocalHost:5000/'), 'localhost:5000');
  assert.equal(normaliseRegistryHost('myreg.example:443'), 'myreg.example:443');
});
