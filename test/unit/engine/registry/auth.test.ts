import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseChallenges } from '../../../../engine/registry/challenge.js';
import { RegistryAuth, repositoryScope } from '../../../../engine/registry/auth.js';
import { readCredentials, removeCredentials, storeCredentials, configKey } from '../../../../engine/registry/dockerConfig.js';
import { fetchFollowingRedirects, headersForRedirect } from '../../../../engine/registry/redirects.js';
import { KilnError } from '../../../../engine/errors/kilnError.js';

test('WWW-Authenticate: Bearer with quoted params, Basic, several challenges, escapes', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  assert.deepEqual(parseChallenges('Basic realm="a", Bearer realm="http://t/x", service=reg, error="insufficient_scope"'), [
    { scheme: 'basic', params: { realm: 'a' } },
    { scheme: 'bearer', params: { realm: 'http://t/x', service: 'reg', error: 'insufficient_scope' } },
  ]);
  assert.deepEqual(parseChallenges('BEARER realm="q\\"uote",  Service = "s" '), [{ scheme: 'bearer', params: { realm: 'q"uote', service: 's' } }]);
  assert.deepEqual(parseChallenges(''), []);
});

function tokenFetch(log: string[], expiresIn: number): (url: string, init: RequestInit) => Promise<Response> {
  let n = 0;
  return async (url, init) => {
    log.push(`${url} ${new Headers(init.headers).get('authorization') ?? '-'}`);
    n++;
    return new Response(JSON.stringify({ token: `tok${n}`, expires_in: expiresIn }), { status: 200, headers: { 'content-type': 'application/json' } });
  };
}

test('Bearer tokens: per scope set, reused until expiry, Basic credentials sent to the realm', async () => {
  const log: string[] = [];
  let now = 1_000_000;
  const auth = new RegistryAuth(async () => ({ username: 'u', password: 'p' }), tokenFetch(log, 60), () => now);
  assert.equal(await auth.authorization('reg', ['x'], 's'), undefined, 'no challenge: anonymous');
  auth.learnChallenge('reg', 'Bearer realm="https://auth.example/token",service="svc"');
  const pull = [repositoryScope('a/b', ['pull'])];
  assert.equal(await auth.authorization('reg', pull, 's'), 'Bearer tok1');
  assert.equal(await auth.authorization('reg', pull, 's'), 'Bearer tok1', 'reused');
  assert.equal(await auth.authorization('reg', [repositoryScope('a/b', ['pull', 'push'])], 's'), 'Bearer tok2', 'another scope, another token');
  now += 56_000; // past expires_in minus the safety margin
  assert.equal(await auth.authorization('reg', pull, 's'), 'Bearer tok3', 'expired: fetched again');
  auth.invalidate('reg', pull);
  assert.equal(await auth.authorization('reg', pull, 's'), 'Bearer tok4', 'refused by the registry: fetched again');
  assert.equal(log.length, 4);
  const first = new URL(log[0]?.split(' ')[0] as string);
  assert.equal(first.searchParams.get('service'), 'svc');
  assert.deepEqual(first.searchParams.getAll('scope'), ['repository:a/b:pull']);
  assert.equal(log[0]?.split(' ').slice(1).join(' '), `Basic ${Buffer.from('u:p').toString('base64')}`);
});

test('parallel requests for one scope share a single token request', async () => {
  const log: string[] = [];
  const auth = new RegistryAuth(async () => undefined, tokenFetch(log, 300));
  auth.learnChallenge('reg', 'Bearer realm="https://auth.example/token"');
  const got = await Promise.all([1, 2, 3, 4].map(() => auth.authorization('reg', ['repository:x:pull'], 's')));
  assert.deepEqual(new Set(got), new Set(['Bearer tok1']));
  assert.equal(log.length, 1);
  assert.equal(log[0]?.endsWith(' -'), true, 'anonymous token request carries no Authorization');
});

test('Basic challenge without credentials is an unauthorized KilnError naming the image', async () => {
  const auth = new RegistryAuth(async () => undefined, tokenFetch([], 60));
  auth.learnChallenge('reg:5000', 'Basic realm="r"');
  await assert.rejects(auth.authorization('reg:5000', [], 'reg:5000/app:1'), (e: unknown) => e instanceof KilnError && e.code === 'UNAUTHORIZED' && /reg:5000\/app:1/.test(e.message) && /kiln login reg:5000/.test(e.message));
});

