import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { link, lstat, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { extract as tarExtract, type Header } from 'tar-stream';
import { Store } from '../../../../engine/store/store.js';
import { extractTar } from '../../../../engine/layer/extract.js';
import { layerTar, writeLayer } from '../../../../engine/layer/tarWriter.js';
import { hasCommand, isRoot, prerequisite } from '../../../support/env.js';

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of it) chunks.push(c);
  return Buffer.concat(chunks);
}

async function headers(tar: Buffer): Promise<Header[]> {
  const ex = tarExtract();
  const out: Header[] = [];
  const done = (async () => { for await (const e of ex) { out.push(e.header); e.resume(); } })();
  ex.end(tar);
  await done;
  return out;
}

async function tempDir(t: { after(fn: () => Promise<void>): void }, prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

async function makeTree(root: string, mtime: Date): Promise<void> {
  await mkdir(join(root, 'a', 'b'), { recursive: true });
  await writeFile(join(root, 'a', 'b', 'file'), 'content\n');
  await writeFile(join(root, 'a-b'), 'dash\n');
  await writeFile(join(root, 'Z'), 'upper\n');
  await symlink('../a-b', join(root, 'a', 'link'));
  for (const p of ['a/b/file', 'a-b', 'Z', 'a/b', 'a']) await utimes(join(root, p), mtime, mtime);
}

test('same tree gives the same bytes whatever its mtimes when SOURCE_DATE_EPOCH is set', async (t) => {
  const one = await tempDir(t, 'kiln-tar-1-');
  const two = await tempDir(t, 'kiln-tar-2-');
  await makeTree(one, new Date('2024-01-02T03:04:05Z'));
  await makeTree(two, new Date('2025-06-07T08:09:10Z'));
  const a = await collect(layerTar(one, { whiteouts: 'none', sourceDateEpoch: 1_000_000 }));
  const b = await collect(layerTar(two, { whiteouts: 'none', sourceDateEpoch: 1_000_000 }));
  assert.ok(a.equals(b), 'tars differ');
  for (const h of await headers(a)) {
    assert.equal(h.mtime.getTime(), 1_000_000_000, `${h.name} mtime not clamped`);
    assert.equal(h.uname, '');
    assert.equal(h.gname, '');
  }
  // Without the epoch, the mtimes show.
  const c = await collect(layerTar(one, { whiteouts: 'none' }));
  const d = await collect(layerTar(two, { whiteouts: 'none' }));
  assert.ok(!c.equals(d));
});

test('clamping keeps times older than SOURCE_DATE_EPOCH', async (t) => {
  const dir = await tempDir(t, 'kiln-tar-');
  await writeFile(join(dir, 'old'), 'x');
  await utimes(join(dir, 'old'), new Date(5000), new Date(5000));
  const [h] = await headers(await collect(layerTar(dir, { whiteouts: 'none', sourceDateEpoch: 10 })));
  assert.equal(h?.mtime.getTime(), 5000);
});

test('entries come depth-first with children sorted byte-wise, dirs named with a slash', async (t) => {
  const dir = await tempDir(t, 'kiln-tar-');
  await makeTree(dir, new Date(0));
  const names = (await headers(await collect(layerTar(dir, { whiteouts: 'none' })))).map((h) => h.name);
  assert.deepEqual(names, ['Z', 'a/', 'a/b/', 'a/b/file', 'a/link', 'a-b']);
});

test('a reader that hands each chunk back once it has it gets the same tar: chunks are reused only after that', async (t) => {
  const dir = await tempDir(t, 'kiln-tar-');
  await mkdir(join(dir, 'many'));
  for (let i = 0; i < 3000; i++) await writeFile(join(dir, 'many', `f${i}`), Buffer.alloc(2000, i % 251));
  // A big file's data is read into chunk memory too: bytes that differ show a chunk reused too soon.
  await writeFile(join(dir, 'big'), randomBytes(9 * 1024 * 1024 + 7));
  const plain = await collect(layerTar(dir, { whiteouts: 'none' }));
  const tar = layerTar(dir, { whiteouts: 'none' }) as AsyncIterable<Buffer> & { release(chunk: Uint8Array): void };
  const copies: Buffer[] = [];
  const memory = new Set<ArrayBufferLike>();
  let handedBack = 0;
  for await (const chunk of tar) {
    if (memory.has(chunk.buffer)) handedBack++;
    memory.add(chunk.buffer);
    copies.push(Buffer.from(chunk));
    tar.release(chunk);
  }
  assert.ok(handedBack > 0, 'chunk memory was used again');
  assert.ok(Buffer.concat(copies).equals(plain));
});

test('chunk memory handed back by the reader of one tar serves the next tars, also tars read at the same time, and never two at once', async (t) => {
  type ReleasingTar = AsyncIterable<Buffer> & { release(chunk: Uint8Array): void };
  const dirs: string[] = [];
  for (let k = 0; k < 3; k++) {
    const dir = await tempDir(t, 'kiln-tar-');
    for (let i = 0; i < 700; i++) await writeFile(join(dir, `f${i}`), Buffer.alloc(3000, (i + k * 17) % 251));
    await writeFile(join(dir, 'big'), randomBytes(3 * 1024 * 1024 + k));
    dirs.push(dir);
  }
  const plain = await Promise.all(dirs.map((d) => collect(layerTar(d, { whiteouts: 'none' }))));
  // A small tar first: its one chunk goes back to be taken by the tars after it.
  const small = await tempDir(t, 'kiln-tar-');
  await writeFile(join(small, 'one'), 'one');
  const first = layerTar(small, { whiteouts: 'none' }) as ReleasingTar;
  const memory = new Set<ArrayBufferLike>();
  for await (const chunk of first) {
    memory.add(chunk.buffer);
    first.release(chunk);
  }
  // Three tars read in turns, each reader holding its chunk a tick before handing it back.
  const inUse = new Set<ArrayBufferLike>();
  let reused = 0;
  const read = async (tar: ReleasingTar): Promise<Buffer> => {
    const copies: Buffer[] = [];
    for await (const chunk of tar) {
      assert.ok(!inUse.has(chunk.buffer), 'a chunk is handed to two readers at once');
      inUse.add(chunk.buffer);
      if (memory.has(chunk.buffer)) reused++;
      memory.add(chunk.buffer);
      await new Promise((r) => setImmediate(r));
      copies.push(Buffer.from(chunk));
      inUse.delete(chunk.buffer);
      tar.release(chunk);
    }
    return Buffer.concat(copies);
  };
  const got = await Promise.all(dirs.map((d) => read(layerTar(d, { whiteouts: 'none' }) as ReleasingTar)));
  assert.ok(reused > 0, 'chunk memory of earlier tars was used again');
  got.forEach((tar, i) => assert.ok(tar.equals(plain[i] as Buffer), `tar ${i} is the same as read alone`));
});

test('names with characters above U+FFFF sort by their UTF-8 bytes, not by JavaScript string order', async (t) => {
  const dir = await tempDir(t, 'kiln-tar-');
  // U+E000 is EE 80 80 in UTF-8, U+1F600 F0 9F 98 80; as UTF-16 the second (D83D DE00) sorts first.
  for (const name of ['x\u{1F600}', 'x\uE000', 'x~', 'x']) await writeFile(join(dir, name), name);
  const names = (await headers(await collect(layerTar(dir, { whiteouts: 'none' })))).map((h) => h.name);
  assert.deepEqual(names, ['x', 'x~', 'x\uE000', 'x\u{1F600}']);
});

test('hard links are kept: the first path carries the content, later ones link to it', async (t) => {
  const dir = await tempDir(t, 'kiln-tar-');
  await writeFile(join(dir, 'b'), 'shared');
  await link(join(dir, 'b'), join(dir, 'a'));
  await link(join(dir, 'b'), join(dir, 'c'));
  const hs = await headers(await collect(layerTar(dir, { whiteouts: 'none' })));
  assert.deepEqual(hs.map((h) => [h.name, h.type, h.linkname ?? null, h.size]), [
    ['a', 'file', null, 6],
    ['b', 'link', 'a', 0],
    ['c', 'link', 'a', 0],
  ]);
});

test('long and non-ASCII names round-trip through PAX, and GNU tar reads them', async (t) => {
  const dir = await tempDir(t, 'kiln-tar-');
  const long = 'd'.repeat(120);
  const deep = `${'x'.repeat(90)}/${'y'.repeat(90)}`;
  await mkdir(join(dir, deep), { recursive: true });
  await writeFile(join(dir, long), '1');
  await writeFile(join(dir, 'café ☕'), '2');
  await writeFile(join(dir, deep, 'z'.repeat(99)), '3');
  const tar = await collect(layerTar(dir, { whiteouts: 'none' }));
  const names = (await headers(tar)).map((h) => h.name);
  assert.ok(names.includes(long));
  assert.ok(names.includes('café ☕'));
  assert.ok(names.includes(`${deep}/${'z'.repeat(99)}`));
  if (hasCommand('tar')) {
    const listed = execFileSync('tar', ['-tf', '-'], { input: tar, encoding: 'utf8' }).split('\n');
    assert.ok(listed.includes(long) && listed.includes('café ☕') && listed.includes(`${deep}/${'z'.repeat(99)}`));
  }
});

test('modes keep setuid, setgid and sticky bits; owners are numeric', async (t) => {
  const dir = await tempDir(t, 'kiln-tar-');
  await writeFile(join(dir, 'suid'), '');
  await chmod(join(dir, 'suid'), 0o4755);
  await mkdir(join(dir, 'tmp'));
  await chmod(join(dir, 'tmp'), 0o1777);
  await writeFile(join(dir, 'none'), '');
  await chmod(join(dir, 'none'), 0o000);
  const hs = await headers(await collect(layerTar(dir, { whiteouts: 'none' })));
  const mode = (n: string): number | undefined => hs.find((h) => h.name === n)?.mode;
  assert.equal(mode('suid'), 0o4755);
  assert.equal(mode('tmp/'), 0o1777);
  assert.equal(mode('none'), 0);
});

test('overlay whiteouts become OCI whiteouts, and a snapshot turns them back', async (t) => {
  if (!prerequisite(t, isRoot && hasCommand('getfattr') && hasCommand('setfattr'), 'needs root and the attr tools (mknod, trusted.* xattrs)')) return;
  const dir = await tempDir(t, 'kiln-upper-');
  const root = await tempDir(t, 'kiln-store-');
  await mkdir(join(dir, 'opaque'));
  await writeFile(join(dir, 'opaque', 'kept'), 'k');
  execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(dir, 'opaque')]);
  execFileSync('mknod', [join(dir, 'deleted'), 'c', '0', '0']);
  const store = await Store.open({ root, unpackLayer: extractTar });
  const layer = await writeLayer(store, dir, { whiteouts: 'overlay', sourceDateEpoch: 0 });
  const hs = await headers(await readFile(store.blobPath(layer.diffId)));
  assert.deepEqual(hs.map((h) => [h.name, h.type, h.size]), [
    ['.wh.deleted', 'file', 0],
    ['opaque/', 'directory', 0],
    ['opaque/.wh..wh..opq', 'file', 0],
    ['opaque/kept', 'file', 1],
  ]);
  assert.ok(!hs.some((h) => JSON.stringify(h.pax ?? {}).includes('overlay')), 'overlay xattrs must not leak into the tar');
  const snap = await store.snapshotDir(layer.diffId);
  const st = await lstat(join(snap, 'deleted'));
  assert.ok(st.isCharacterDevice() && st.rdev === 0);
  assert.match(execFileSync('getfattr', ['-n', 'trusted.overlay.opaque', '--only-values', join(snap, 'opaque')], { encoding: 'utf8' }), /^y$/);
  assert.equal(await readFile(join(snap, 'opaque', 'kept'), 'utf8'), 'k');
  // With whiteouts 'none' the same kind of dir is taken literally (a COPY source is not an upper dir).
  const plain = await headers(await collect(layerTar(dir, { whiteouts: 'none' })));
  assert.ok(plain.some((h) => h.name === 'deleted' && h.type === 'character-device'));
});

