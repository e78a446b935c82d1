/**
 * bin/kiln's code cache: written by a verb's first run, replaced once by its second, then
 * only read; a damaged cache or a rebuilt bundle (even one of the same length and mtime) never
 * changes what kiln does, and the cache is written again. Runs a copy of the launcher and the
 * whole bundle in a temp dir so the checkout's own caches are left alone (every verb then runs
 * from the whole bundle; how a verb's own bundle is picked: verbBundles.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../../support/env.js';
import { launcherCopy } from '../../../support/launcherCopy.js';
import { STAMP_PATTERN, stamped } from '../../../../engine/cli/bundling/stampBundle.js';
import { BUNDLE_HEAD, BUNDLE_TAIL } from '../../../../engine/cli/bundling/bundleWrapper.js';

function install(): { root: string; bundle: string; kiln: (...args: string[]) => ReturnType<typeof spawnSync> } {
  const { root, bundles, kiln } = launcherCopy('whole');
  return { root, bundle: join(bundles, 'kiln.cjs'), kiln };
}

/** A cache's stamp line (its generation last), which must end where V8 may read the cache in place: at an 8-byte boundary. */
function stampOf(file: string): string {
  const line = readFileSync(file).subarray(0, 200).toString('latin1').split('\n')[0] as string;
  assert.equal((line.length + 1) % 8, 0, `the cached data of ${file} starts 8-byte aligned`);
  return line.trimEnd();
}

