/**
 * The layer header reader of kiln image report: names as USTAR splits them (prefix + name),
 * as PAX records carry them (long or not ASCII), link targets, sizes and owners; contents are
 * skipped; a damaged header is a clear error, not a crash.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import { layerEntries, type TarEntryHeader } from '../../../../engine/report/layerEntries.js';

async function tarFile(dir: string, add: (p: ReturnType<typeof pack>) => void): Promise<string> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((r) => { p.on('end', () => r()); });
  add(p);
  p.finalize();
  await done;
  const file = join(dir, `t${Date.now()}${Math.random()}.tar`);
  await writeFile(file, Buffer.concat(chunks));
  return file;
}

async function all(file: string): Promise<TarEntryHeader[]> {
  const out: TarEntryHeader[] = [];
  for await (const e of layerEntries(file, 'test layer')) out.push(e);
  return out;
}

test('USTAR, PAX and link entries, contents skipped', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-layer-entries-'));
  try {
    const split = `${'d'.repeat(60)}/${'e'.repeat(60)}/file`;
    const long = `${'x'.repeat(120)}/${'y'.repeat(120)}/file`;
    const file = await tarFile(dir, (p) => {
      p.entry({ name: './a/', type: 'directory', mode: 0o755 });
      p.entry({ name: './a/big', size: 3 * 1024 * 1024, mode: 0o600, uid: 1000, gid: 100 }, Buffer.alloc(3 * 1024 * 1024, 1));
      p.entry({ name: split, size: 5 }, 'hello');
      p.entry({ name: long, size: 1 }, 'x');
      p.entry({ name: 'héllo', size: 2 }, 'hi');
      p.entry({ name: 'a/sl', type: 'symlink', linkname: '../target' });
      p.entry({ name: 'a/hl', type: 'link', linkname: 'a/big' });
    });
    const entries = await all(file);
    assert.deepEqual(entries.map((e) => [e.path, e.type, e.size]), [
      ['a', 'directory', 0], ['a/big', 'file', 3 * 1024 * 1024], [split, 'file', 5], [long, 'file', 1], ['héllo', 'file', 2], ['a/sl', 'symlink', 0], ['a/hl', 'link', 0],
    ]);
    assert.deepEqual([entries[1]?.mode, entries[1]?.uid, entries[1]?.gid], [0o600, 1000, 100]);
    assert.equal(entries[5]?.linkname, '../target');
    assert.equal(entries[6]?.linkname, 'a/big');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a damaged header is a located error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-layer-entries-'));
  try {
    const file = join(dir, 'bad.tar');
    await writeFile(file, Buffer.alloc(1024, 0x41));
    await assert.rejects(all(file), /test layer: not a valid tar \(bad header checksum at byte 0\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
