import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { extractArchive, extractArchiveFile } from '../../../../engine/layer/extract.js';
import { detectCompression } from '../../../../engine/layer/compression.js';
import { KilnError } from '../../../../engine/errors/kilnError.js';
import { hasCommand, prerequisite } from '../../../support/env.js';
import { makeTar as packTar, type TarItem } from '../../../support/tarFixture.js';

/** Entries at a fixed time (1000 ms after the epoch), so the bytes are the same every run. */
function makeTar(items: TarItem[]): Promise<Buffer> {
  return packTar(items, { mtime: new Date(1000) });
}

async function* once(buf: Buffer): AsyncGenerator<Buffer> { yield buf; }

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'kiln-extract-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

test('compression is detected by content', () => {
  assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0])), 'gzip');
  assert.equal(detectCompression(Buffer.from('BZh91AY')), 'bzip2');
  assert.equal(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])), 'xz');
  assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
  assert.equal(detectCompression(Buffer.from('etc/passwd')), 'none');
});

test('plain, gzip, bzip2 and xz archives extract the same files (ADD auto-extraction)', async (t) => {
  const tar = await makeTar([{ name: 'd/', type: 'directory' }, { name: 'd/f', body: 'hello', mode: 0o640 }, { name: 'd/l', type: 'symlink', linkname: 'f' }]);
  const variants: [string, Buffer][] = [['none', tar], ['gzip', gzipSync(tar)]];
  if (hasCommand('bzip2')) variants.push(['bzip2', execFileSync('bzip2', ['-c'], { input: tar })]);
  if (hasCommand('xz')) variants.push(['xz', execFileSync('xz', ['-c'], { input: tar })]);
  if (!prerequisite(t, variants.length === 4, 'bzip2 and xz programs (Debian bzip2, xz-utils)')) return;
  for (const [kind, bytes] of variants) {
    const dest = await tempDir(t);
    const r = await extractArchive(once(bytes), dest, { whiteouts: 'keep', source: `test.${kind}` });
    assert.equal(r.compression, kind);
    assert.equal(r.entries, 3);
    assert.equal(await readFile(join(dest, 'd', 'f'), 'utf8'), 'hello');
    assert.equal((await lstat(join(dest, 'd', 'f'))).mode & 0o7777, 0o640);
    assert.equal((await lstat(join(dest, 'd', 'f'))).mtimeMs, 1000);
    assert.ok((await lstat(join(dest, 'd', 'l'))).isSymbolicLink());
  }
  const file = join(await tempDir(t), 'archive.tgz');
  await writeFile(file, gzipSync(tar));
  const dest = await tempDir(t);
  assert.deepEqual(await extractArchiveFile(file, dest, { whiteouts: 'keep' }), { entries: 3, compression: 'gzip' });
  assert.equal(await readFile(join(dest, 'd', 'f'), 'utf8'), 'hello');
});

test('whiteouts applied: .wh.NAME deletes, .wh..wh..opq empties the dir of older content only', async (t) => {
  const dest = await tempDir(t);
  await mkdir(join(dest, 'gone'));
  await writeFile(join(dest, 'gone', 'x'), '');
  await mkdir(join(dest, 'opq'));
  await writeFile(join(dest, 'opq', 'old'), '');
  await writeFile(join(dest, 'kept'), '');
  const layer = await makeTar([
    { name: '.wh.gone' },
    { name: 'opq/', type: 'directory' },
    { name: 'opq/new', body: 'n' },
    { name: 'opq/.wh..wh..opq' },
  ]);
  await extractArchive(once(layer), dest, { whiteouts: 'apply', source: 'layer' });
  assert.deepEqual((await readdir(dest)).sort(), ['kept', 'opq']);
  assert.deepEqual(await readdir(join(dest, 'opq')), ['new']);
});

test('extraction never writes through a symlink nor links outside the destination', async (t) => {
  const outside = await tempDir(t);
  const dest = await tempDir(t);
  const throughLink = await makeTar([{ name: 'esc', type: 'symlink', linkname: outside }, { name: 'esc/pwned', body: 'x' }]);
  await assert.rejects(extractArchive(once(throughLink), dest, { whiteouts: 'keep', source: 'a.tar' }), (e: unknown) => e instanceof KilnError && e.code === 'HOSTILE_ARCHIVE' && /symbolic link "esc"/.test(e.message));
  assert.ok(!existsSync(join(outside, 'pwned')));
  const dest2 = await tempDir(t);
  await symlink(outside, join(dest2, 'pre'));
  await assert.rejects(extractArchive(once(await makeTar([{ name: 'pre/pwned', body: 'x' }])), dest2, { whiteouts: 'keep', source: 'b.tar' }), /symbolic link "pre"/);
  assert.ok(!existsSync(join(outside, 'pwned')));
  const dest3 = await tempDir(t);
  await assert.rejects(extractArchive(once(await makeTar([{ name: 'h', type: 'link', linkname: '../../etc/passwd' }])), dest3, { whiteouts: 'keep', source: 'c.tar' }), /hard link points outside/);
  await assert.rejects(extractArchive(once(await makeTar([{ name: '../up', body: 'x' }])), dest3, { whiteouts: 'keep', source: 'd.tar' }), /d\.tar: refusing archive entry "\.\.\/up"/);
});

test('flattenImage applies layers in order with their whiteouts (type=local output)', async (t) => {
  const { Store } = await import('../../../../engine/store/store.js');
  const { flattenImage } = await import('../../../../engine/layer/flatten.js');
  const { emptyConfig } = await import('../../../../engine/image/config.js');
  const store = await Store.open({ root: await tempDir(t) });
  const lower = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/a', body: 'a' }, { name: 'etc/b', body: 'b' }, { name: 'var/', type: 'directory' }, { name: 'var/x', body: 'x' }]);
  const upper = await makeTar([{ name: 'etc/.wh.a' }, { name: 'etc/c', body: 'c' }, { name: 'var/', type: 'directory' }, { name: 'var/.wh..wh..opq' }, { name: 'var/y', body: 'y' }]);
  const cfg = emptyConfig();
  for (const layer of [lower, upper]) cfg.rootfs.diff_ids.push((await store.ingestBlob(once(layer))).digest);
  const dest = join(await tempDir(t), 'rootfs');
  await flattenImage(store, cfg, dest);
  assert.deepEqual((await readdir(join(dest, 'etc'))).sort(), ['b', 'c']);
  assert.deepEqual(await readdir(join(dest, 'var')), ['y']);
});