test('docker config.json: reads auths in docker spellings, writes 0600, keeps other keys, removes', async () => {
  const home = await mkdtemp(join(tmpdir(), 'kiln-dc-'));
  try {
    const env = { DOCKER_CONFIG: join(home, 'd') };
    assert.equal(await readCredentials('docker.io', env), undefined, 'no file: anonymous');
    await mkdir(env.DOCKER_CONFIG);
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    await writeFile(join(env.DOCKER_CONFIG, 'config.json'), JSON.stringify({
      auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw:with:colons') }, 'http://localhost:5000': { auth: b64('l:p') }, 'plain.example': { username: 'x', password: 'y' } },
      psFormat: 'table {{.ID}}',
    }));
    assert.deepEqual(await readCredentials('docker.io', env), { username: 'hub', password: 'pw:with:colons' });
    assert.deepEqual(await readCredentials('localhost:5000', env), { username: 'l', password: 'p' });
    assert.deepEqual(await readCredentials('plain.example', env), { username: 'x', password: 'y' });
    assert.equal(await readCredentials('other:1', env), undefined);

    await storeCredentials('localhost:5000', { username: 'new', password: 'secret' }, env);
    const file = join(env.DOCKER_CONFIG, 'config.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const saved = JSON.parse(await readFile(file, 'utf8')) as { auths: Record<string, { auth: string }>; psFormat: string };
    assert.equal(saved.psFormat, 'table {{.ID}}', 'other settings kept');
    assert.equal(saved.auths['http://localhost:5000'], undefined, 'the old spelling of the host is replaced');
    assert.equal(saved.auths['localhost:5000']?.auth, b64('new:secret'));
    assert.equal(configKey('docker.io'), 'https://index.docker.io/v1/');

    assert.equal(await removeCredentials('localhost:5000', env), true);
    assert.equal(await removeCredentials('localhost:5000', env), false);
    assert.equal(await readCredentials('localhost:5000', env), undefined);
    assert.deepEqual(await readCredentials('docker.io', env), { username: 'hub', password: 'pw:with:colons' });

    await writeFile(file, '{not json');
    await assert.rejects(readCredentials('docker.io', env), (e: unknown) => e instanceof KilnError && e.code === 'DOCKER_CONFIG');
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test('redirects: credentials kept on the same origin, stripped for another host', async () => {
  const from = new URL('https://reg.example/v2/a/blobs/sha256:x');
  const h = new Headers({ authorization: 'Bearer t', accept: '*/*' });
  assert.equal(headersForRedirect(from, new URL('https://reg.example/other'), h).get('authorization'), 'Bearer t');
  assert.equal(headersForRedirect(from, new URL('https://cdn.example/blob?sig=1'), h).get('authorization'), null);
  assert.equal(headersForRedirect(from, new URL('https://reg.example:444/x'), h).get('authorization'), null, 'another port is another origin');
  assert.equal(headersForRedirect(from, new URL('http://reg.example/x'), h).get('authorization'), null, 'another scheme too');
  assert.equal(headersForRedirect(from, new URL('https://cdn.example/'), h).get('accept'), '*/*');

  const seen: { url: string; auth: string | null }[] = [];
  const fake = async (url: string, init: RequestInit): Promise<Response> => {
    seen.push({ url, auth: new Headers(init.headers).get('authorization') });
    if (url.startsWith('https://reg.example/')) return new Response(null, { status: 307, headers: { location: 'https://cdn.example/blob?sig=1' } });
    if (url.startsWith('https://cdn.example/blob')) return new Response(null, { status: 302, headers: { location: '/final' } });
    return new Response('data', { status: 200 });
  };
  const { response, finalUrl } = await fetchFollowingRedirects('https://reg.example/v2/a/blobs/sha256:x', { headers: { authorization: 'Bearer t' } }, fake);
  assert.equal(await response.text(), 'data');
  assert.equal(finalUrl, 'https://cdn.example/final');
  assert.deepEqual(seen, [
    { url: 'https://reg.example/v2/a/blobs/sha256:x', auth: 'Bearer t' },
    { url: 'https://cdn.example/blob?sig=1', auth: null },
    { url: 'https://cdn.example/final', auth: null },
  ]);
});

test('plain http only for loopback hosts and --insecure-registry hosts', async () => {
  const { RegistryClient, isLoopbackHost } = await import('../../../../engine/registry/client.js');
  assert.ok(isLoopbackHost('localhost:5000') && isLoopbackHost('127.0.0.1') && isLoopbackHost('127.1.2.3:80') && isLoopbackHost('[::1]:5000'));
  assert.ok(!isLoopbackHost('reg.example:5000') && !isLoopbackHost('128.0.0.1'));
  const tried: string[] = [];
  const fake = async (url: string): Promise<Response> => {
    tried.push(url);
    if (url.startsWith('https:')) throw new TypeError('fetch failed', { cause: Object.assign(new Error('wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }) });
    return new Response('{}', { status: 200 });
  };
  const strict = new RegistryClient('reg.example:5000', 'reg.example:5000/app:1', { fetchImpl: fake, credentials: async () => undefined });
  await assert.rejects(strict.url('/v2/'), (e: unknown) => e instanceof KilnError && e.code === 'REGISTRY_UNREACHABLE' && /reg\.example:5000\/app:1/.test(e.message) && /ERR_SSL_WRONG_VERSION_NUMBER/.test(e.message));
  assert.deepEqual(tried, ['https://reg.example:5000/v2/']);
  tried.length = 0;
  const insecure = new RegistryClient('reg.example:5000', 's', { fetchImpl: fake, insecureRegistries: ['http://reg.example:5000/'], credentials: async () => undefined });
  assert.equal(await insecure.url('/v2/x'), 'http://reg.example:5000/v2/x');
  assert.deepEqual(tried, ['https://reg.example:5000/v2/', 'http://reg.example:5000/v2/']);
});
