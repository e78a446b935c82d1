import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SourceHasher } from '../../../../cache/contentHash.js';
import { loadHasher } from '../../../../cache/hasher.js';
import { StatCache } from '../../../../cache/statCache.js';
import { KeptReads } from '../../../../engine/context/keptReads.js';
import { SourceTree } from '../../../../engine/context/sourceTree.js';

function context(): string {
  const root = mkdtempSync(join(tmpdir(), 'kiln-kept-reads-'));
  mkdirSync(join(root, 'src', 'lib'), { recursive: true });
  writeFileSync(join(root, 'src', 'a.c'), 'int a;');
  writeFileSync(join(root, 'src', 'lib', 'b.c'), 'int b;');
  return root;
}

const names = (entries: { name: string }[]): string[] => entries.map((e) => e.name).sort();

test('a listing kept for the walk that follows is given up once taken', () => {
  const root = context();
  try {
    const listings = new KeptReads();
    const dir = join(root, 'src');
    const first = listings.list(dir, false);
    assert.deepEqual(names(first), ['a.c', 'lib']);
    writeFileSync(join(dir, 'new.c'), '');
    assert.deepEqual(names(listings.list(dir, false)), ['a.c', 'lib'], 'a second reader before the take gets the same listing');
    const taken = listings.take(dir, false);
    assert.deepEqual(names(taken), ['a.c', 'lib'], 'the take gets the kept listing, not the directory as it is now');
    assert.deepEqual(taken.map((e) => e.stats.ino), first.map((e) => e.stats.ino));
    assert.deepEqual(names(listings.take(dir, false)), ['a.c', 'lib', 'new.c'], 'once taken, the directory is listed again');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('clear forgets kept listings; a directory gone by then lists as empty only when met in a walk', () => {
  const root = context();
  try {
    const listings = new KeptReads();
    const dir = join(root, 'src', 'lib');
    listings.list(dir, true);
    rmSync(dir, { recursive: true });
    assert.deepEqual(names(listings.take(dir, true)), ['b.c'], 'kept from before the removal');
    listings.list(join(root, 'src'), true);
    listings.clear();
    assert.deepEqual(names(listings.take(join(root, 'src'), true)), ['a.c']);
    assert.deepEqual(listings.take(dir, true), []);
    assert.throws(() => listings.take(dir, false), { code: 'ENOENT' });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the copy walks the listings the content digest made: the files the key covered, stat once', async () => {
  const root = context();
  try {
    await loadHasher();
    const tree = new SourceTree(root, 'build context');
    const keep = { read: (abs: string) => tree.kept.read(abs, true), keepBytes: (abs: string, bytes: Buffer) => tree.kept.keepBytes(abs, bytes) };
    const shared = await new SourceHasher(root, StatCache.inMemory()).hash({ paths: ['src'], keep });
    const alone = await new SourceHasher(root, StatCache.inMemory()).hash({ paths: ['src'] });
    assert.equal(shared.digest, alone.digest, 'the digest does not depend on where its listings go');
    writeFileSync(join(root, 'src', 'lib', 'late.c'), 'added after the key');
    const walked = await tree.walk('src', join(root, 'src'));
    assert.deepEqual(walked.map((e) => e.rel), ['a.c', 'lib', 'lib/b.c']);
    const again = await tree.walk('src', join(root, 'src'));
    assert.deepEqual(again.map((e) => e.rel), ['a.c', 'lib', 'lib/b.c', 'lib/late.c'], 'a later walk lists the directory as it is');
    assert.deepEqual(tree.kept.takeBytes(join(root, 'src', 'a.c'), 6), Buffer.from('int a;'), 'the bytes the digest read are kept for the layer');
    assert.equal(tree.kept.takeBytes(join(root, 'src', 'a.c'), 6), undefined, 'and given up once taken');
    assert.equal(tree.kept.takeBytes(join(root, 'src', 'lib', 'b.c'), 7), undefined, 'bytes of another size than the listing says are not used');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a file that grew after it was listed is hashed whole, and its bytes are not used for the listed size', async () => {
  const root = context();
  try {
    await loadHasher();
    const tree = new SourceTree(root, 'build context');
    const grown = join(root, 'src', 'a.c');
    const kept = new Map<string, Buffer>();
    const keep = {
      read: (abs: string) => {
        const read = tree.kept.read(abs, true);
        writeFileSync(grown, 'int a; int more;');
        return read;
      },
      keepBytes: (abs: string, bytes: Buffer) => { kept.set(abs, bytes); tree.kept.keepBytes(abs, bytes); },
    };
    await new SourceHasher(root, StatCache.inMemory()).hash({ paths: ['src'], keep });
    assert.equal(kept.get(grown)?.toString(), 'int a; int more;');
    assert.equal(tree.kept.takeBytes(grown, 6), undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
