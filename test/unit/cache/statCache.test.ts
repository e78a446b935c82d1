import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, statSync, utimesSync, readFileSync, rmSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StatCache } from '../../../cache/statCache.js';

const OLD = Date.now() - 60_000; // well outside the racy window

function fixture(): { dir: string; file: string; cacheFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-statcache-'));
  const file = join(dir, 'a.txt');
  writeFileSync(file, 'hello');
  utimesSync(file, OLD / 1000, OLD / 1000);
  return { dir, file, cacheFile: join(dir, 'cache.bin') };
}

const HASH = '0123456789abcdef0123456789abcdef';

test('a stored hash survives a save and load while the metadata is unchanged', () => {
  const { dir, file, cacheFile } = fixture();
  const c = StatCache.load(cacheFile);
  // utimes set ctime to now: say it was hashed a while later, or the entry would be racy.
  c.store('a.txt', statSync(file), HASH, Date.now() + 1000);
  c.save();
  const again = StatCache.load(cacheFile);
  assert.equal(again.size, 1);
  assert.equal(again.lookup('a.txt', statSync(file)), HASH);
  rmSync(dir, { recursive: true });
});

test('a changed size, mtime or inode invalidates the entry', () => {
  const { dir, file, cacheFile } = fixture();
  const c = StatCache.load(cacheFile);
  c.store('a.txt', statSync(file), HASH, Date.now() + 1000);
  c.save();
  utimesSync(file, OLD / 1000 + 5, OLD / 1000 + 5); // touched: mtime (and ctime) differ
  assert.equal(StatCache.load(cacheFile).lookup('a.txt', statSync(file)), undefined);

  const c2 = StatCache.load(cacheFile);
  c2.store('a.txt', statSync(file), HASH);
  writeFileSync(file, 'hello, world'); // size differs
  assert.equal(c2.lookup('a.txt', statSync(file)), undefined);

  const c3 = StatCache.inMemory();
  c3.store('a.txt', statSync(file), HASH);
  const other = join(dir, 'b.txt');
  writeFileSync(other, readFileSync(file));
  renameSync(other, file); // same size and (maybe) mtime, new inode
  assert.equal(c3.lookup('a.txt', statSync(file)), undefined);
  rmSync(dir, { recursive: true });
});

test('racy entries (mtime within a clock tick of hashing) are not persisted', () => {
  const { dir, file, cacheFile } = fixture();
  writeFileSync(file, 'fresh'); // mtime = now
  const c = StatCache.load(cacheFile);
  c.store('a.txt', statSync(file), HASH);
  assert.equal(c.lookup('a.txt', statSync(file)), HASH, 'usable within this build');
  c.save();
  assert.equal(StatCache.load(cacheFile).size, 0);
  rmSync(dir, { recursive: true });
});

test('a damaged cache file is an empty cache, not an error', () => {
  const { dir, cacheFile } = fixture();
  writeFileSync(cacheFile, Buffer.from('KSC1\u0000\u0000\u0000\u0009garbage'));
  assert.equal(StatCache.load(cacheFile).size, 0);
  writeFileSync(cacheFile, 'not a cache');
  assert.equal(StatCache.load(cacheFile).size, 0);
  rmSync(dir, { recursive: true });
});

// How fast they load is the bench's to measure (a shared machine makes a bound here a coin toss).
test('20,000 entries save and load compactly', () => {
  const { dir, file, cacheFile } = fixture();
  const st = statSync(file);
  const c = StatCache.load(cacheFile);
  for (let i = 0; i < 20_000; i++) c.store(`src/dir${i % 100}/file-${i}.txt`, st, HASH, OLD + 120_000);
  c.save();
  const bytes = statSync(cacheFile).size;
  assert.ok(bytes < 20_000 * 120, `cache file is ${bytes} bytes`);
  const loaded = StatCache.load(cacheFile);
  assert.equal(loaded.size, 20_000);
  assert.equal(loaded.lookup('src/dir7/file-7.txt', st), HASH);
  rmSync(dir, { recursive: true });
});

test('lookups in any order find their entries; a save keeps every entry once, in the order this build used them', () => {
  const { dir, file, cacheFile } = fixture();
  const st = statSync(file);
  const later = Date.now() + 1000;
  const c = StatCache.load(cacheFile);
  for (const p of ['a', 'b', 'c', 'd']) c.store(p, st, HASH.replace('0', p), later);
  c.save();
  const next = StatCache.load(cacheFile);
  // Out of the saved order (an index is built), then in it again.
  assert.equal(next.lookup('c', st), HASH.replace('0', 'c'));
  assert.equal(next.lookup('d', st), HASH.replace('0', 'd'));
  assert.equal(next.lookup('a', st), HASH.replace('0', 'a'));
  assert.equal(next.lookup('missing', st), undefined);
  // A changed entry replaces the loaded one; a new one is added.
  next.store('a', st, HASH.replace('0', 'A'), later);
  next.store('e', st, HASH.replace('0', 'e'), later);
  assert.equal(next.lookup('a', st), HASH.replace('0', 'A'));
  assert.equal(next.size, 5);
  next.save();
  const third = StatCache.load(cacheFile);
  assert.equal(third.size, 5);
  const text = readFileSync(cacheFile, 'latin1');
  const order = ['c', 'd', 'A', 'e', 'b'].map((h) => text.indexOf(HASH.replace('0', h)));
  assert.deepEqual([...order].sort((x, y) => x - y), order, 'saved in the order used, unused entries last');
  for (const [p, h] of [['a', 'A'], ['b', 'b'], ['c', 'c'], ['d', 'd'], ['e', 'e']]) assert.equal(third.lookup(p as string, st), HASH.replace('0', h as string), p);
  third.save({ onlySeen: true });
  assert.equal(StatCache.load(cacheFile).size, 5, 'all five were looked up');
  rmSync(dir, { recursive: true });
});
