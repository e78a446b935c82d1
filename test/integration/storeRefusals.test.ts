/**
 * Every verb driven into a filesystem that refuses: a small tmpfs filled to the brim (the store's,
 * or the one an archive is written to), a read-only mount, a path that is not there, a directory
 * an unprivileged user may not enter, an archive that is not one. Each gives one clear line (no
 * stack, no "internal error", no crash dump), the exit code of its cause (README), and leaves no
 * partial output file and nothing half-written in the store (no new blob, image, or temp file).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { isRoot, kilnBin, prerequisite } from '../support/env.js';
import { runCommand, runKiln, type Result } from '../support/kilnProcess.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../../harness/registry.js';

const NO_SPACE = 74;
const READ_ONLY = 73;
const PERMISSION = 77;
const MISSING = 66;
const BAD_ARCHIVE = 65;

const base = mkdtempSync(join(tmpdir(), 'kiln-refusals-it-'));
/** A 24 MB tmpfs holding the store under test. */
const small = join(base, 'small');
const store = join(small, 'store');
/** A 1 MB tmpfs archives are written to. */
const out = join(base, 'out');
/** A read-only view of a second store. */
const roStore = join(base, 'ro-store');
const ro = join(base, 'ro');
/** A store elsewhere, to make archives and registry content from. */
const side = join(base, 'side');
const mounted: string[] = [];
let registry: TestRegistry | undefined;

function mount(args: string[], target: string): void {
  mkdirSync(target, { recursive: true });
  const r = spawnSync('mount', [...args, target], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  mounted.unshift(target);
}

const ready = (t: import('node:test').TestContext): boolean =>
  prerequisite(t, isRoot, 'mounting test filesystems needs root') && prerequisite(t, haveBusybox, 'needs /bin/busybox (busybox-static)');

before(async () => {
  if (!isRoot || !haveBusybox) return;
  mount(['-t', 'tmpfs', '-o', 'size=24m', `kiln-test-small-${process.pid}`], small);
  mount(['-t', 'tmpfs', '-o', 'size=1m', `kiln-test-out-${process.pid}`], out);
  await commitBusyboxImage(await Store.open({ root: store }), 'kiln-test/busybox:latest');
  await commitBusyboxImage(await Store.open({ root: roStore }), 'kiln-test/busybox:latest');
  mount(['--bind', roStore], ro);
  const remount = spawnSync('mount', ['-o', 'remount,ro,bind', ro], { encoding: 'utf8' });
  assert.equal(remount.status, 0, remount.stderr);
  // An image the small store does not have, 3 MB of random bytes over busybox, as an archive.
  await commitBusyboxImage(await Store.open({ root: side }), 'kiln-test/busybox:latest');
  const ctx = join(base, 'ctx-random');
  mkdirSync(ctx, { recursive: true });
  writeFileSync(join(ctx, 'random'), spawnSync('head', ['-c', '3000000', '/dev/urandom']).stdout);
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM kiln-test/busybox\nCOPY random /random\n');
  const built = await runKiln(side, ['build', '-q', '-t', 'kiln-test/random:1', ctx]);
  assert.equal(built.code, 0, built.stderr);
  const saved = await runKiln(side, ['save', '-o', join(base, 'random.tar'), 'kiln-test/random:1']);
  assert.equal(saved.code, 0, saved.stderr);
});

after(async () => {
  await registry?.stop();
  for (const m of mounted) spawnSync('umount', ['-l', m]);
  rmSync(base, { recursive: true, force: true });
});

/** Grows a filler file in the store's tmpfs until about `bytes` are free (0: none at all). */
function leaveFree(bytes: number): void {
  const filler = join(small, 'filler');
  rmSync(filler, { force: true });
  const st = statfsSync(small);
  let toWrite = st.bavail * st.bsize - bytes;
  const chunk = Buffer.alloc(1 << 20);
  while (toWrite > 0) {
    try {
      appendFileSync(filler, toWrite >= chunk.length ? chunk : chunk.subarray(0, toWrite));
    } catch {
      break; // full
    }
    toWrite -= chunk.length;
  }
}

function unfill(): void {
  rmSync(join(small, 'filler'), { force: true });
}

/**
 * What the store holds, to show a refused command added nothing and left no temp file. (A
 * snapshot of a layer the store has is a cache, which a refused build may well have unpacked.)
 */
function contents(root: string): string {
  const list = (d: string): string[] => (existsSync(join(root, d)) ? readdirSync(join(root, d)).sort() : []);
  const blobs = list('blobs/sha256');
  const strays = list('snapshots').filter((s) => !blobs.includes(s.replace(/\.owners-flattened$/, '')));
  return JSON.stringify({ blobs, images: list('images'), strays, tmp: list('tmp') });
}

/** One clear line with the cause's exit code: no stack, no internal error, no crash dump. */
function refused(r: Result, exitCode: number, message: RegExp): void {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(r.code, exitCode, `exit ${r.code}, expected ${exitCode}:\n${r.stderr}`);
  assert.equal(lines.length, 1, `one line, not:\n${r.stderr}`);
  assert.match(lines[0] as string, message);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at |node:internal|Node\.js v/);
}

