import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SourceHasher } from '../../../cache/contentHash.js';
import { digestString, loadHasher } from '../../../cache/hasher.js';
import { StatCache } from '../../../cache/statCache.js';

/** A tree whose walk order is not path order ('a.txt' sorts before 'a/…'), with a link and an empty directory. */
function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'kiln-content-hash-'));
  mkdirSync(join(root, 'src', 'a', 'deep'), { recursive: true });
  mkdirSync(join(root, 'src', 'empty'));
  writeFileSync(join(root, 'src', 'a.txt'), 'dot');
  writeFileSync(join(root, 'src', 'a', 'b'), 'slash');
  writeFileSync(join(root, 'src', 'a', 'deep', 'c'), 'deep');
  writeFileSync(join(root, 'src', 'a-b'), 'dash');
  symlinkSync('a/b', join(root, 'src', 'link'));
  return root;
}

/** The digest as the list of every `path NUL digest LF` line in path order, hashed whole. */
function wholeDigest(files: Record<string, string>): string {
  const paths = Object.keys(files).sort();
  return digestString(paths.map((p) => `${p}\0${files[p] as string}\n`).join(''));
}

test('the digest is the list of every entry digest in path order, each path once', async () => {
  const root = tree();
  try {
    await loadHasher();
    const one = await new SourceHasher(root, StatCache.inMemory()).hash({ paths: ['src'] });
    assert.deepEqual(Object.keys(one.files), ['src', 'src/a', 'src/a-b', 'src/a.txt', 'src/a/b', 'src/a/deep', 'src/a/deep/c', 'src/empty', 'src/link'].sort());
    assert.equal(one.digest, wholeDigest(one.files));
    // Overlapping selections name each path once: the same digest as the wider one alone.
    const overlapping = await new SourceHasher(root, StatCache.inMemory()).hash({ paths: ['src', 'src/a', 'src/a.txt'] });
    assert.equal(overlapping.digest, one.digest);
    assert.deepEqual(overlapping.files, one.files);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a context larger than one piece of the digested list gives the digest of the whole list', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-content-hash-'));
  try {
    await loadHasher();
    mkdirSync(join(root, 'many'));
    for (let i = 0; i < 3000; i++) writeFileSync(join(root, 'many', `file-with-a-longish-name-${i}.txt`), `${i}`);
    const d = await new SourceHasher(root, StatCache.inMemory()).hash({ paths: ['many'] });
    assert.equal(Object.keys(d.files).length, 3001);
    assert.equal(d.digest, wholeDigest(d.files));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
