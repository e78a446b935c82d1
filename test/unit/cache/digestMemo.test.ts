import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { settledBefore, SourceHasher, type SourceSelection } from '../../../cache/contentHash.js';
import type { EntryStats } from '../../../engine/host/directoryListing.js';
import { DigestMemo } from '../../../cache/digestMemo.js';
import { loadHasher } from '../../../cache/hasher.js';
import { StatCache } from '../../../cache/statCache.js';
import { outsideRacyWindow } from '../../support/racyWindow.js';

/** A context of two directories, a link and a top file, settled outside the racy window. */
async function context(): Promise<{ root: string; store: string }> {
  const base = mkdtempSync(join(tmpdir(), 'kiln-digest-memo-'));
  const root = join(base, 'ctx');
  mkdirSync(join(root, 'src', 'lib'), { recursive: true });
  writeFileSync(join(root, 'src', 'a.c'), 'int a;');
  writeFileSync(join(root, 'src', 'a.h'), 'extern int a;');
  writeFileSync(join(root, 'src', 'lib', 'b.c'), 'int b;');
  writeFileSync(join(root, 'README'), 'hi');
  await outsideRacyWindow(root);
  return { root, store: join(base, 'store') };
}

/** A hasher over `root` with the store's stat cache and memo, as one build process has them. */
function hasher(root: string, store: string): { h: SourceHasher; stat: StatCache; memo: DigestMemo; close(): void } {
  const stat = StatCache.load(join(store, 'ctx.bin'));
  const memo = DigestMemo.load(join(store, 'ctx.memo'));
  return { h: new SourceHasher(root, stat, memo), stat, memo, close: () => { stat.save(); memo.save(); } };
}

/** The digest and record of a walk with nothing remembered. */
async function fresh(root: string, selection: SourceSelection): Promise<{ digest: string; files: Record<string, string> }> {
  const d = await new SourceHasher(root, StatCache.inMemory()).hash(selection);
  return { digest: d.digest, files: d.files };
}

/** Builds `selection` once (remembering its digest), lets `change` alter the tree, and checks the next build sees it. */
async function seenAfter(change: (root: string) => void): Promise<void> {
  await loadHasher();
  const { root, store } = await context();
  try {
    const first = hasher(root, store);
    const before = await first.h.hash({ paths: ['src'] });
    first.close();
    assert.equal(first.memo.size, 1, 'a settled tree\'s digest is remembered');
    change(root);
    const next = hasher(root, store);
    const after = await next.h.hash({ paths: ['src'] });
    const expected = await fresh(root, { paths: ['src'] });
    assert.notEqual(after.digest, before.digest);
    assert.equal(after.digest, expected.digest);
    assert.deepEqual(after.files, expected.files);
  } finally {
    rmSync(join(root, '..'), { recursive: true, force: true });
  }
}

test('an unchanged tree takes the remembered digest: no file read, and the record asked for is the full walk\'s', async () => {
  await loadHasher();
  const { root, store } = await context();
  try {
    const first = hasher(root, store);
    const one = await first.h.hash({ paths: ['src', 'README'] });
    first.close();
    unlinkSync(join(store, 'ctx.bin')); // the stat cache gone: only the memo can spare the reads
    const next = hasher(root, store);
    const again = await next.h.hash({ paths: ['src', 'README'] });
    assert.equal(again.digest, one.digest);
    assert.equal(next.h.filesHashed, 0);
    assert.deepEqual(again.files, one.files);
    assert.deepEqual(again.files, (await fresh(root, { paths: ['src', 'README'] })).files);
  } finally {
    rmSync(join(root, '..'), { recursive: true, force: true });
  }
});

test('a file rewritten in place with the same size and mtime is seen (its ctime moved; its directory\'s did not)', async () => {
  await seenAfter((root) => {
    const file = join(root, 'src', 'lib', 'b.c');
    const st = statSync(file);
    const dirMtime = statSync(join(root, 'src', 'lib')).mtimeMs;
    writeFileSync(file, 'int c;');
    utimesSync(file, st.atime, st.mtime);
    assert.equal(statSync(join(root, 'src', 'lib')).mtimeMs, dirMtime);
  });
});

test('an added, a removed and a renamed file are seen, and so is a changed mode', async () => {
  await seenAfter((root) => writeFileSync(join(root, 'src', 'lib', 'new.c'), ''));
  await seenAfter((root) => unlinkSync(join(root, 'src', 'a.h')));
  await seenAfter((root) => renameSync(join(root, 'src', 'a.h'), join(root, 'src', 'z.h')));
  await seenAfter((root) => chmodSync(join(root, 'src', 'a.c'), 0o600));
  await seenAfter((root) => mkdirSync(join(root, 'src', 'lib', 'empty')));
});

test('a digest is remembered only for the same paths and the same named exclusions, and not while files are settling', async () => {
  await loadHasher();
  const { root, store } = await context();
  try {
    const h = hasher(root, store);
    const all = await h.h.hash({ paths: ['.'], exclude: () => false, excludeRules: 'none' });
    const noReadme = { paths: ['.'], exclude: (p: string) => p === 'README', excludeRules: 'README' };
    const without = await h.h.hash(noReadme);
    assert.notEqual(without.digest, all.digest);
    assert.equal((await h.h.hash(noReadme)).digest, without.digest);
    assert.equal(h.memo.size, 2);
    await h.h.hash({ paths: ['.'], exclude: (p) => p === 'src' });
    assert.equal(h.memo.size, 2, 'exclusions without a name are never remembered');
    writeFileSync(join(root, 'src', 'a.c'), 'int changed;');
    const changed = await h.h.hash({ paths: ['src'] });
    assert.equal(h.memo.size, 2, 'a file changed a moment ago may change again within its mtime\'s tick');
    assert.equal(changed.digest, (await fresh(root, { paths: ['src'] })).digest);
  } finally {
    rmSync(join(root, '..'), { recursive: true, force: true });
  }
});

test('the memo survives a save and load, forgets its oldest past its bound, and a damaged file is empty', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-digest-memo-'));
  try {
    const file = join(dir, 'm.memo');
    const m = DigestMemo.load(file);
    const hex = (i: number): string => i.toString(16).padStart(32, '0');
    for (let i = 0; i < 300; i++) m.remember(hex(i), hex(i + 1000));
    m.save();
    const again = DigestMemo.load(file);
    assert.equal(again.size, 256);
    assert.equal(again.get(hex(299)), hex(1299));
    assert.equal(again.get(hex(0)), undefined);
    writeFileSync(file, 'KDM1\nnot a line\n');
    assert.equal(DigestMemo.load(file).size, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an entry counts as settled once its clock has ticked past it: a whole-second filesystem ticks once a second', () => {
  const at = (mtimeMs: number, ctimeMs: number): Pick<EntryStats, 'mtimeMs' | 'ctimeMs'> => ({ mtimeMs, ctimeMs });
  const before = 1_700_000_000_500;
  assert.equal(settledBefore(at(1_700_000_000_400.5, 1_700_000_000_499.25), before), true);
  assert.equal(settledBefore(at(1_700_000_000_400.5, 1_700_000_000_500.25), before), false, 'its ctime is too recent');
  assert.equal(settledBefore(at(1_700_000_000_000, 1_700_000_000_000), before), false, 'whole seconds: within the same second');
  assert.equal(settledBefore(at(1_699_999_999_000, 1_699_999_999_000), before), true);
});