test('file capabilities travel in the tar and come back in the snapshot; other xattrs do not', async (t) => {
  if (!prerequisite(t, isRoot && hasCommand('getfattr') && hasCommand('setfattr'), 'needs root and the attr tools')) return;
  const dir = await tempDir(t, 'kiln-caps-');
  const root = await tempDir(t, 'kiln-store-');
  await writeFile(join(dir, 'ping'), 'binary');
  // VFS_CAP_REVISION_2 with the effective flag, cap_net_raw (13) permitted.
  const cap = '0x0100000200200000000000000000000000000000';
  execFileSync('setfattr', ['-n', 'security.capability', '-v', cap, join(dir, 'ping')]);
  execFileSync('setfattr', ['-n', 'trusted.kiln-test', '-v', 'x', join(dir, 'ping')]);
  const store = await Store.open({ root, unpackLayer: extractTar });
  const layer = await writeLayer(store, dir, { whiteouts: 'none', xattrs: true });
  assert.deepEqual(layer.warnings, []);
  const [h] = await headers(await readFile(store.blobPath(layer.diffId)));
  assert.deepEqual(Object.keys((h?.pax ?? {}) as object).filter((k) => k.startsWith('SCHILY.')), ['SCHILY.xattr.security.capability']);
  const snap = await store.snapshotDir(layer.diffId);
  const dump = execFileSync('getfattr', ['-d', '-m', '-', '-e', 'hex', join(snap, 'ping')], { encoding: 'utf8' });
  assert.match(dump, new RegExp(`security\\.capability=${cap}`));
  assert.doesNotMatch(dump, /trusted\.kiln-test/);
});