test('the code cache: first run writes it, the second replaces it once, later runs only read it', () => {
  const { root, bundle, kiln } = install();
  try {
    const cache = `${bundle}.version.cache`;
    const out = (kiln('version').stdout as string);
    assert.match(out, /^kiln version /);
    assert.match(stampOf(cache), / 1$/);
    assert.equal(kiln('version').stdout, out);
    assert.match(stampOf(cache), / 2$/);
    const final = readFileSync(cache);
    assert.equal(kiln('version').stdout, out);
    assert.deepEqual(readFileSync(cache), final, 'a final cache is not rewritten');
    // Each verb has its own cache, after the global options.
    kiln('--root', join(root, 'store'), 'images');
    assert.ok(readdirSync(join(root, 'dist', 'bundle')).includes('kiln.cjs.images.cache'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a damaged cache or a rebuilt bundle is ignored and written again', () => {
  const { root, bundle, kiln } = install();
  try {
    const cache = `${bundle}.version.cache`;
    const out = kiln('version').stdout;
    kiln('version');
    const good = readFileSync(cache);
    // Same stamp, garbage after it: V8 rejects the data; the output must not change.
    const stampLength = good.indexOf(10) + 1;
    writeFileSync(cache, Buffer.concat([good.subarray(0, stampLength), Buffer.alloc(good.length - stampLength, 0x5a)]));
    assert.equal(kiln('version').stdout, out);
    assert.match(stampOf(cache), / 1$/, 'a rejected cache is replaced');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the build stamps the bundle with the sha256 of its content', () => {
  const text = readFileSync(join(repoRoot, 'dist', 'bundle', 'kiln.cjs'), 'latin1');
  assert.match(text, STAMP_PATTERN);
  assert.equal(stamped(text), text, 'the stamp is the hash of what precedes it');
});

test('a rebuilt bundle of the same length and mtime is never run from the old bundle\'s cache', () => {
  // V8 checks a cache only against the source's length: a stamp of size and mtime let the old
  // code run after a same-length rebuild within one timestamp tick (an old verb list in --help).
  const { root, bundle, kiln } = install();
  try {
    const before = kiln('--help').stdout as string;
    kiln('--help');
    assert.match(stampOf(`${bundle}.other.cache`), / 2$/, 'a final cache is in place');
    const { mtime } = statSync(bundle);
    const rebuilt = stamped(readFileSync(bundle, 'latin1').replace('List images', 'LIST IMAGES'));
    assert.equal(rebuilt.length, statSync(bundle).size, 'the same length');
    writeFileSync(bundle, rebuilt, 'latin1');
    utimesSync(bundle, mtime, mtime);
    const after = kiln('--help').stdout as string;
    assert.match(after, /LIST IMAGES/);
    assert.equal(after, before.replace('List images', 'LIST IMAGES'));
    assert.match(stampOf(`${bundle}.other.cache`), / 1$/, 'the old cache is replaced');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a bundle without a stamp runs without a code cache', () => {
  const { root, bundle, kiln } = install();
  try {
    writeFileSync(bundle, readFileSync(bundle, 'latin1').replace(STAMP_PATTERN, '\n'), 'latin1');
    const out = kiln('version').stdout;
    assert.match(out as string, /^kiln version /);
    assert.equal(kiln('version').stdout, out);
    assert.deepEqual(readdirSync(join(root, 'dist', 'bundle')).filter((n) => n.endsWith('.cache')), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a launcher that cannot write its cache still runs', () => {
  const { root, bundle, kiln } = install();
  try {
    // A directory where the cache file should go: writing it fails; kiln must not care.
    mkdirSync(`${bundle}.version.cache`);
    const r = kiln('version');
    assert.equal(r.status, 0, r.stderr as string);
    assert.match(r.stdout as string, /^kiln version /);
    assert.equal(readdirSync(join(root, 'dist', 'bundle')).filter((n) => n.endsWith('.tmp')).length, 0, 'no temp file left');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('no bundle has an import() left: code loaded from a cache cannot run one', () => {
  // A function deserialized from V8's code cache loses the host options import() needs
  // (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING); the bundles turn every import() into require().
  const dir = join(repoRoot, 'dist', 'bundle');
  const names = readdirSync(dir).filter((n) => n.endsWith('.cjs'));
  assert.ok(names.length > 1, names.join(' '));
  for (const n of names) assert.equal(/\bimport\("/.test(readFileSync(join(dir, n), 'latin1')), false, n);
});

test('a launcher without its bundle says kiln is not built, without a stack trace', () => {
  const { root, bundle, kiln } = install();
  try {
    rmSync(bundle);
    const r = kiln('version');
    assert.equal(r.status, 70);
    assert.match(r.stderr as string, /kiln is not built here \(run npm run build in /);
    assert.doesNotMatch(r.stderr as string, /\n\s+at /);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('every bundle is written inside the CommonJS wrapper bin/kiln knows, and one written without it (an older build) still runs', () => {
  const launcher = readFileSync(join(repoRoot, 'bin', 'kiln'), 'latin1');
  assert.ok(launcher.includes(`const HEAD = ${JSON.stringify(BUNDLE_HEAD).replace(/"/g, "'")};`), 'bin/kiln holds the wrapper\'s head');
  assert.ok(launcher.includes(`const TAIL = '${BUNDLE_TAIL.replace('\n', '\\n')}';`), 'bin/kiln holds the wrapper\'s tail');
  const built = join(repoRoot, 'dist', 'bundle');
  for (const name of readdirSync(built).filter((n) => n.endsWith('.cjs'))) {
    const text = readFileSync(join(built, name), 'latin1');
    assert.ok(text.startsWith(BUNDLE_HEAD), `${name} starts with the wrapper`);
    assert.ok(text.replace(STAMP_PATTERN, '\n').replace(/\n\/\/ kiln-bundle-of [0-9a-f]{64}\n$/, '\n').endsWith(`${BUNDLE_TAIL}\n`), `${name} ends with it, before its stamp`);
  }
  const { root, bundle, kiln } = install();
  try {
    const current = kiln('version');
    const text = readFileSync(bundle, 'latin1').replace(STAMP_PATTERN, '\n');
    const bare = text.slice(BUNDLE_HEAD.length, text.lastIndexOf(BUNDLE_TAIL));
    writeFileSync(bundle, stamped(bare), 'latin1');
    const old = kiln('version');
    assert.deepEqual([old.status, old.stdout, old.stderr], [current.status, current.stdout, current.stderr]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('bin/kiln started by sh (which gives node V8 flags) and `node bin/kiln` keep caches apart: neither rejects and rewrites the other\'s', () => {
  const { root, bundle, kiln } = install();
  try {
    const launcher = join(root, 'bin', 'kiln');
    const viaSh = (): ReturnType<typeof spawnSync> => spawnSync(launcher, ['version'], { encoding: 'utf8', env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } });
    for (let i = 0; i < 2; i++) assert.equal(viaSh().status, 0);
    for (let i = 0; i < 2; i++) assert.equal(kiln('version').status, 0);
    const flagged = `${bundle}.version.max-semi-space-size=4.cache`;
    const plain = `${bundle}.version.cache`;
    assert.match(stampOf(flagged), / 2$/);
    assert.match(stampOf(plain), / 2$/);
    const [a, b] = [readFileSync(flagged), readFileSync(plain)];
    assert.equal(viaSh().status, 0);
    assert.equal(kiln('version').status, 0);
    assert.deepEqual(readFileSync(flagged), a, 'the flagged cache is read, not written again');
    assert.deepEqual(readFileSync(plain), b, 'the plain one too');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
