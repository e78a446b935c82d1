/**
 * The certificate authorities a user adds with NODE_EXTRA_CA_CERTS: bin/kiln keeps node from
 * loading them at start-up (they cost every verb 40-80 ms), and kiln trusts them itself when it
 * talks to a registry. Checked against a registry served over TLS with a CA of the test's own.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import { pushImage } from '../../engine/registry/push.js';
import { HANDED_OVER_VARIABLE, trustExtraCertificates } from '../../engine/registry/extraCertificates.js';
import { kilnBin, prerequisite } from '../support/env.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../../harness/registry.js';
import { makeImage } from '../support/testImage.js';

const available = registryAvailable();
const tempDirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-trust-'));
  tempDirs.push(dir);
  return dir;
}

/** bin/kiln as a user runs it (through its sh line), with NODE_EXTRA_CA_CERTS as given. */
function kiln(args: string[], root: string, extraCerts: string | undefined): ReturnType<typeof spawnSync> {
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_ROOT: root };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env[HANDED_OVER_VARIABLE];
  if (extraCerts !== undefined) env.NODE_EXTRA_CA_CERTS = extraCerts;
  return spawnSync(kilnBin, args, { env, encoding: 'utf8', timeout: 60_000 });
}

after(async () => {
  for (const d of tempDirs) await rm(d, { recursive: true, force: true });
});

describe('NODE_EXTRA_CA_CERTS', () => {
  let reg: TestRegistry;
  let ref = '';
  before(async () => {
    if (!available) return;
    reg = await startRegistry({ kind: 'none' }, { tls: true });
    // This process trusts the test CA the same way, to push the image the CLI pulls.
    trustExtraCertificates({ [HANDED_OVER_VARIABLE]: reg.caFile });
    const store = await Store.open({ root: await tempDir() });
    ref = `${reg.host}/trust/app:1`;
    await makeImage(store, [{ 'hello.txt': 'hello over tls\n' }], { tag: ref });
    await pushImage(store, ref);
  });
  after(async () => {
    await reg?.stop();
  });

  test('kiln pull trusts the CA NODE_EXTRA_CA_CERTS names', async (t) => {
    if (!prerequisite(t, available, 'docker-registry, htpasswd and openssl are needed')) return;
    const root = await tempDir();
    const pulled = kiln(['pull', ref], root, reg.caFile);
    assert.equal(pulled.status, 0, String(pulled.stderr));
    assert.match(String(pulled.stdout), /Downloaded newer image/);
    const images = kiln(['images', '--format', '{{.Repository}}:{{.Tag}}'], root, reg.caFile);
    assert.match(String(images.stdout), new RegExp(`${reg.host.replace(/[.]/g, '\\.')}/trust/app:1`));
  });

  test('without it the registry\'s certificate is refused, in one line', async (t) => {
    if (!prerequisite(t, available, 'docker-registry, htpasswd and openssl are needed')) return;
    const pulled = kiln(['pull', ref], await tempDir(), undefined);
    assert.notEqual(pulled.status, 0);
    assert.match(String(pulled.stderr), /unreachable .*(certificate|CERT)/i, 'the https failure is the cause named');
    assert.doesNotMatch(String(pulled.stderr), /\n\s+at /, 'no stack trace');
  });

  test('a verb that makes no TLS connection does not load the certificates', async () => {
    // Node warns when it cannot load NODE_EXTRA_CA_CERTS at start-up; kiln's own start never asks it to.
    const r = kiln(['images'], await tempDir(), '/nonexistent/extra-ca.pem');
    assert.equal(r.status, 0, String(r.stderr));
    assert.equal(String(r.stderr), '');
  });

  test('an unreadable certificate file is named once and the registry operation goes on', async (t) => {
    if (!prerequisite(t, available, 'docker-registry, htpasswd and openssl are needed')) return;
    const r = kiln(['pull', ref], await tempDir(), '/nonexistent/extra-ca.pem');
    assert.match(String(r.stderr), /warning: ignoring extra certificates from \/nonexistent\/extra-ca\.pem/);
    assert.equal(String(r.stderr).match(/ignoring extra certificates/g)?.length, 1);
  });
});