test('a capability that is not valid UTF-8 is written byte for byte in a PAX record', async (t) => {
  if (!prerequisite(t, isRoot && hasCommand('getfattr') && hasCommand('setfattr'), 'needs root and the attr tools')) return;
  const dir = await tempDir(t, 'kiln-caps-');
  const name = `tool-${'é'.repeat(60)}`;
  await writeFile(join(dir, name), 'binary');
  // cap_setuid (7) permitted: the byte 0x80, which no UTF-8 text can hold on its own.
  const cap = Buffer.from('0100000280000000000000000000000000000000', 'hex');
  execFileSync('setfattr', ['-n', 'security.capability', '-v', `0x${cap.toString('hex')}`, join(dir, name)]);
  const tar = await collect(layerTar(dir, { whiteouts: 'none', xattrs: true }));
  const wanted = Buffer.concat([Buffer.from(' SCHILY.xattr.security.capability='), cap, Buffer.from('\n')]);
  assert.ok(tar.includes(wanted), 'raw capability bytes in the PAX record');
  const [h] = await headers(tar);
  assert.equal(h?.name, name, 'the PAX path names the entry');
  assert.equal(h?.size, 6);
  if (hasCommand('tar')) assert.equal(execFileSync('tar', ['-tf', '-'], { input: tar, encoding: 'utf8' }), `${name}\n`);
  const again = await collect(layerTar(dir, { whiteouts: 'none', xattrs: true }));
  assert.ok(again.equals(tar), 'still deterministic');
});