function context(name: string, dockerfile: string, files: Record<string, Buffer | string> = {}): string {
  const dir = join(base, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  for (const [p, body] of Object.entries(files)) writeFileSync(join(dir, p), body);
  return dir;
}

describe('no space left', () => {
  test('build: a COPY of a 20 MB file onto a store with 4 MB free', async (t) => {
    if (!ready(t)) return;
    const ctx = context('ctx-copy', 'FROM kiln-test/busybox\nCOPY big /big\n', { big: Buffer.alloc(20_000_000, 7) });
    leaveFree(4_000_000);
    const before = contents(store);
    try {
      const r = await runKiln(store, ['build', '-q', '-t', 'kiln-test/copy', ctx]);
      refused(r, NO_SPACE, new RegExp(`^kiln: no space left on the store's filesystem ${small} \\(store ${store}\\): a layer needed more than [\\d.]+MB; [\\d.]+k?MB of [\\d.]+MB is free$`));
      assert.equal(contents(store), before, 'nothing new in the store, no temp file left');
    } finally {
      unfill();
    }
  });

  test('build: a RUN writing 6 MB that fits, and its layer that does not', async (t) => {
    if (!ready(t)) return;
    const ctx = context('ctx-run', 'FROM kiln-test/busybox\nRUN dd if=/dev/zero of=/big bs=1M count=6 2>/dev/null\n');
    leaveFree(9_000_000);
    const before = contents(store);
    try {
      const r = await runKiln(store, ['build', '-q', '-t', 'kiln-test/run', ctx]);
      refused(r, NO_SPACE, /^kiln: no space left on the store's filesystem .*: a layer needed more than/);
      assert.equal(contents(store), before);
    } finally {
      unfill();
    }
  });

  test('save -o onto a full filesystem, and to a redirected standard output', async (t) => {
    if (!ready(t)) return;
    const target = join(out, 'busybox.tar');
    const r = await runKiln(store, ['save', '-o', target, 'kiln-test/busybox']);
    refused(r, NO_SPACE, new RegExp(`^${target}: no space left on its filesystem ${out}: the archive needed 2\\.\\d+MB; [\\d.]+k?M?B of 1\\.05MB is free$`));
    assert.deepEqual(readdirSync(out), [], 'no archive and no temp file left');
    const piped = await runCommand('sh', ['-c', `exec "${process.execPath}" "${kilnBin}" save kiln-test/busybox > "${join(out, 'piped.tar')}"`], { env: { ...process.env, KILN_ROOT: store } });
    refused(piped, NO_SPACE, new RegExp(`^${join(out, 'piped.tar')}: no space left on its filesystem ${out}: the archive needed`));
    rmSync(join(out, 'piped.tar'), { force: true });
  });

  test('load: a full store is named, the archive is not blamed', async (t) => {
    if (!ready(t)) return;
    leaveFree(1_000_000);
    const before = contents(store);
    try {
      const r = await runKiln(store, ['load', '-i', join(base, 'random.tar')]);
      refused(r, NO_SPACE, new RegExp(`^kiln: no space left on the store's filesystem ${small} \\(store ${store}\\): the images of .*random\\.tar needed [\\d.]+MB; `));
      assert.equal(contents(store), before);
    } finally {
      unfill();
    }
  });

  test('pull: a layer from a registry onto a full store', async (t) => {
    if (!ready(t) || !prerequisite(t, registryAvailable(), 'needs docker-registry, htpasswd and openssl')) return;
    registry ??= await startRegistry();
    const ref = `${registry.host}/kiln-test/random:1`;
    const tagged = await runKiln(side, ['tag', 'kiln-test/random:1', ref]);
    assert.equal(tagged.code, 0, tagged.stderr);
    const pushed = await runKiln(side, ['push', ref]);
    assert.equal(pushed.code, 0, pushed.stderr);
    leaveFree(1_000_000);
    const before = contents(store);
    try {
      const r = await runKiln(store, ['pull', '-q', ref]);
      refused(r, NO_SPACE, /^kiln: no space left on the store's filesystem .*: a layer from .* needed more than [\d.]+k?M?B/);
      assert.equal(contents(store), before);
    } finally {
      unfill();
    }
  });

  test('tag, rmi and run on a store with no room at all; prune still works there', async (t) => {
    if (!ready(t)) return;
    leaveFree(0);
    try {
      refused(await runKiln(store, ['tag', 'kiln-test/busybox', 'kiln-test/busybox:again']), NO_SPACE, /^kiln: no space left on the store's filesystem /);
      refused(await runKiln(store, ['rmi', 'kiln-test/busybox']), NO_SPACE, /^kiln: no space left on the store's filesystem /);
      refused(await runKiln(store, ['run', '--rm', 'kiln-test/busybox', 'true']), NO_SPACE, /^kiln: no space left on the store's filesystem /);
      const pruned = await runKiln(store, ['prune', '--all']);
      assert.equal(pruned.code, 0, `prune must work on a full disk:\n${pruned.stderr}`);
    } finally {
      unfill();
    }
    const images = await runKiln(store, ['images']);
    assert.match(images.stdout, /kiln-test\/busybox\s+latest/, 'the refused rmi removed nothing');
  });
});

describe('read-only filesystem', () => {
  test('every verb that writes the store says the store is read-only; reading verbs work', async (t) => {
    if (!ready(t)) return;
    const ctx = context('ctx-ro', 'FROM kiln-test/busybox\nRUN true\n');
    const says = new RegExp(`^kiln: the store's filesystem is read-only: ${ro} \\(store ${ro}\\)`);
    refused(await runKiln(ro, ['build', '-q', ctx]), READ_ONLY, says);
    refused(await runKiln(ro, ['tag', 'kiln-test/busybox', 'kiln-test/other']), READ_ONLY, says);
    refused(await runKiln(ro, ['rmi', 'kiln-test/busybox']), READ_ONLY, says);
    refused(await runKiln(ro, ['prune']), READ_ONLY, says);
    refused(await runKiln(ro, ['load', '-i', join(base, 'random.tar')]), READ_ONLY, says);
    refused(await runKiln(ro, ['run', '--rm', 'kiln-test/busybox', 'true']), READ_ONLY, says);
    const listed = await runKiln(ro, ['images']);
    assert.equal(listed.code, 0, listed.stderr);
    const saved = await runKiln(ro, ['save', '-o', join(base, 'from-ro.tar'), 'kiln-test/busybox']);
    assert.equal(saved.code, 0, `save reads a read-only store:\n${saved.stderr}`);
  });

  test('save -o and build --output into a read-only directory', async (t) => {
    if (!ready(t)) return;
    refused(await runKiln(store, ['save', '-o', join(ro, 'x.tar'), 'kiln-test/busybox']), READ_ONLY, new RegExp(`^${join(ro, 'x.tar')}: read-only filesystem ${ro}$`));
    const ctx = context('ctx-out', 'FROM kiln-test/busybox\nLABEL out=1\n');
    refused(await runKiln(store, ['build', '-q', '-o', `type=local,dest=${join(ro, 'files')}`, ctx]), READ_ONLY, new RegExp(`^${join(ro, 'files')}: read-only filesystem ${ro}$`));
    refused(await runKiln(store, ['build', '-q', '-o', `type=docker,dest=${join(ro, 'image.tar')}`, ctx]), READ_ONLY, /read-only filesystem/);
    assert.ok(!existsSync(join(ro, 'x.tar')) && !existsSync(join(ro, 'image.tar')));
  });
});

describe('missing paths, permissions, bad archives', () => {
  test('a path that is not there', async (t) => {
    if (!ready(t)) return;
    refused(await runKiln(store, ['load', '-i', join(base, 'no-such.tar')]), MISSING, /no-such\.tar: no such file or directory$/);
    refused(await runKiln(store, ['save', '-o', join(base, 'no-such-dir', 'x.tar'), 'kiln-test/busybox']), MISSING, /x\.tar: no such directory: .*no-such-dir$/);
    refused(await runKiln(store, ['build', '-q', join(base, 'no-such-context')]), MISSING, /no-such-context: build context not found/);
    refused(await runKiln(store, ['build', '-q', '-f', join(base, 'no-such-Dockerfile'), base]), MISSING, /no-such-Dockerfile: no such file or directory/);
  });

  test('a store and an output directory an unprivileged user may not enter', async (t) => {
    if (!ready(t)) return;
    spawnSync('chmod', ['0711', base]); // nobody may pass through to the dirs below, not list them
    const closed = join(base, 'closed');
    mkdirSync(join(closed, 'store'), { recursive: true, mode: 0o700 });
    const asNobody = (args: string[], root: string): Promise<Result> =>
      runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, kilnBin, ...args], { env: { ...process.env, KILN_ROOT: root }, cwd: '/' });
    refused(await asNobody(['images'], join(closed, 'store')), PERMISSION, /^kiln: permission denied in the store: /);
    const open = join(base, 'open-store');
    await commitBusyboxImage(await Store.open({ root: open }), 'kiln-test/busybox:latest');
    spawnSync('chmod', ['-R', 'a+rwX', open]);
    refused(await asNobody(['save', '-o', join(closed, 'x.tar'), 'kiln-test/busybox'], open), PERMISSION, new RegExp(`^${join(closed, 'x.tar')}: permission denied`));
  });

  test('a file that is not an image archive, and one cut short', async (t) => {
    if (!ready(t)) return;
    const before = contents(store);
    const garbage = join(base, 'garbage.tar');
    writeFileSync(garbage, 'this is not a tar archive at all, not even close\n'.repeat(20));
    refused(await runKiln(store, ['load', '-i', garbage]), BAD_ARCHIVE, /garbage\.tar: /);
    const cut = join(base, 'cut.tar');
    const whole = spawnSync('head', ['-c', '1500000', join(base, 'random.tar')]).stdout;
    writeFileSync(cut, whole);
    refused(await runKiln(store, ['load', '-i', cut]), BAD_ARCHIVE, /cut\.tar: /);
    assert.equal(contents(store), before);
  });
});
